from django.urls import path

from apps.notifications import views

app_name = "notifications"

# The page itself is dashboard:settings_notifications (apps/dashboard/urls.py, the navigation's name).
urlpatterns = [
    path(
        "o/<slug:org_slug>/settings/notifications/endpoints/+create/",
        views.webhook_endpoint_create_view,
        name="endpoint_create",
    ),
    path(
        "o/<slug:org_slug>/settings/notifications/endpoints/<int:endpoint_id>/toggle/",
        views.webhook_endpoint_toggle_view,
        name="endpoint_toggle",
    ),
    path(
        "o/<slug:org_slug>/settings/notifications/endpoints/<int:endpoint_id>/delete/",
        views.webhook_endpoint_delete_view,
        name="endpoint_delete",
    ),
    path(
        "o/<slug:org_slug>/alerts/<int:alert_id>/acknowledge/",
        views.budget_alert_acknowledge_view,
        name="alert_acknowledge",
    ),
]
