from django.urls import path

from apps.quotas import views

app_name = "quotas"

urlpatterns = [
    path("o/<slug:org_slug>/settings/quotas/", views.quota_settings_view, name="settings"),
    path("o/<slug:org_slug>/settings/quotas/limits/", views.organization_limits_view, name="organization_limits"),
]
