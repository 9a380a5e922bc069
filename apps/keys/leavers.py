"""What happens to the keys of people who leave, applied in the transaction that makes them leave.

Leaving is any change after which a key's owner may no longer use it: removal from the organisation or
from the key's team, the viewer role there, a deactivated account, an operator no longer staff (for the
keys they minted in organisations they are not in). Each organisation chooses what happens to such
virtual keys (Organization.leaver_key_action: pause, the default; revoke; keep, as the team's
service-account keys); each change is audited and reaches the gateway when the transaction commits.
Someone else's key whose secret the leaver was shown (minted for its owner, or regenerated) is paused or
revoked as theirs would be: they still hold it. Management keys act with their creator's current role on
every request, and die with the membership: revoked on removal, and refused at authentication without one.
"""

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.audit.services import audit_record, audited_update
from apps.keys.errors import InvalidLeaverKeyAction
from apps.keys.models import KeyStatus, ManagementKey, VirtualKey
from apps.keys.selectors import teams_where_user_may_use_keys
from apps.keys.services import OWNER_LEFT, SHOWN_TO_LEAVER, key_owner_release, key_set_status
from apps.orgs.models import LeaverKeyAction, Organization
from apps.tenancy.models import Instance


@transaction.atomic
def leaver_key_action_set(*, organization: Organization, action: str, actor: User) -> Organization:
    """Choose what happens to the keys of the organisation's future leavers (keys already changed stay)."""
    if action not in LeaverKeyAction.values:
        choices = ", ".join(LeaverKeyAction.values)
        raise InvalidLeaverKeyAction(f"leaver_key_action is one of {choices}.", param="leaver_key_action")
    if organization.leaver_key_action == action:
        return organization
    audited_update(
        organization,
        changes={"leaver_key_action": action},
        actor=actor,
        action="organization.update",
        organization_id=organization.pk,
    )
    return organization


@transaction.atomic
def leaver_keys_apply(*, organization: Organization, user: User, actor: User | None) -> list[VirtualKey]:
    """Apply the organisation's leaver_key_action to the keys there that `user` owns, or was shown the secret
    of, and may no longer use.

    Call it after the change (removal, new role, deactivation), in its transaction; returns the keys changed.
    """
    teams = teams_where_user_may_use_keys(organization_id=organization.pk, user=user)
    if teams is None:
        return []
    action = Organization.objects.values_list("leaver_key_action", flat=True).get(pk=organization.pk)
    keys = (
        VirtualKey.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(Q(user=user) | Q(secret_shown_to=user), organization_id=organization.pk)
        .exclude(status=KeyStatus.REVOKED)
        .exclude(team_id__in=teams)
        .order_by("pk")
    )
    changed = [_leaver_key_apply(key, action=action, owned=key.user_id == user.pk, actor=actor) for key in keys]
    return [key for key in changed if key is not None]


def _leaver_key_apply(key: VirtualKey, *, action: str, owned: bool, actor: User | None) -> VirtualKey | None:
    """One key of a leaver (`owned`), or one whose secret they were shown: the key if it changed."""
    reason = OWNER_LEFT if owned else SHOWN_TO_LEAVER
    if action == LeaverKeyAction.KEEP:
        return key_owner_release(key=key, actor=actor) if owned else None  # someone else's stays theirs
    if action == LeaverKeyAction.REVOKE:
        return key_set_status(key=key, status=KeyStatus.REVOKED, actor=actor, reason=reason)
    if key.status == KeyStatus.ACTIVE:
        return key_set_status(key=key, status=KeyStatus.PAUSED, actor=actor, reason=reason)
    return None


@transaction.atomic
def management_keys_revoke(
    *, user: User, actor: User | None, organization: Organization | None = None, instance_wide_only: bool = False
) -> int:
    """Revoke `user`'s management keys of `organization` (None: all theirs in this instance, instance-wide
    ones included; `instance_wide_only`: those alone); each audited. Returns how many."""
    keys = ManagementKey.objects.select_for_update().filter(created_by=user, revoked_at__isnull=True)
    if organization is not None:
        keys = keys.filter(organization=organization)
    if instance_wide_only:
        keys = keys.filter(organization__isnull=True)
    revoked = 0
    for key in keys.order_by("pk"):
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="management_key.revoke",
            target=key,
            organization_id=key.organization_id,
            after={"name": key.name, "reason": OWNER_LEFT},
        )
        revoked += 1
    return revoked


def member_departure_apply(*, organization: Organization, user: User, actor: User | None) -> None:
    """`user` is no longer a member of `organization`: their keys there, per its setting; their management keys."""
    leaver_keys_apply(organization=organization, user=user, actor=actor)
    management_keys_revoke(user=user, actor=actor, organization=organization)


def _organizations_touched_by(user: User) -> QuerySet[Organization]:
    """Where `user` is a member, or owns or was shown keys (an operator, through an instance-wide key)."""
    keys = VirtualKey.objects.filter(Q(user=user) | Q(secret_shown_to=user)).values("organization_id")
    return Organization.objects.filter(Q(memberships__user=user) | Q(pk__in=keys)).distinct().order_by("pk")


def user_departure_apply_everywhere(*, user: User, actor: User | None) -> None:
    """`user` was deactivated, or is no longer staff, in every instance.

    A deactivated account leaves every organisation (memberships are kept, so reactivating restores the
    pages; their keys stay as each organisation's setting left them) and loses every management key. An
    operator no longer staff leaves the organisations they were in only as staff: the keys they minted there
    follow each one's setting, and their instance-wide management keys are revoked.
    """
    for schema in Instance.objects.order_by("pk").values_list("schema_name", flat=True):
        with schema_context(schema), transaction.atomic():
            for organization in _organizations_touched_by(user):
                leaver_keys_apply(organization=organization, user=user, actor=actor)
            if not user.is_active:
                management_keys_revoke(user=user, actor=actor)
            elif not user.is_staff:
                management_keys_revoke(user=user, actor=actor, instance_wide_only=True)
