"""apps.orgs.services.memberships and joining: roles of a scope, the last org admin, removals."""

import pytest

from apps.audit.models import AuditEvent
from apps.orgs.errors import (
    InvalidRole,
    LastOrgAdmin,
)
from apps.orgs.models import Membership
from apps.orgs.roles import Role
from apps.orgs.services import memberships


def test_last_org_admin_cannot_be_demoted_or_removed(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    admin_row = Membership.objects.get(organization=org, team=None, user=admin)
    with pytest.raises(LastOrgAdmin):
        memberships.membership_set_role(membership=admin_row, role=Role.VIEWER, actor=admin)
    with pytest.raises(LastOrgAdmin):
        memberships.membership_remove(membership=admin_row, actor=admin)
    lead_row = Membership.objects.get(organization=org, team=None, user=org_with_roles["users"]["team_lead"])
    memberships.membership_set_role(membership=lead_row, role=Role.ORG_ADMIN, actor=admin)
    memberships.membership_set_role(membership=admin_row, role=Role.VIEWER, actor=admin)
    assert Membership.objects.get(pk=admin_row.pk).role == Role.VIEWER


def test_team_rows_only_take_team_roles(org_with_roles):
    row = Membership.objects.get(team=org_with_roles["platform"], user=org_with_roles["users"]["viewer"])
    with pytest.raises(InvalidRole):
        memberships.membership_set_role(membership=row, role=Role.ORG_ADMIN, actor=org_with_roles["users"]["org_admin"])


def test_removing_from_org_removes_team_rows_and_audits_each(org_with_roles):
    org, admin, dev = (
        org_with_roles["organization"],
        org_with_roles["users"]["org_admin"],
        org_with_roles["users"]["developer"],
    )
    org_row = Membership.objects.get(organization=org, team=None, user=dev)
    memberships.membership_remove(membership=org_row, actor=admin)
    assert not Membership.objects.filter(organization=org, user=dev).exists()
    assert AuditEvent.objects.filter(organization=org, action="membership.delete").count() == 2
