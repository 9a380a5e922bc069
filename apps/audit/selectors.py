from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.core.dates import days_filter


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    target_type: str = ""
    since: date | None = None
    until: date | None = None


def audit_event_list(*, organization_id: int, filters: AuditFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(organization_id=organization_id).select_related("actor")
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.actor:
        events = events.filter(actor_email__icontains=filters.actor)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    return events.filter(**days_filter("created_at", filters.since, filters.until)).order_by("-created_at", "-id")


def audit_action_names(*, organization_id: int) -> list[str]:
    names = AuditEvent.objects.filter(organization_id=organization_id).values_list("action", flat=True)
    return sorted(set(names))
