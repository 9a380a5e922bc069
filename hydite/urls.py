import re

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.billing.views import stripe_webhook_view
from apps.core.api import MANAGEMENT_API_PREFIXES, api_not_found
from apps.dashboard.views import healthz
from apps.keys import api as keys_api
from apps.quotas import api as quotas_api
from apps.spend.api import SpendExportApi, SpendLogListApi, SpendReportApi

handler400 = "apps.dashboard.error_pages.bad_request"
handler403 = "apps.dashboard.error_pages.permission_denied"
handler404 = "apps.dashboard.error_pages.page_not_found"
handler500 = "apps.dashboard.error_pages.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("billing/stripe/webhook", stripe_webhook_view, name="stripe_webhook"),
    path("spend/logs", SpendLogListApi.as_view(), name="spend_logs"),
    path("spend/report", SpendReportApi.as_view(), name="spend_report"),
    path("spend/exports/<int:export_id>", SpendExportApi.as_view(), name="spend_export"),
    path(
        "spend/exports/<int:export_id>/download",
        SpendExportApi.as_view(),
        {"download": True},
        name="spend_export_download",
    ),
    path("key/generate", keys_api.KeyGenerateApi.as_view(), name="key_generate"),
    path("key/list", keys_api.KeyListApi.as_view(), name="key_list"),
    path("key/info", keys_api.KeyInfoApi.as_view(), name="key_info"),
    path("key/update", keys_api.KeyUpdateApi.as_view(), name="key_update"),
    path("key/regenerate", keys_api.KeyRegenerateApi.as_view(), name="key_regenerate"),
    path("key/delete", keys_api.KeyDeleteApi.as_view(), name="key_delete"),
    path("team/update", quotas_api.TeamUpdateApi.as_view(), name="team_update"),
    path("organization/update", quotas_api.OrganizationUpdateApi.as_view(), name="organization_update"),
    re_path(rf"^(?:{'|'.join(map(re.escape, MANAGEMENT_API_PREFIXES))})", api_not_found),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.orgs.urls")),
    path("", include("apps.keys.urls")),
    path("", include("apps.channels.urls")),
    path("", include("apps.quotas.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.wallet.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.spend.urls")),
    path("", include("apps.providers.urls")),
    path("", include("apps.dashboard.urls")),
]
