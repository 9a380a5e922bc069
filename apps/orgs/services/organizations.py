"""Organisations (with their Default team and Default Channel) and teams; each change audited."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import User
from apps.audit.services import audit_record, audited_update
from apps.channels.services import channel_default_ensure
from apps.orgs.errors import (
    DefaultTeamProtected,
    InvalidTeam,
    TeamExists,
    TeamHasKeys,
)
from apps.orgs.models import ORGANIZATION_NAME_MAX_LENGTH, BillingMode, Invitation, Membership, Organization, Team
from apps.orgs.roles import Role
from apps.orgs.services.invitations import invitation_create
from apps.orgs.services.joining import membership_state, user_verified_require
from apps.tenancy.selectors import instance_current_is_shared


def _unique_org_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, suffix = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


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


@transaction.atomic
def organization_create(
    *, name: str, owner: User, is_personal: bool = False, billing_mode: str | None = None
) -> Organization:
    """An organisation with its Default team; the owner (a confirmed address) becomes org admin and leads the team.

    `billing_mode` None: prepaid on the Shared Edge, invoiced on a Dedicated instance.
    """
    user_verified_require(owner)
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
    audited_update(
        team, changes={"name": name}, actor=actor, action="team.update", organization_id=team.organization_id
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
            before=membership_state(membership),
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
