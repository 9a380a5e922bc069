from django.urls import path

from apps.channels import views

app_name = "channels"

urlpatterns = [
    path("o/<slug:org_slug>/channels/", views.channel_list_view, name="channel_list"),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/export.yaml", views.channel_export_view, name="channel_export"
    ),
    path("o/<slug:org_slug>/channels/<slug:channel_slug>/import/", views.channel_import_view, name="channel_import"),
]
