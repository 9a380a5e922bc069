from dataclasses import asdict
from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.keys.models import VirtualKey
from apps.keys.snapshots import key_snapshots_publish_on_commit
from apps.orgs.models import Organization, Team
from apps.quotas.limits import GatewayDefaults, InvalidLimit
from apps.quotas.models import QUOTA_FIELD_NAMES, GatewayDefaultsSetting
from apps.quotas.selectors import gateway_defaults_saved


@transaction.atomic
def quota_limits_update(*, holder: Team | Organization, actor: User | None, **limits: object) -> Team | Organization:
    """Set quota fields of a team or an organisation; every key under it sees them within a second."""
    unknown = set(limits) - QUOTA_FIELD_NAMES
    if unknown:
        raise InvalidLimit(f"Unknown field(s): {', '.join(sorted(unknown))}.", param=sorted(unknown)[0])
    if not limits:
        return holder
    before = {name: getattr(holder, name) for name in limits}
    for name, value in limits.items():
        setattr(holder, name, value)
    holder.save(update_fields=list(limits))
    is_team = isinstance(holder, Team)
    audit_record(
        actor=actor,
        action=f"{'team' if is_team else 'organization'}.limits_update",
        target=holder,
        organization_id=holder.organization_id if isinstance(holder, Team) else holder.pk,
        before=before,
        after=dict(limits),
    )
    keys = VirtualKey.objects.filter(team=holder) if isinstance(holder, Team) else holder.keys.all()
    key_snapshots_publish_on_commit(keys=keys)
    return holder


def _defaults_state(defaults: GatewayDefaults | None) -> dict[str, Any] | None:
    return None if defaults is None else asdict(defaults)


def _publish_instance_keys_on_commit() -> None:
    """Every key snapshot carries the instance's gateway defaults: republish them all after commit."""
    key_snapshots_publish_on_commit(keys=VirtualKey.objects.all())


@transaction.atomic
def gateway_defaults_update(*, defaults: GatewayDefaults, actor: User) -> GatewayDefaultsSetting:
    """Save the Shared Edge gateway layer's limits (0 is off); the gateway applies them within a second."""
    before = gateway_defaults_saved()
    saved = GatewayDefaults(**{name: value or None for name, value in asdict(defaults).items()})
    row, _ = GatewayDefaultsSetting.objects.update_or_create(
        pk=GatewayDefaultsSetting.SINGLETON_ID, defaults=asdict(saved)
    )
    audit_record(
        actor=actor,
        action="gateway.defaults_update",
        target=row,
        organization_id=None,  # the whole instance's
        before=_defaults_state(before),
        after=_defaults_state(saved),
    )
    _publish_instance_keys_on_commit()
    return row


@transaction.atomic
def gateway_defaults_reset(*, actor: User | None) -> None:
    """Forget the saved defaults: the environment's (GATEWAY_DEFAULT_RPM / _TPM) apply again."""
    row = GatewayDefaultsSetting.objects.select_for_update().filter(pk=GatewayDefaultsSetting.SINGLETON_ID).first()
    if row is None:
        return
    before = gateway_defaults_saved()
    audit_record(
        actor=actor,
        action="gateway.defaults_reset",
        target=row,
        organization_id=None,
        before=_defaults_state(before),
    )
    row.delete()
    _publish_instance_keys_on_commit()
