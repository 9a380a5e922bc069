"""Becoming a member: the rules every way in follows (a confirmed address, a role of the scope, a free seat)
and the audited membership rows."""

from typing import Any

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.errors import EmailNotVerified
from apps.accounts.models import User
from apps.accounts.selectors import user_email_verified
from apps.audit.services import audit_record
from apps.orgs.errors import (
    AlreadyMember,
    InvalidRole,
    SeatsExhausted,
)
from apps.orgs.models import Invitation, Membership, Organization, Team
from apps.orgs.roles import TEAM_ROLES, Role
from apps.wallet.selectors import organization_seats_used, plan_in_force


def membership_state(membership: Membership) -> dict[str, Any]:
    return {
        "user": membership.user.email,
        "team": membership.team.slug if membership.team else None,
        "role": membership.role,
    }


def user_verified_require(user: User) -> None:
    """Nobody is attached to an organisation by an address they have not proved theirs (account pre-hijack)."""
    if not user_email_verified(user=user):
        raise EmailNotVerified(param="email")


def role_scope_check(role: str, *, in_team: bool) -> None:
    allowed = TEAM_ROLES if in_team else Role.values
    if role not in allowed:
        raise InvalidRole(f"{role!r} is not a role here; choose one of {', '.join(allowed)}.", param="role")


def person_lock(user_id: int) -> None:
    """Their user row, which every change of their access takes, and minting a key for or by them, and accepting
    an invitation (apps.keys.services): one done during the change waits for it, then sees it."""
    User.objects.select_for_update().filter(pk=user_id).first()


def seat_free_require(organization: Organization, *, counting_invitations: bool = False) -> None:
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


def memberships_add(
    *, user: User, organization: Organization, team: Team | None, role: str, actor: User
) -> list[Membership]:
    """Create (and audit) the rows that make `user` a member with `role`; returns the rows created."""
    user_verified_require(user)
    created = []
    org_row = Membership.objects.filter(user=user, organization=organization, team__isnull=True).first()
    if org_row is None:
        seat_free_require(organization)
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
            after=membership_state(membership),
        )
    return created


@transaction.atomic
def member_add(
    *, organization: Organization, team: Team | None, user: User, role: str, actor: User
) -> list[Membership]:
    """Add an existing user whose address is confirmed (seeding, admin tools); audited like an accepted invitation.

    Anyone else is invited instead: the invitation is accepted logged in with the invited, confirmed address.
    """
    role_scope_check(role, in_team=team is not None)
    created = memberships_add(user=user, organization=organization, team=team, role=role, actor=actor)
    return created
