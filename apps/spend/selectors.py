from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.spend.models import SpendLog


@dataclass(frozen=True)
class SpendFilters:
    key_id: int | None = None
    team_id: int | None = None
    model: str = ""
    start: date | None = None
    end: date | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def spend_log_list(*, organization_id: int, filters: SpendFilters) -> QuerySet[SpendLog]:
    logs = SpendLog.objects.filter(organization_id=organization_id)
    if filters.key_id is not None:
        logs = logs.filter(key_id=filters.key_id)
    if filters.team_id is not None:
        logs = logs.filter(team_id=filters.team_id)
    if filters.model:
        logs = logs.filter(model_alias=filters.model)
    if filters.start:
        logs = logs.filter(created_at__gte=_day_start(filters.start))
    if filters.end:
        logs = logs.filter(created_at__lt=_day_start(filters.end + timedelta(days=1)))
    return logs.order_by("-created_at", "-id")


SPEND_SCOPE_COLUMNS = {"key": "key_id", "team": "team_id", "org": "organization_id"}


def spend_micros_since(
    *, schema: str, scope: str, scope_id: int, since: datetime, organization_id: int | None = None
) -> int:
    """Micro-USD the ledger holds for one key, team or organisation since `since` (budget counters start here)."""
    with schema_context(schema):
        rows = SpendLog.objects.filter(**{SPEND_SCOPE_COLUMNS[scope]: scope_id, "created_at__gte": since})
        if organization_id is not None:
            rows = rows.filter(organization_id=organization_id)
        return int(rows.aggregate(total=Sum("cost_micros"))["total"] or 0)
