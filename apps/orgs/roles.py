"""Roles and what each may do: the single table every permission check reads."""

from enum import Enum

from django.db import models


class Role(models.TextChoices):
    ORG_ADMIN = "org_admin", "Org admin"
    TEAM_LEAD = "team_lead", "Team lead"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.DEVELOPER: 1, Role.TEAM_LEAD: 2, Role.ORG_ADMIN: 3}

# Roles a membership inside a team may have (org_admin is an organisation role).
TEAM_ROLES = [Role.TEAM_LEAD, Role.DEVELOPER, Role.VIEWER]


class Action(Enum):
    VIEW = "view"  # read pages of the org / team
    USE = "use"  # call models, own keys (later issues)
    MANAGE_MEMBERS = "manage_members"  # invite, change role, remove in a team
    MANAGE_ORG = "manage_org"  # teams, org roles, settings, audit log

    @property
    def minimum_role(self) -> Role:
        return _MINIMUM_ROLE[self]


_MINIMUM_ROLE = {
    Action.VIEW: Role.VIEWER,
    Action.USE: Role.DEVELOPER,
    Action.MANAGE_MEMBERS: Role.TEAM_LEAD,
    Action.MANAGE_ORG: Role.ORG_ADMIN,
}


def role_allows(role: str | None, action: Action) -> bool:
    if role is None:
        return False
    return ROLE_RANK[Role(role)] >= ROLE_RANK[action.minimum_role]


def role_max(*roles: str | None) -> str | None:
    present = [Role(role) for role in roles if role]
    return max(present, key=ROLE_RANK.__getitem__) if present else None
