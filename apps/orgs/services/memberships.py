"""Changing a membership: its role, or removing it; the member's keys follow at once (apps.keys.leavers)."""

from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record, audited_update
from apps.keys.leavers import leaver_keys_apply, member_departure_apply
from apps.orgs.errors import (
    LastOrgAdmin,
)
from apps.orgs.models import Membership, Organization
from apps.orgs.roles import Role
from apps.orgs.services.invitations import invitations_revoke_for_leaver
from apps.orgs.services.joining import membership_state, person_lock, role_scope_check


def _org_admin_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, team__isnull=True, role=Role.ORG_ADMIN).count()


def _last_admin_guard(membership: Membership) -> None:
    """Before a membership changes or goes: lock the organisation's admin rows (two demotions cannot both pass
    the check) and the person's row (apps.keys.services); the last org admin stays (LastOrgAdmin)."""
    list(Membership.objects.select_for_update().filter(organization_id=membership.organization_id, team__isnull=True))
    person_lock(membership.user_id)
    if (
        membership.team_id is None
        and membership.role == Role.ORG_ADMIN
        and _org_admin_count(membership.organization) <= 1
    ):
        raise LastOrgAdmin()


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, actor: User) -> Membership:
    role_scope_check(role, in_team=membership.team_id is not None)
    if membership.role == role:
        return membership
    _last_admin_guard(membership)
    audited_update(
        membership,
        changes={"role": role},
        actor=actor,
        action="membership.update",
        organization_id=membership.organization_id,
        state=lambda: membership_state(membership),
    )
    leaver_keys_apply(organization=membership.organization, user=membership.user, actor=actor)  # e.g. now a viewer
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    """Remove a team membership, or (team is null) the user from the whole organisation; their keys follow
    the organisation's leaver_key_action at once (apps.keys.leavers), and no invitation brings them back."""
    _last_admin_guard(membership)
    doomed = [membership]
    if membership.team_id is None:
        doomed += list(
            Membership.objects.filter(
                organization_id=membership.organization_id, user_id=membership.user_id, team__isnull=False
            ).select_related("user", "team")
        )
    for row in doomed:
        audit_record(
            actor=actor,
            action="membership.delete",
            target=row,
            organization_id=row.organization_id,
            before=membership_state(row),
        )
        row.delete()
    if membership.team_id is None:
        member_departure_apply(organization=membership.organization, user=membership.user, actor=actor)
        invitations_revoke_for_leaver(organization=membership.organization, user=membership.user, actor=actor)
    else:
        leaver_keys_apply(organization=membership.organization, user=membership.user, actor=actor)
