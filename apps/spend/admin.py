from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.spend.models import RollupStaleDay, SpendExport, SpendLog, SpendRollup


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


@admin.register(SpendRollup)
class SpendRollupAdmin(ReadOnlyAdmin):
    list_display = ("period", "bucket", "organization_id", "key_id", "model", "requests", "cost_micros")
    list_filter = ("period", "provider")
    search_fields = ("model", "feature_id")
    date_hierarchy = "bucket"


@admin.register(SpendExport)
class SpendExportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "format", "status", "rows_expected", "rows_written")
    list_filter = ("status", "format")


@admin.register(RollupStaleDay)
class RollupStaleDayAdmin(ReadOnlyAdmin):
    list_display = ("day",)
