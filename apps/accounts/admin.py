from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from apps.accounts.models import User
from apps.keys.leavers import user_departure_apply_everywhere


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A user's memberships live in every instance's schema: deactivate (is_active) instead.
        return False

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        lost = {"is_active": not obj.is_active, "is_staff": not obj.is_staff}
        if change and any(lost[field] for field in lost if field in form.changed_data):
            # Deactivated: gone from every organisation. No longer staff: from those they were in as staff only.
            user_departure_apply_everywhere(user=obj, actor=request.user)  # type: ignore[arg-type]
