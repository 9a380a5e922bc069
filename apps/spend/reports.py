"""Spend reports read from the roll-ups (never from the ledger's rows): what the Billing pages, the exports,
`GET /spend/report` and `manage.py spend_report` show, so that their totals agree.

A range is whole UTC days. Each part of it is read from the coarsest buckets that are up to date, in one
statement (one snapshot): month buckets for whole months with no stale day, day buckets for the other
days that are not stale, hour buckets for stale days (those whose newest rows the roll-up beat has not
folded into their day yet). Hour buckets are always exact, so a report is as fresh as the ledger.
"""

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from apps.spend.models import ROLLUP_MEASURES, RollupPeriod, RollupStaleDay, SpendRollup
from apps.wallet.periods import add_month, month_bounds

# What a report may be grouped and filtered by, and the roll-up column behind each name.
REPORT_DIMENSIONS = {
    "org": "organization_id",
    "team": "team_id",
    "user": "user_id",
    "key": "key_id",
    "channel": "channel_id",
    "model": "model",
    "provider": "provider",
    "feature": "feature_id",
}
TEXT_DIMENSIONS = frozenset({"model", "provider", "feature"})
BUCKETS = (RollupPeriod.HOUR, RollupPeriod.DAY, RollupPeriod.MONTH)
MAX_HOUR_BUCKET_DAYS = 31  # an hourly chart of a longer range has more points than a page can show


@dataclass(frozen=True)
class ReportQuery:
    start: dt.date  # first day, UTC
    end: dt.date  # last day, included
    organization_id: int | None = None  # None: the whole instance (operators)
    bucket: str = ""  # "", hour, day or month: rows per time bucket, or over the whole range
    group_by: Sequence[str] = ()
    filters: dict[str, int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [name for name in (*self.group_by, *self.filters) if name not in REPORT_DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimension {unknown[0]!r}; choose from {', '.join(REPORT_DIMENSIONS)}")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("name each dimension of group_by once")
        if self.bucket and self.bucket not in BUCKETS:
            raise ValueError("bucket is hour, day or month")
        if self.end < self.start:
            raise ValueError("end is on or after start")
        if self.bucket == RollupPeriod.HOUR and (self.end - self.start).days >= MAX_HOUR_BUCKET_DAYS:
            raise ValueError(f"hour buckets cover at most {MAX_HOUR_BUCKET_DAYS} days")

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time.min, tzinfo=dt.UTC)

    @property
    def end_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _whole_months(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The months wholly inside [start, end), as [first, after); empty when first >= after."""
    first = start if month_bounds(start)[0] == start else add_month(month_bounds(start)[0])
    after = month_bounds(end)[0]
    return first, max(first, after)


def _where(query: ReportQuery, params: dict[str, Any]) -> str:
    clauses = []
    if query.organization_id is not None:
        clauses.append("r.organization_id = %(organization_id)s")
        params["organization_id"] = query.organization_id
    for number, (name, value) in enumerate(sorted(query.filters.items())):
        column = REPORT_DIMENSIONS[name]
        if value in ("", None) and name not in TEXT_DIMENSIONS:
            clauses.append(f"r.{_q(column)} IS NULL")
        else:
            clauses.append(f"r.{_q(column)} = %(filter_{number})s")
            params[f"filter_{number}"] = value
    return "".join(f" AND {clause}" for clause in clauses)


def _source_sql(query: ReportQuery, params: dict[str, Any]) -> str:
    """The roll-up rows that together cover the range exactly once (see the module's docstring)."""
    rollup, stale = _q(SpendRollup._meta.db_table), _q(RollupStaleDay._meta.db_table)
    where = _where(query, params)
    params.update(start=query.start_at, end=query.end_at)
    day_of = "(r.bucket AT TIME ZONE 'UTC')::date"
    if query.bucket == RollupPeriod.HOUR:
        return (
            f"SELECT * FROM {rollup} r WHERE r.period = 'hour' AND r.bucket >= %(start)s AND r.bucket < %(end)s{where}"  # noqa: S608
        )
    months_from, months_to = _whole_months(query.start_at, query.end_at)
    if query.bucket == RollupPeriod.DAY:  # a month bucket cannot be split into its days
        months_from = months_to = query.start_at
    params.update(months_from=months_from, months_to=months_to, first_day=query.start, after_day=query.end_at.date())
    month_of = "date_trunc('month', r.bucket, 'UTC')"
    month_is_clean = (
        f"NOT EXISTS (SELECT 1 FROM {stale} s WHERE s.day >= ({month_of} AT TIME ZONE 'UTC')::date "  # noqa: S608
        f"AND s.day < (({month_of} + interval '1 month') AT TIME ZONE 'UTC')::date)"
    )
    in_whole_months = "r.bucket >= %(months_from)s AND r.bucket < %(months_to)s"
    return (
        f"SELECT * FROM {rollup} r WHERE r.period = 'month' AND {in_whole_months} AND {month_is_clean}{where} "  # noqa: S608
        f"UNION ALL SELECT * FROM {rollup} r WHERE r.period = 'day' AND r.bucket >= %(start)s AND r.bucket < %(end)s"
        f" AND NOT ({in_whole_months} AND {month_is_clean})"
        f" AND NOT EXISTS (SELECT 1 FROM {stale} s WHERE s.day = {day_of}){where} "
        f"UNION ALL SELECT r.* FROM {stale} s JOIN {rollup} r ON r.period = 'hour'"
        " AND r.bucket >= (s.day::timestamp AT TIME ZONE 'UTC')"
        " AND r.bucket < ((s.day + 1)::timestamp AT TIME ZONE 'UTC')"
        f" WHERE s.day >= %(first_day)s AND s.day < %(after_day)s{where}"
    )


def _report_sql(
    query: ReportQuery, *, order_by_cost: bool = False, limit: int | None = None
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    source = _source_sql(query, params)
    selected, grouped = [], []
    if query.bucket:
        # epoch seconds: psycopg parses a timestamptz per row; the few distinct buckets convert once each
        selected.append(f"extract(epoch FROM date_trunc('{query.bucket}', r.bucket, 'UTC'))::bigint AS bucket")
        grouped.append("1")
    for name in query.group_by:
        selected.append(f"r.{_q(REPORT_DIMENSIONS[name])} AS {_q(name)}")
        grouped.append(str(len(selected)))
    sums = ", ".join(f"coalesce(sum(r.{_q(name)}), 0)::bigint AS {_q(name)}" for name in ROLLUP_MEASURES)
    sql = f"SELECT {', '.join([*selected, sums])} FROM ({source}) r"  # noqa: S608
    if grouped:
        sql += f" GROUP BY {', '.join(grouped)}"
    if order_by_cost:
        sql += f" ORDER BY {_q('cost_micros')} DESC, {_q('requests')} DESC"
    elif grouped:
        sql += f" ORDER BY {', '.join(grouped)}"
    if limit is not None:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    return sql, params


def report_rows(query: ReportQuery, *, top: int | None = None) -> list[dict[str, Any]]:
    """The report's rows (per bucket and group, ordered by them, or the `top` groups by cost)."""
    sql, params = _report_sql(query, order_by_cost=top is not None, limit=top)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return _with_bucket_times(rows) if query.bucket else rows


def _with_bucket_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Buckets from epoch seconds to UTC datetimes (one conversion per distinct bucket)."""
    times: dict[int, dt.datetime] = {}
    for row in rows:
        epoch = row["bucket"]
        row["bucket"] = times.get(epoch) or times.setdefault(epoch, dt.datetime.fromtimestamp(epoch, dt.UTC))
    return rows


def report_count(query: ReportQuery) -> int:
    """How many rows report_rows would give."""
    sql, params = _report_sql(query)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) counted", params)  # noqa: S608
        return int(cursor.fetchone()[0])


def report_totals(query: ReportQuery) -> dict[str, int]:
    """The range's sums of every measure (no bucket, no grouping)."""
    whole = ReportQuery(start=query.start, end=query.end, organization_id=query.organization_id, filters=query.filters)
    return report_rows(whole)[0]


STREAM_CHUNK = 5_000


def report_rows_streamed(query: ReportQuery) -> Iterator[dict[str, Any]]:
    """report_rows through a server-side cursor: constant memory however many rows (exports)."""
    sql, params = _report_sql(query)
    for row in streamed(sql, params):
        if query.bucket:
            row["bucket"] = dt.datetime.fromtimestamp(row["bucket"], dt.UTC)
        yield row


def streamed(sql: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The rows of a query through a server-side cursor, in one transaction (one snapshot)."""
    with transaction.atomic():
        with connection.cursor():  # through Django: django-tenants sets this instance's search_path
            pass
        with connection.connection.cursor(name="spend_report") as cursor:
            cursor.itersize = STREAM_CHUNK
            cursor.execute(sql, params)
            names: list[str] | None = None
            for row in cursor:
                if names is None:
                    names = [column.name for column in cursor.description or ()]
                yield dict(zip(names, row, strict=True))
