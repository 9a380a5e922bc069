from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.orgs.models import Invitation, Membership, Organization, Team


def organization_list_for_user(*, user: User) -> list[Organization]:
    return list(
        Organization.objects.filter(memberships__user=user, memberships__team__isnull=True).order_by(
            "-is_personal", "name"
        )
    )


def team_list(*, organization: Organization) -> QuerySet[Team]:
    return (
        Team.objects.filter(organization=organization)
        .annotate(member_count=Count("memberships"))
        .order_by("-is_default", "name")
    )


def organization_member_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization, team__isnull=True)
        .select_related("user")
        .order_by("user__email")
    )


def team_member_list(*, team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__email")


def invitation_list_pending(*, organization: Organization, team: Team | None = None) -> QuerySet[Invitation]:
    invitations = Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("team", "invited_by")
    if team is not None:
        invitations = invitations.filter(team=team)
    return invitations.order_by("-created_at")


def teams_with_members(*, organization: Organization) -> QuerySet[Team]:
    members = Membership.objects.select_related("user").order_by("user__email")
    return team_list(organization=organization).prefetch_related(Prefetch("memberships", queryset=members))
