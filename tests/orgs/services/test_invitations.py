"""apps.orgs.services.invitations: sent, accepted once, expired, revoked, purged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.orgs.errors import (
    AlreadyMember,
    InvitationEmailMismatch,
    InvitationInvalid,
    InvitationPending,
)
from apps.orgs.models import Invitation, Membership
from apps.orgs.roles import Role
from apps.orgs.services import invitations
from apps.orgs.tasks import invitations_purge_expired_task


def _token_from(mail) -> str:
    return mail.body.split("/invitations/", 1)[1].split("/", 1)[0]


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
