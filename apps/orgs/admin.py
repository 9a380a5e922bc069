from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
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


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Memberships change on the Teams pages, whose services check seats, confirmed addresses and the leaver
    setting."""

    list_display = ("user", "organization", "team", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "team", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    search_fields = ("email", "organization__name")
    exclude = ("token_hash",)
    readonly_fields = ("accepted_at", "accepted_by")
