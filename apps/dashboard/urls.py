from django.urls import path

from apps.dashboard import views
from apps.notifications.views import settings_notifications_view

app_name = "dashboard"

_COMING = [
    ("anomaly/", "dashboard:anomaly"),
    ("settings/sso/", "dashboard:settings_sso"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("o/<slug:org_slug>/", views.overview, name="overview"),
    path("o/<slug:org_slug>/health/", views.health, name="health"),
    path("o/<slug:org_slug>/workspaces/", views.workspaces, name="workspaces"),
    path("o/<slug:org_slug>/settings/notifications/", settings_notifications_view, name="settings_notifications"),
    *[path(f"o/<slug:org_slug>/{route}", views.coming_page(name), name=name.split(":")[1]) for route, name in _COMING],
]
