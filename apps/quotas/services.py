from functools import partial

from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.keys.models import VirtualKey
from apps.keys.snapshots import key_snapshots_publish_for
from apps.orgs.models import Organization, Team
from apps.quotas.limits import InvalidLimit
from apps.quotas.models import QUOTA_FIELD_NAMES


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
    transaction.on_commit(partial(key_snapshots_publish_for, keys=list(keys.only("key_hash"))))
    return holder
