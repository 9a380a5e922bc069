"""Invitations by email: created (the mail leaves after commit), accepted once, revoked."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.orgs.errors import AlreadyMember, InvitationEmailMismatch, InvitationInvalid, InvitationPending
from apps.orgs.models import Invitation, Membership, Organization, Team
from apps.orgs.roles import Role
from apps.orgs.services.joining import memberships_add, person_lock, role_scope_check, seat_free_require

INVITATION_SESSION_KEY = "hydite_invitation_token"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invitable_check(*, organization: Organization, team: Team | None, email: str) -> None:
    """Not a member of the scope yet, a seat for a newcomer, no invitation pending there."""
    members = Membership.objects.filter(user__email__iexact=email, organization=organization)
    if team is not None and members.filter(team=team).exists():
        raise AlreadyMember(f"{email} is already in {team.name}.", param="email")
    if team is None and members.filter(team__isnull=True).exists():
        raise AlreadyMember(f"{email} is already in {organization.name}.", param="email")
    if not members.exists():
        seat_free_require(organization, counting_invitations=True)
    pending = Invitation.objects.filter(
        organization=organization,
        team=team,
        email=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    if pending.exists():
        raise InvitationPending(f"{email} already has a pending invitation here; revoke it to send a new one.")


def _invitation_mail_on_commit(*, invitation: Invitation, token: str, actor: User, accept_url_base: str) -> None:
    organization, team = invitation.organization, invitation.team
    accept_url = f"{accept_url_base.rstrip('/')}/{token}/"
    scope = f"the team {team.name} in {organization.name}" if team else organization.name
    label = Role(invitation.role).label
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {scope} on Hydite",
            message=f"{actor.email} invited you to {scope} as {label}.\n\nAccept: {accept_url}\n",
            from_email=None,
            recipient_list=[invitation.email],
        )
    )


@transaction.atomic
def invitation_create(
    *, organization: Organization, team: Team | None, email: str, role: str, actor: User, accept_url_base: str
) -> Invitation:
    """Invite someone by email; the mail with the one-time link leaves after commit."""
    email = email.strip().lower()
    role_scope_check(role, in_team=team is not None)
    _invitable_check(organization=organization, team=team, email=email)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        team=team,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(
        actor=actor,
        action="invitation.create",
        target=invitation,
        organization_id=organization.pk,
        after={"email": email, "team": team.slug if team else None, "role": role},
    )
    _invitation_mail_on_commit(invitation=invitation, token=token, actor=actor, accept_url_base=accept_url_base)
    return invitation


def invitation_get_valid(*, token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization", "team")
        .filter(token_hash=_token_hash(token), accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.expires_at <= timezone.now():
        raise InvitationInvalid()
    return invitation


def invitation_pending_for_session(*, session: SessionBase) -> Invitation | None:
    token = session.get(INVITATION_SESSION_KEY)
    if not token:
        return None
    try:
        return invitation_get_valid(token=token)
    except InvitationInvalid:
        return None


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Invitation:
    person_lock(user.pk)  # accepted during a removal, it waits, then finds the invitation revoked
    invitation = invitation_get_valid(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvitationInvalid()
    if invitation.email.lower() != user.email.lower():
        raise InvitationEmailMismatch()
    memberships_add(
        user=user, organization=invitation.organization, team=invitation.team, role=invitation.role, actor=user
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        actor=user,
        action="invitation.accept",
        target=invitation,
        organization_id=invitation.organization_id,
    )
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    if invitation.revoked_at is not None or invitation.accepted_at is not None:
        return invitation
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="invitation.revoke",
        target=invitation,
        organization_id=invitation.organization_id,
        before={"email": invitation.email, "role": invitation.role},
    )
    return invitation


def invitations_revoke_for_leaver(*, organization: Organization, user: User, actor: User) -> None:
    """A removal sticks: pending invitations to the leaver's address, or sent by them (perhaps to an address of
    their own), are revoked."""
    pending = Invitation.objects.filter(
        Q(email=user.email.lower()) | Q(invited_by=user),
        organization=organization,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    )
    for invitation in pending.select_for_update().order_by("pk"):
        invitation_revoke(invitation=invitation, actor=actor)


def invitations_purge_expired(*, older_than_days: int = 30) -> int:
    """Delete invitations that expired long ago and were never used (rerun-safe)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = Invitation.objects.filter(accepted_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted
