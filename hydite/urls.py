from django.contrib import admin
from django.urls import include, path

from apps.dashboard.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.orgs.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.dashboard.urls")),
]
