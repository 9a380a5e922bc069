"""Writes to organisations, teams, memberships and invitations; each one audited."""

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.errors import EmailNotVerified
from apps.accounts.models import User
from apps.accounts.selectors import user_email_verified
from apps.audit.services import audit_record
from apps.channels.services import channel_default_ensure
from apps.keys.leavers import leaver_keys_apply, member_departure_apply
from apps.orgs.errors import (
    AlreadyMember,
    DefaultTeamProtected,
    InvalidRole,
    InvalidTeam,
    InvitationEmailMismatch,
    InvitationInvalid,
    InvitationPending,
    LastOrgAdmin,
    SeatsExhausted,
    TeamExists,
    TeamHasKeys,
)
from apps.orgs.models import ORGANIZATION_NAME_MAX_LENGTH, BillingMode, Invitation, Membership, Organization, Team
from apps.orgs.roles import TEAM_ROLES, Role
from apps.tenancy.selectors import instance_current_is_shared
from apps.wallet.selectors import organization_seats_used, plan_in_force

INVITATION_SESSION_KEY = "hydite_invitation_token"


def _unique_org_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, suffix = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def _membership_state(membership: Membership) -> dict[str, Any]:
    return {
        "user": membership.user.email,
        "team": membership.team.slug if membership.team else None,
        "role": membership.role,
    }


def _default_billing_mode() -> str:
    """Shared Edge organisations pay as they go; a Dedicated instance's are covered by its subscription."""
    return BillingMode.PREPAID if instance_current_is_shared() else BillingMode.INVOICE


def _organization_insert(
    *, name: str, is_personal: bool, billing_mode: str | None, actor: User
) -> tuple[Organization, Team]:
    """The organisation row, its Default team and Default Channel, audited; no member yet."""
    name = name.strip()
    if not name:
        raise InvalidTeam("An organisation needs a name.", param="name")
    mode = billing_mode or _default_billing_mode()
    fields = {
        "name": name,
        "is_personal": is_personal,
        "billing_mode": mode,
        "invoiced_since": timezone.now() if mode == BillingMode.INVOICE else None,
    }
    try:
        with transaction.atomic():
            organization = Organization.objects.create(slug=_unique_org_slug(name), **fields)
    except IntegrityError:  # a concurrent create took the slug between the check and the insert
        slug = f"{_unique_org_slug(name)[:50]}-{secrets.token_hex(3)}"
        organization = Organization.objects.create(slug=slug, **fields)
    team = Team.objects.create(organization=organization, name="Default", slug="default", is_default=True)
    channel_default_ensure(organization=organization, actor=actor)
    audit_record(
        actor=actor,
        action="organization.create",
        target=organization,
        organization_id=organization.pk,
        after={
            "name": organization.name,
            "slug": organization.slug,
            "default_team": team.slug,
            "billing_mode": organization.billing_mode,
        },
    )
    return organization, team


def _require_verified(user: User) -> None:
    """Nobody is attached to an organisation by an address they have not proved theirs (account pre-hijack)."""
    if not user_email_verified(user=user):
        raise EmailNotVerified(param="email")


@transaction.atomic
def organization_create(
    *, name: str, owner: User, is_personal: bool = False, billing_mode: str | None = None
) -> Organization:
    """An organisation with its Default team; the owner (a confirmed address) becomes org admin and leads the team.

    `billing_mode` None: prepaid on the Shared Edge, invoiced on a Dedicated instance.
    """
    _require_verified(owner)
    organization, team = _organization_insert(
        name=name, is_personal=is_personal, billing_mode=billing_mode, actor=owner
    )
    Membership.objects.create(user=owner, organization=organization, role=Role.ORG_ADMIN)
    Membership.objects.create(user=owner, organization=organization, team=team, role=Role.TEAM_LEAD)
    return organization


@transaction.atomic
def organization_create_for_invitee(
    *, name: str, admin_email: str, actor: User, accept_url_base: str, billing_mode: str | None = None
) -> tuple[Organization, Invitation]:
    """An organisation whose first org admin is whoever accepts the invitation mailed to `admin_email`.

    For an address no account has proved yet: staff (`actor`) create it and are not members.
    """
    organization, _ = _organization_insert(name=name, is_personal=False, billing_mode=billing_mode, actor=actor)
    invitation = invitation_create(
        organization=organization,
        team=None,
        email=admin_email,
        role=Role.ORG_ADMIN,
        actor=actor,
        accept_url_base=accept_url_base,
    )
    return organization, invitation


def organization_create_personal(*, owner: User) -> Organization:
    suffix = "'s organisation"
    local_part = owner.email.split("@", 1)[0][: ORGANIZATION_NAME_MAX_LENGTH - len(suffix)]
    return organization_create(name=f"{local_part}{suffix}", owner=owner, is_personal=True)


@transaction.atomic
def organization_personal_ensure(*, owner: User) -> Organization:
    """The owner's personal organisation in this instance, created on first need (their address confirmed)."""
    User.objects.select_for_update().filter(pk=owner.pk).first()  # two confirmations at once create one
    existing = Organization.objects.filter(
        is_personal=True, memberships__user=owner, memberships__team__isnull=True, memberships__role=Role.ORG_ADMIN
    ).first()
    return existing or organization_create_personal(owner=owner)


@transaction.atomic
def team_create(*, organization: Organization, name: str, actor: User) -> Team:
    name = name.strip()
    slug = slugify(name)[:60]
    if not name or not slug:
        raise InvalidTeam("A team needs a name with at least one letter or digit.", param="name")
    if Team.objects.filter(organization=organization, slug=slug).exists():
        raise TeamExists(f"A team named {name!r} exists already.", param="name")
    try:
        with transaction.atomic():
            team = Team.objects.create(organization=organization, name=name, slug=slug)
    except IntegrityError as exc:  # a concurrent create of the same name
        raise TeamExists(f"A team named {name!r} exists already.", param="name") from exc
    audit_record(
        actor=actor,
        action="team.create",
        target=team,
        organization_id=organization.pk,
        after={"name": team.name, "slug": team.slug},
    )
    return team


@transaction.atomic
def team_rename(*, team: Team, name: str, actor: User) -> Team:
    name = name.strip()
    if not name:
        raise InvalidTeam("A team needs a name.", param="name")
    before = {"name": team.name}
    team.name = name
    team.save(update_fields=["name"])
    audit_record(
        actor=actor,
        action="team.update",
        target=team,
        organization_id=team.organization_id,
        before=before,
        after={"name": team.name},
    )
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: User) -> None:
    """Delete a team with its memberships and invitations, each one audited."""
    if team.is_default:
        raise DefaultTeamProtected()
    if team.keys.exists():
        raise TeamHasKeys()
    for membership in Membership.objects.filter(team=team).select_related("user", "team"):
        audit_record(
            actor=actor,
            action="membership.delete",
            target=membership,
            organization_id=team.organization_id,
            before=_membership_state(membership),
        )
    for invitation in Invitation.objects.filter(team=team, accepted_at__isnull=True, revoked_at__isnull=True):
        audit_record(
            actor=actor,
            action="invitation.delete",
            target=invitation,
            organization_id=team.organization_id,
            before={"email": invitation.email, "role": invitation.role},
        )
    audit_record(
        actor=actor,
        action="team.delete",
        target=team,
        organization_id=team.organization_id,
        before={"name": team.name, "slug": team.slug},
    )
    team.delete()


def _require_role_for_scope(role: str, *, in_team: bool) -> None:
    allowed = TEAM_ROLES if in_team else Role.values
    if role not in allowed:
        raise InvalidRole(f"{role!r} is not a role here; choose one of {', '.join(allowed)}.", param="role")


def _org_admin_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, team__isnull=True, role=Role.ORG_ADMIN).count()


def _person_lock(user_id: int) -> None:
    """Their user row, which every change of their access takes, and minting a key for or by them, and accepting
    an invitation (apps.keys.services): one done during the change waits for it, then sees it."""
    User.objects.select_for_update().filter(pk=user_id).first()


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, actor: User) -> Membership:
    _require_role_for_scope(role, in_team=membership.team_id is not None)
    if membership.role == role:
        return membership
    # Lock the organisation's admin rows so two demotions cannot both pass the check.
    list(Membership.objects.select_for_update().filter(organization_id=membership.organization_id, team__isnull=True))
    _person_lock(membership.user_id)
    if (
        membership.team_id is None
        and membership.role == Role.ORG_ADMIN
        and _org_admin_count(membership.organization) <= 1
    ):
        raise LastOrgAdmin()
    before = _membership_state(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="membership.update",
        target=membership,
        organization_id=membership.organization_id,
        before=before,
        after=_membership_state(membership),
    )
    leaver_keys_apply(organization=membership.organization, user=membership.user, actor=actor)  # e.g. now a viewer
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    """Remove a team membership, or (team is null) the user from the whole organisation; their keys follow
    the organisation's leaver_key_action at once (apps.keys.leavers), and no invitation brings them back."""
    list(Membership.objects.select_for_update().filter(organization_id=membership.organization_id, team__isnull=True))
    _person_lock(membership.user_id)
    if (
        membership.team_id is None
        and membership.role == Role.ORG_ADMIN
        and _org_admin_count(membership.organization) <= 1
    ):
        raise LastOrgAdmin()
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
            before=_membership_state(row),
        )
        row.delete()
    if membership.team_id is None:
        member_departure_apply(organization=membership.organization, user=membership.user, actor=actor)
        _leaver_invitations_revoke(organization=membership.organization, user=membership.user, actor=actor)
    else:
        leaver_keys_apply(organization=membership.organization, user=membership.user, actor=actor)


def _leaver_invitations_revoke(*, organization: Organization, user: User, actor: User) -> None:
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


def _seat_free(organization: Organization, *, counting_invitations: bool = False) -> None:
    """A new member needs a seat of the plan in force (plans without seats: any number). The organisation row
    is locked, so two joins at once cannot both take the last seat; invitations hold seats until used."""
    plan = plan_in_force(organization=organization)
    if plan.seats is None:
        return
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    taken = organization_seats_used(organization=organization)
    if counting_invitations:
        members = Membership.objects.filter(organization=organization).annotate(email=Lower("user__email"))
        pending = Invitation.objects.filter(
            organization=organization, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).exclude(email__in=members.values("email"))  # invitation emails are stored lower-cased
        taken += pending.values("email").distinct().count()
    if taken >= plan.seats:
        raise SeatsExhausted(
            f"The {plan.name} plan has {plan.seats} seat(s), all taken: upgrade on the Plans page to add members."
        )


def _add_membership(
    *, user: User, organization: Organization, team: Team | None, role: str, actor: User
) -> list[Membership]:
    """Create (and audit) the rows that make `user` a member with `role`; returns the rows created."""
    _require_verified(user)
    created = []
    org_row = Membership.objects.filter(user=user, organization=organization, team__isnull=True).first()
    if org_row is None:
        _seat_free(organization)
        org_role = role if team is None else Role.VIEWER
        created.append(Membership.objects.create(user=user, organization=organization, role=org_role))
    if team is not None:
        if Membership.objects.filter(user=user, team=team).exists():
            raise AlreadyMember(f"{user.email} is already in {team.name}.", param="email")
        created.append(Membership.objects.create(user=user, organization=organization, team=team, role=role))
    elif org_row is not None:
        raise AlreadyMember(f"{user.email} is already in {organization.name}.", param="email")
    for membership in created:
        audit_record(
            actor=actor,
            action="membership.create",
            target=membership,
            organization_id=organization.pk,
            after=_membership_state(membership),
        )
    return created


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, organization: Organization, team: Team | None, email: str, role: str, actor: User, accept_url_base: str
) -> Invitation:
    """Invite someone by email; the mail with the one-time link leaves after commit."""
    email = email.strip().lower()
    _require_role_for_scope(role, in_team=team is not None)
    members = Membership.objects.filter(user__email__iexact=email, organization=organization)
    if team is not None and members.filter(team=team).exists():
        raise AlreadyMember(f"{email} is already in {team.name}.", param="email")
    if team is None and members.filter(team__isnull=True).exists():
        raise AlreadyMember(f"{email} is already in {organization.name}.", param="email")
    if not members.exists():
        _seat_free(organization, counting_invitations=True)
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
    accept_url = f"{accept_url_base.rstrip('/')}/{token}/"
    scope = f"the team {team.name} in {organization.name}" if team else organization.name
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {scope} on Hydite",
            message=f"{actor.email} invited you to {scope} as {Role(role).label}.\n\nAccept: {accept_url}\n",
            from_email=None,
            recipient_list=[email],
        )
    )
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
    _person_lock(user.pk)  # accepted during a removal, it waits, then finds the invitation revoked
    invitation = invitation_get_valid(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvitationInvalid()
    if invitation.email.lower() != user.email.lower():
        raise InvitationEmailMismatch()
    _add_membership(
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


def invitations_purge_expired(*, older_than_days: int = 30) -> int:
    """Delete invitations that expired long ago and were never used (rerun-safe)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = Invitation.objects.filter(accepted_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted


@transaction.atomic
def member_add(
    *, organization: Organization, team: Team | None, user: User, role: str, actor: User
) -> list[Membership]:
    """Add an existing user whose address is confirmed (seeding, admin tools); audited like an accepted invitation.

    Anyone else is invited instead: the invitation is accepted logged in with the invited, confirmed address.
    """
    _require_role_for_scope(role, in_team=team is not None)
    created = _add_membership(user=user, organization=organization, team=team, role=role, actor=actor)
    return created
