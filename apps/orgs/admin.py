from typing import Any

from django import forms
from django.contrib import admin

from apps.accounts.errors import EmailNotVerified
from apps.accounts.selectors import user_email_verified
from apps.orgs.models import Invitation, Membership, Organization, Team


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0
    fields = ("name", "slug", "is_default")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_personal", "billing_mode", "created_at")
    search_fields = ("name", "slug")
    # How an organisation pays is set when it is created (sign-up, or Workspaces for invoiced ones).
    readonly_fields = ("billing_mode", "invoiced_since")
    inlines = [TeamInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "slug", "is_default")
    list_filter = ("is_default",)
    search_fields = ("name", "organization__name")


class MembershipAdminForm(forms.ModelForm):
    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        user = cleaned.get("user")
        if user is not None and not user_email_verified(user=user):  # invite them from the Teams page instead
            raise forms.ValidationError(EmailNotVerified.default_message)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ("user", "organization", "team", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name")
    raw_id_fields = ("user",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "team", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    search_fields = ("email", "organization__name")
    exclude = ("token_hash",)
    readonly_fields = ("accepted_at", "accepted_by")
