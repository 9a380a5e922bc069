"""What happens to the keys of people who leave, applied in the transaction that makes them leave.

Leaving is any change after which a key's owner may no longer use it: removal from the organisation or
from the key's team, the viewer role there, a deactivated account. Each organisation chooses what
happens to such virtual keys (Organization.leaver_key_action: pause, the default; revoke; keep, as the
team's service-account keys); each change is audited and reaches the gateway when the transaction
commits. Management keys act with their creator's current role on every request, and die with the
membership: revoked on removal, and refused at authentication without one.
"""

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.keys.errors import InvalidLeaverKeyAction
from apps.keys.models import KeyStatus, ManagementKey, VirtualKey
from apps.keys.selectors import teams_where_user_may_use_keys
from apps.keys.services import OWNER_LEFT, key_owner_release, key_set_status
from apps.orgs.models import LeaverKeyAction, Organization
from apps.orgs.selectors import organization_list_for_user
from apps.tenancy.models import Instance


@transaction.atomic
def leaver_key_action_set(*, organization: Organization, action: str, actor: User) -> Organization:
    """Choose what happens to the keys of the organisation's future leavers (keys already changed stay)."""
    if action not in LeaverKeyAction.values:
        choices = ", ".join(LeaverKeyAction.values)
        raise InvalidLeaverKeyAction(f"leaver_key_action is one of {choices}.", param="leaver_key_action")
    if organization.leaver_key_action == action:
        return organization
    before = {"leaver_key_action": organization.leaver_key_action}
    organization.leaver_key_action = action
    organization.save(update_fields=["leaver_key_action"])
    audit_record(
        actor=actor,
        action="organization.update",
        target=organization,
        organization_id=organization.pk,
        before=before,
        after={"leaver_key_action": action},
    )
    return organization


@transaction.atomic
def leaver_keys_apply(*, organization: Organization, user: User, actor: User | None) -> list[VirtualKey]:
    """Apply the organisation's leaver_key_action to `user`'s keys there that they may no longer use.

    Call it after the change (removal, new role, deactivation), in its transaction; returns the keys changed.
    """
    teams = teams_where_user_may_use_keys(organization_id=organization.pk, user=user)
    if teams is None:
        return []
    action = Organization.objects.values_list("leaver_key_action", flat=True).get(pk=organization.pk)
    keys = (
        VirtualKey.objects.select_for_update()
        .select_related("user")
        .filter(organization_id=organization.pk, user=user)
        .exclude(status=KeyStatus.REVOKED)
        .exclude(team_id__in=teams)
        .order_by("pk")
    )
    changed = []
    for key in keys:
        if action == LeaverKeyAction.KEEP:
            changed.append(key_owner_release(key=key, actor=actor))
        elif action == LeaverKeyAction.REVOKE:
            changed.append(key_set_status(key=key, status=KeyStatus.REVOKED, actor=actor, reason=OWNER_LEFT))
        elif key.status == KeyStatus.ACTIVE:
            changed.append(key_set_status(key=key, status=KeyStatus.PAUSED, actor=actor, reason=OWNER_LEFT))
    return changed


@transaction.atomic
def management_keys_revoke(*, user: User, actor: User | None, organization: Organization | None = None) -> int:
    """Revoke `user`'s management keys of `organization` (None: all theirs in this instance, instance-wide
    ones included); each audited. Returns how many."""
    keys = ManagementKey.objects.select_for_update().filter(created_by=user, revoked_at__isnull=True)
    if organization is not None:
        keys = keys.filter(organization=organization)
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


def user_departure_apply_everywhere(*, user: User, actor: User | None) -> None:
    """A deactivated account leaves every organisation of every instance (memberships are kept, so
    reactivating restores the pages; their keys stay as each organisation's setting left them)."""
    for schema in Instance.objects.order_by("pk").values_list("schema_name", flat=True):
        with schema_context(schema), transaction.atomic():
            for organization in organization_list_for_user(user=user):
                leaver_keys_apply(organization=organization, user=user, actor=actor)
            management_keys_revoke(user=user, actor=actor)
