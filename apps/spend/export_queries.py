"""What a finance export holds: the spec (a grouped report of the roll-ups, or every request of a range) and
its rows, in column order, streamed.

Grouped reports read the roll-ups (apps.spend.reports), so their totals are the Billing page's; an export of
every request reads the ledger's rows (kept SPEND_RETENTION_DAYS) through a server-side cursor.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from apps.accounts.models import User
from apps.channels.models import Channel
from apps.core.money import usd_fixed
from apps.keys.models import VirtualKey
from apps.orgs.models import Organization, Team
from apps.spend.models import ROLLUP_MEASURES, SpendLog
from apps.spend.reports import (
    REPORT_DIMENSIONS,
    TEXT_DIMENSIONS,
    ReportQuery,
    report_count,
    report_rows_streamed,
    streamed,
)
from apps.spend.rollups import ledger_retained_since

# The ledger's columns in an export of every request (prompts and completions are never stored).
REQUEST_COLUMNS = (
    "request_id",
    "created_at",
    "provider_request_id",
    "team_id",
    "user_id",
    "key_id",
    "channel_id",
    "model_alias",
    "model_resolved",
    "provider",
    "feature_id",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "usage_estimated",
    "cost_micros",
    "price_version",
    "status_code",
    "error_code",
    "stream",
    "cache_hit",
    "saved_micros",
    "latency_gateway_ms",
    "latency_provider_ms",
)
LEDGER_COLUMN_OF = {"org": "organization_id", "model": "model_alias"}


@dataclass(frozen=True)
class ExportSpec:
    """What to export: a grouped report of the roll-ups, or every request of the range."""

    query: ReportQuery
    every_request: bool = False

    def as_json(self) -> dict[str, Any]:
        q = self.query
        return {
            "start": q.start.isoformat(),
            "end": q.end.isoformat(),
            "organization_id": q.organization_id,
            "bucket": q.bucket,
            "group_by": list(q.group_by),
            "filters": q.filters,
            "every_request": self.every_request,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "ExportSpec":
        query = ReportQuery(
            start=dt.date.fromisoformat(raw["start"]),
            end=dt.date.fromisoformat(raw["end"]),
            organization_id=raw["organization_id"],
            bucket=raw["bucket"],
            group_by=tuple(raw["group_by"]),
            filters=raw["filters"],
        )
        return cls(query=query, every_request=raw["every_request"])

    @property
    def columns(self) -> list[str]:
        if self.every_request:
            return [*REQUEST_COLUMNS, "cost_usd"]
        columns = ["bucket"] if self.query.bucket else []
        for name in self.query.group_by:
            columns += [name] if name in TEXT_DIMENSIONS else [f"{name}_id", f"{name}_name"]
        return [*columns, *ROLLUP_MEASURES, "cost_usd", "saved_usd"]


def _ledger_sql(spec: ExportSpec) -> tuple[str, dict[str, Any], str]:
    """The ledger rows of the range (select list, params, and the WHERE for counting them)."""
    q = spec.query
    params: dict[str, Any] = {"start": q.start_at, "end": q.end_at, "organization_id": q.organization_id}
    where = "created_at >= %(start)s AND created_at < %(end)s"
    if q.organization_id is not None:
        where += " AND organization_id = %(organization_id)s"
    for number, (name, value) in enumerate(sorted(q.filters.items())):
        column = connection.ops.quote_name(LEDGER_COLUMN_OF.get(name, REPORT_DIMENSIONS[name]))
        where += f" AND {column} = %(f{number})s"
        params[f"f{number}"] = value
    columns = ", ".join(connection.ops.quote_name(name) for name in REQUEST_COLUMNS)
    table = connection.ops.quote_name(SpendLog._meta.db_table)
    return f"SELECT {columns} FROM {table} WHERE {where} ORDER BY created_at, id", params, f"FROM {table} WHERE {where}"  # noqa: S608


def export_spec_refusal(spec: ExportSpec) -> str:
    """Why the export cannot be made as asked ("" when it can)."""
    first_whole_day = (ledger_retained_since() + dt.timedelta(days=1)).date()
    if spec.every_request and spec.query.start < first_whole_day:
        return (
            f"Request rows are kept {settings.SPEND_RETENTION_DAYS} days: export every request from "
            f"{first_whole_day:%Y-%m-%d} on, or choose a grouping (roll-ups are kept forever)."
        )
    return ""


def export_row_count(spec: ExportSpec) -> int:
    if not spec.every_request:
        return report_count(spec.query)
    _, params, source = _ledger_sql(spec)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) {source}", params)
        return int(cursor.fetchone()[0])


def _labels(organization_id: int | None) -> dict[str, dict[Any, str]]:
    """Names of the organisation's keys, teams, users and channels (small tables, read once per export)."""
    scoped: dict[str, Any] = {} if organization_id is None else {"organization_id": organization_id}
    return {
        "key": dict(VirtualKey.objects.filter(**scoped).values_list("pk", "name")),
        "team": dict(Team.objects.filter(**scoped).values_list("pk", "name")),
        "channel": dict(Channel.objects.filter(**scoped).values_list("pk", "name")),
        "user": dict(
            User.objects.filter(
                **({} if organization_id is None else {"memberships__organization_id": organization_id})
            )
            .distinct()
            .values_list("pk", "email")
        ),
        "org": dict(
            Organization.objects.filter(**({} if organization_id is None else {"pk": organization_id})).values_list(
                "pk", "name"
            )
        ),
    }


def export_rows(spec: ExportSpec) -> Iterator[list[Any]]:
    """The export's rows, values in `spec.columns` order (streamed: constant memory)."""
    if spec.every_request:
        sql, params, _ = _ledger_sql(spec)
        for row in streamed(sql, params):
            yield [*row.values(), usd_fixed(row["cost_micros"])]
        return
    labels = _labels(spec.query.organization_id)
    for row in report_rows_streamed(spec.query):
        values: list[Any] = [row["bucket"]] if spec.query.bucket else []
        for name in spec.query.group_by:
            values += [row[name]] if name in TEXT_DIMENSIONS else [row[name], labels[name].get(row[name], "")]
        values += [row[name] for name in ROLLUP_MEASURES]
        yield [*values, usd_fixed(row["cost_micros"]), usd_fixed(row["saved_micros"])]
