from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.keys.services import key_generate
from apps.orgs.errors import (
    AlreadyMember,
    DefaultTeamProtected,
    InvalidRole,
    InvalidTeam,
    InvitationEmailMismatch,
    InvitationInvalid,
    InvitationPending,
    LastOrgAdmin,
    TeamExists,
)
from apps.orgs.models import Invitation, Membership, Team
from apps.orgs.roles import Role
from apps.orgs.services import invitations, memberships, organizations
from apps.orgs.tasks import invitations_purge_expired_task
from tests.conftest import client_for


def _token_from(mail) -> str:
    return mail.body.split("/invitations/", 1)[1].split("/", 1)[0]


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


def test_invitation_round_trip(org_with_roles, make_user, mailoutbox, django_capture_on_commit_callbacks):
    org, platform, admin = (
        org_with_roles["organization"],
        org_with_roles["platform"],
        org_with_roles["users"]["org_admin"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitations.invitation_create(
            organization=org,
            team=platform,
            email="New.Person@Example.test",
            role=Role.DEVELOPER,
            actor=admin,
            accept_url_base="http://testserver/invitations",
        )
    assert invitation.email == "new.person@example.test"
    assert len(mailoutbox) == 1
    token = _token_from(mailoutbox[0])
    assert invitation.token_hash != token  # only the hash is stored
    with pytest.raises(InvitationEmailMismatch):
        invitations.invitation_accept(token=token, user=make_user())
    person = make_user("new.person@example.test")
    invitations.invitation_accept(token=token, user=person)
    assert Membership.objects.get(team=platform, user=person).role == Role.DEVELOPER
    assert Membership.objects.get(organization=org, team=None, user=person).role == Role.VIEWER
    with pytest.raises(InvitationInvalid):
        invitations.invitation_accept(token=token, user=person)
    with pytest.raises(AlreadyMember):
        invitations.invitation_create(
            organization=org,
            team=platform,
            email=person.email,
            role=Role.VIEWER,
            actor=admin,
            accept_url_base="http://testserver/invitations",
        )


def test_expired_and_revoked_invitations_do_not_work(
    org_with_roles, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    tokens = []
    for email in ("late@example.test", "revoked@example.test"):
        with django_capture_on_commit_callbacks(execute=True):
            invitations.invitation_create(
                organization=org,
                team=None,
                email=email,
                role=Role.VIEWER,
                actor=admin,
                accept_url_base="http://testserver/invitations",
            )
        tokens.append(_token_from(mailoutbox[-1]))
    Invitation.objects.filter(email="late@example.test").update(expires_at=timezone.now() - timedelta(seconds=1))
    invitations.invitation_revoke(invitation=Invitation.objects.get(email="revoked@example.test"), actor=admin)
    for token, email in zip(tokens, ("late@example.test", "revoked@example.test"), strict=True):
        with pytest.raises(InvitationInvalid):
            invitations.invitation_accept(token=token, user=make_user(email))


def test_purge_task_deletes_only_long_expired_unused_invitations(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    old = timezone.now() - timedelta(days=45)
    for email, expires in (("old@example.test", old), ("fresh@example.test", timezone.now() + timedelta(days=1))):
        Invitation.objects.create(
            organization=org, email=email, role=Role.VIEWER, token_hash=email, invited_by=admin, expires_at=expires
        )
    assert invitations_purge_expired_task.apply().get() == 1
    assert list(Invitation.objects.filter(organization=org).values_list("email", flat=True)) == ["fresh@example.test"]
    assert invitations_purge_expired_task.apply().get() == 0  # rerun-safe


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


def test_one_pending_invitation_per_email_and_scope(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    kwargs = dict(
        organization=org,
        team=None,
        email="twice@example.test",
        role=Role.VIEWER,
        actor=admin,
        accept_url_base="http://testserver/invitations",
    )
    first = invitations.invitation_create(**kwargs)
    with pytest.raises(InvitationPending):
        invitations.invitation_create(**kwargs)
    invitations.invitation_revoke(invitation=first, actor=admin)
    invitations.invitation_create(**kwargs)


def test_expired_invitations_are_not_listed_as_pending(org_with_roles):
    from apps.orgs.selectors import invitation_list_pending

    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    invitation = invitations.invitation_create(
        organization=org,
        team=None,
        email="soon@example.test",
        role=Role.VIEWER,
        actor=admin,
        accept_url_base="http://testserver/invitations",
    )
    assert list(invitation_list_pending(organization=org)) == [invitation]
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert list(invitation_list_pending(organization=org)) == []


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
