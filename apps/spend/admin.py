from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.spend.models import SpendLog


@admin.register(SpendLog)
class SpendLogAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "request_id",
        "organization_id",
        "key_id",
        "model_alias",
        "status_code",
        "total_tokens",
        "cost_micros",
    )
    list_filter = ("status_code", "stream", "provider")
    search_fields = ("request_id", "model_alias")
    date_hierarchy = "created_at"
