from django.urls import path

from apps.keys import views

app_name = "keys"

urlpatterns = [
    path("o/<slug:org_slug>/keys/", views.key_list_view, name="key_list"),
    path("o/<slug:org_slug>/keys/+create/", views.key_create_view, name="key_create"),
    path("o/<slug:org_slug>/keys/<int:key_id>/", views.key_detail_view, name="key_detail"),
    path("o/<slug:org_slug>/keys/<int:key_id>/limits/", views.key_limits_view, name="key_limits"),
    *[
        path(
            f"o/<slug:org_slug>/keys/<int:key_id>/{operation}/",
            views.key_action_view(operation),
            name=f"key_{operation}",
        )
        for operation in ("pause", "resume", "revoke", "regenerate", "rename")
    ],
]
