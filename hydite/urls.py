from django.contrib import admin
from django.urls import include, path

from apps.dashboard.views import healthz
from apps.spend.views import spend_logs_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("spend/logs", spend_logs_view, name="spend_logs"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.orgs.urls")),
    path("", include("apps.keys.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.dashboard.urls")),
]
