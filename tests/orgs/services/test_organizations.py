"""apps.orgs.services.organizations: organisations and teams."""

import pytest

from apps.audit.models import AuditEvent
from apps.keys.services import key_generate
from apps.orgs.errors import (
    DefaultTeamProtected,
    InvalidTeam,
    TeamExists,
)
from apps.orgs.models import Invitation, Membership, Team
from apps.orgs.roles import Role
from apps.orgs.services import invitations, organizations
from tests.conftest import client_for


def test_organization_create_makes_default_team_and_admin(edge, make_user):
    owner = make_user()
    org = organizations.organization_create(name="Acme Labs", owner=owner)
    assert org.slug == "acme-labs"
    default = Team.objects.get(organization=org)
    assert default.is_default and default.slug == "default"
    assert Membership.objects.get(organization=org, team=None, user=owner).role == Role.ORG_ADMIN
    assert Membership.objects.get(team=default, user=owner).role == Role.TEAM_LEAD
    assert organizations.organization_create(name="Acme Labs", owner=owner).slug == "acme-labs-2"
    event = AuditEvent.objects.get(organization=org, action="organization.create")
    assert event.actor == owner and event.after["default_team"] == "default"


def test_team_names_are_unique_per_org_and_validated(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    with pytest.raises(TeamExists):
        organizations.team_create(organization=org, name="platform", actor=admin)
    with pytest.raises(InvalidTeam):
        organizations.team_create(organization=org, name="  !!! ", actor=admin)


def test_default_team_cannot_be_deleted(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    with pytest.raises(DefaultTeamProtected):
        organizations.team_delete(team=org.teams.get(is_default=True), actor=admin)
    organizations.team_delete(team=org_with_roles["research"], actor=admin)
    assert not Team.objects.filter(pk=org_with_roles["research"].pk).exists()


def test_deleting_a_team_audits_its_members_and_invitations(org_with_roles):
    org, admin, platform = (
        org_with_roles["organization"],
        org_with_roles["users"]["org_admin"],
        org_with_roles["platform"],
    )
    invitations.invitation_create(
        organization=org,
        team=platform,
        email="pending@example.test",
        role=Role.VIEWER,
        actor=admin,
        accept_url_base="http://testserver/invitations",
    )
    members = Membership.objects.filter(team=platform).count()
    organizations.team_delete(team=platform, actor=admin)
    assert AuditEvent.objects.filter(organization=org, action="membership.delete").count() == members == 3
    assert AuditEvent.objects.filter(organization=org, action="invitation.delete").count() == 1
    assert not Invitation.objects.filter(team_id=platform.pk).exists()


def test_personal_org_name_fits_for_the_longest_emails(edge, make_user):
    owner = make_user("x" * 200 + "@example.test")
    org = organizations.organization_create_personal(owner=owner)
    assert len(org.name) <= 120 and org.name.endswith("'s organisation")


def test_a_team_whose_keys_exist_is_not_deleted_and_the_page_says_why(org_with_roles):
    """Keys keep their team for the ledger (revoked ones too): deleting it was a 500."""
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    research = org_with_roles["research"]
    key_generate(organization=org, team=research, user=admin, name="k", actor=admin)
    answer = client_for(admin).post(f"/o/{org.slug}/teams/{research.slug}/delete/", follow=True)
    assert answer.status_code == 200 and "has keys" in answer.content.decode()
    assert Team.objects.filter(pk=research.pk).exists()
