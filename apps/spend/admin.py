from django.contrib import admin
from django.http import HttpRequest

from apps.spend.models import SpendLog


@admin.register(SpendLog)
class SpendLogAdmin(admin.ModelAdmin):
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

    # The ledger is written by the spend consumer only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
