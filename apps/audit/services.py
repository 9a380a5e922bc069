from collections.abc import Callable
from typing import Any

from django.db import models

from apps.accounts.models import User
from apps.audit.context import client_ip
from apps.audit.models import AuditEvent


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    organization_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event; call it inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        organization_id=organization_id,
        actor=actor,
        actor_email=actor.email if actor is not None else "",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        before=before,
        after=after,
        ip=client_ip(),
    )


def audited_update(
    target: models.Model,
    *,
    changes: dict[str, Any],
    actor: User | None,
    action: str,
    organization_id: int | None,
    state: Callable[[], dict[str, Any]] | None = None,
) -> AuditEvent:
    """Set `changes` on `target`, save those fields, and record it: before and after are `state()` (by default
    the changed fields' values). Call it inside the transaction of the change."""
    fields = list(changes)
    read = state or (lambda: {name: getattr(target, name) for name in fields})
    before = read()
    for name, value in changes.items():
        setattr(target, name, value)
    target.save(update_fields=fields)
    return audit_record(
        actor=actor, action=action, target=target, organization_id=organization_id, before=before, after=read()
    )
