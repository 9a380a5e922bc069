from django.urls import path

from apps.quotas import views

app_name = "quotas"

urlpatterns = [
    path("o/<slug:org_slug>/settings/quotas/", views.quota_settings_view, name="settings"),
    path("o/<slug:org_slug>/settings/quotas/limits/", views.organization_limits_view, name="organization_limits"),
    path("o/<slug:org_slug>/settings/quotas/gateway/", views.gateway_defaults_view, name="gateway_defaults"),
    path(
        "o/<slug:org_slug>/settings/quotas/gateway/reset/",
        views.gateway_defaults_reset_view,
        name="gateway_defaults_reset",
    ),
]
