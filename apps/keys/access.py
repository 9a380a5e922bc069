"""Who may see and change a key: its owner (developer or above), a lead of its team, or an org admin."""

from apps.core.errors import NotFound, PermissionDenied
from apps.keys.models import VirtualKey
from apps.orgs.access import OrgAccess, access_team_by_id
from apps.orgs.models import Team
from apps.orgs.roles import Action


def access_key_by_id(*, org_access: OrgAccess, key_id: int, action: Action = Action.VIEW) -> VirtualKey:
    key = (
        VirtualKey.objects.select_related("team__organization", "channel", "user")
        .filter(organization=org_access.organization, pk=key_id)
        .first()
    )
    if key is None:
        raise NotFound("Key not found.")
    if action is not Action.VIEW and not key_change_allowed(org_access=org_access, key=key):
        raise PermissionDenied("Only the key's owner, a lead of its team or an org admin may change it.")
    return key


def key_change_allowed(*, org_access: OrgAccess, key: VirtualKey) -> bool:
    """The key's owner (developer or above in its team), a lead of its team, or an org admin."""
    team_access = access_team_by_id(org_access=org_access, team_id=key.team_id, action=Action.VIEW)
    owner_may = key.user_id == org_access.user.pk and team_access.can(Action.USE)
    return owner_may or team_access.can(Action.MANAGE_MEMBERS)


def teams_where_user_may_mint(*, org_access: OrgAccess) -> list[Team]:
    teams = Team.objects.filter(organization=org_access.organization).order_by("-is_default", "name")
    return [
        team
        for team in teams
        if access_team_by_id(org_access=org_access, team_id=team.pk, action=Action.VIEW).can(Action.USE)
    ]
