from django.contrib import admin
from django.http import HttpRequest

from apps.tenancy.models import Domain, Instance, KeyRoute


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("name", "schema_name", "kind", "tier", "status", "created_at")
    list_filter = ("kind", "tier", "status")
    search_fields = ("name", "schema_name")
    readonly_fields = ("schema_name", "created_at")
    inlines = [DomainInline]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting an instance drops a schema of customer data: not a click in admin.
        return False


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")
    search_fields = ("domain",)


@admin.register(KeyRoute)
class KeyRouteAdmin(admin.ModelAdmin):
    list_display = ("key_hash", "schema_name")
    search_fields = ("schema_name",)

    # Written by the key services only: the gateway's index must match the keys.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
