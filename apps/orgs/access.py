"""The permission layer: every view reaches an organisation or team through here.

A user who is not a member gets NotFound (the object's existence is not
revealed); a member whose role is too low gets PermissionDenied.
"""

from dataclasses import dataclass

from apps.accounts.models import User
from apps.channels.models import Channel
from apps.core.errors import NotFound, PermissionDenied
from apps.orgs.models import Invitation, Membership, Organization, Team
from apps.orgs.roles import Action, role_allows, role_max


@dataclass(frozen=True)
class OrgAccess:
    user: User
    organization: Organization
    role: str  # the user's organisation role

    def can(self, action: Action) -> bool:
        return role_allows(self.role, action)


@dataclass(frozen=True)
class TeamAccess:
    team: Team
    org_access: OrgAccess
    role: str  # the effective role in this team

    def can(self, action: Action) -> bool:
        return role_allows(self.role, action)


def _require(role: str | None, action: Action) -> None:
    if not role_allows(role, action):
        raise PermissionDenied(f"Your role does not allow this ({action.value} needs {action.minimum_role.label}).")


def access_organization_by_slug(*, user: User, slug: str, action: Action = Action.VIEW) -> OrgAccess:
    if not user.is_authenticated:
        raise NotFound("Organisation not found.")
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization__slug=slug, team__isnull=True)
        .first()
    )
    if membership is None:
        raise NotFound("Organisation not found.")
    _require(membership.role, action)
    return OrgAccess(user=user, organization=membership.organization, role=membership.role)


def _team_access(org_access: OrgAccess, team: Team | None, action: Action) -> TeamAccess:
    if team is None:
        raise NotFound("Team not found.")
    team_role = Membership.objects.filter(team=team, user=org_access.user).values_list("role", flat=True).first()
    role = role_max(org_access.role, team_role) or org_access.role
    _require(role, action)
    return TeamAccess(team=team, org_access=org_access, role=role)


def access_team_by_slug(*, org_access: OrgAccess, slug: str, action: Action = Action.VIEW) -> TeamAccess:
    team = Team.objects.filter(organization=org_access.organization, slug=slug).first()
    return _team_access(org_access, team, action)


def access_team_by_id(*, org_access: OrgAccess, team_id: int, action: Action = Action.VIEW) -> TeamAccess:
    team = Team.objects.filter(organization=org_access.organization, pk=team_id).first()
    return _team_access(org_access, team, action)


def access_default_team(*, org_access: OrgAccess, action: Action = Action.VIEW) -> TeamAccess:
    """The organisation's default team (where a key goes when no team is named)."""
    team = Team.objects.filter(organization=org_access.organization, is_default=True).first()
    return _team_access(org_access, team, action)


def access_channel_by_id(*, org_access: OrgAccess, channel_id: int, action: Action = Action.VIEW) -> Channel:
    """A channel of this organisation; changing it (any action beyond VIEW) needs that organisation role."""
    channel = Channel.objects.filter(organization=org_access.organization, pk=channel_id).first()
    if channel is None:
        raise NotFound("Channel not found.")
    _require(org_access.role, action)
    return channel


def _manage_members_require(org_access: OrgAccess, team: Team | None) -> None:
    """Managing who is in the organisation needs an org admin; in a team, a lead of it (or an org admin)."""
    if team is None:
        _require(org_access.role, Action.MANAGE_ORG)
    else:
        _team_access(org_access, team, Action.MANAGE_MEMBERS)


def access_membership_by_id(*, org_access: OrgAccess, membership_id: int) -> Membership:
    """A membership row of this organisation; managing it needs the right role in its scope."""
    membership = (
        Membership.objects.select_related("user", "team", "organization")
        .filter(organization=org_access.organization, pk=membership_id)
        .first()
    )
    if membership is None:
        raise NotFound("Member not found.")
    _manage_members_require(org_access, membership.team)
    return membership


def access_invitation_by_id(*, org_access: OrgAccess, invitation_id: int) -> Invitation:
    invitation = (
        Invitation.objects.select_related("team").filter(organization=org_access.organization, pk=invitation_id).first()
    )
    if invitation is None:
        raise NotFound("Invitation not found.")
    _manage_members_require(org_access, invitation.team)
    return invitation
