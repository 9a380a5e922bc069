from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Max, Q, QuerySet, Sum
from django_tenants.utils import schema_context

from apps.core.dates import days_filter
from apps.gateway.errors import UpstreamUsageInvalid
from apps.spend.models import SpendLog


@dataclass(frozen=True)
class SpendFilters:
    key_id: int | None = None
    team_id: int | None = None
    model: str = ""
    start: date | None = None
    end: date | None = None


def spend_log_list(*, organization_id: int, filters: SpendFilters) -> QuerySet[SpendLog]:
    logs = SpendLog.objects.filter(organization_id=organization_id)
    if filters.key_id is not None:
        logs = logs.filter(key_id=filters.key_id)
    if filters.team_id is not None:
        logs = logs.filter(team_id=filters.team_id)
    if filters.model:
        logs = logs.filter(model_alias=filters.model)
    return logs.filter(**days_filter("created_at", filters.start, filters.end)).order_by("-created_at", "-id")


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


def spend_micros_since_by_holder(
    *,
    schema: str,
    scope: str,
    since_by_id: Mapping[int, datetime],
    organization_ids: Collection[int] = (),
    until: datetime | None = None,
) -> dict[int, int]:
    """spend_micros_since for many keys, teams or organisations, each from its own `since`, in one query.

    `organization_ids` narrows the scan to those organisations' rows (teams have no index of their own);
    `until` leaves out requests made from then on.
    """
    if not since_by_id:
        return {}
    column = SPEND_SCOPE_COLUMNS[scope]
    starts = sorted(set(since_by_id.values()))
    sums = {f"since_{n}": Sum("cost_micros", filter=Q(created_at__gte=start)) for n, start in enumerate(starts)}
    with schema_context(schema):
        rows = SpendLog.objects.filter(**{f"{column}__in": list(since_by_id), "created_at__gte": starts[0]})
        if until is not None:
            rows = rows.filter(created_at__lt=until)
        if organization_ids:
            rows = rows.filter(organization_id__in=list(organization_ids))
        totals = {row[column]: row for row in rows.values(column).annotate(**sums)}
    return {
        holder_id: int(totals.get(holder_id, {}).get(f"since_{starts.index(since)}") or 0)
        for holder_id, since in since_by_id.items()
    }


@dataclass(frozen=True)
class ImpossibleUsageReport:
    provider: str
    model_resolved: str
    requests: int
    last_at: datetime


def impossible_usage_recent(*, since: datetime) -> list[ImpossibleUsageReport]:
    """Upstreams that reported impossible usage since `since` (billed at their reservations): for operators."""
    rows = (
        SpendLog.objects.filter(created_at__gte=since, error_code=UpstreamUsageInvalid.code)
        .values("provider", "model_resolved")
        .annotate(requests=Count("id"), last_at=Max("created_at"))
        .order_by("-requests")[:50]
    )
    return [ImpossibleUsageReport(**row) for row in rows]
