from django.contrib import admin
from django.http import HttpRequest

from apps.keys.models import ManagementKey, VirtualKey


@admin.register(VirtualKey)
class VirtualKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "display", "organization", "team", "user", "channel", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "key_prefix", "user__email")
    exclude = ("key_hash",)
    readonly_fields = ("key_prefix", "key_suffix", "created_at", "regenerated_at", "revoked_at")

    # Keys change through the dashboard and API, whose services publish to the gateway.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a deleted row would leave its snapshot, and /v1 accepting the key: revoke instead


@admin.register(ManagementKey)
class ManagementKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "key_prefix", "organization", "created_by", "created_at", "revoked_at")
    exclude = ("key_hash",)
    readonly_fields = ("key_prefix", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
