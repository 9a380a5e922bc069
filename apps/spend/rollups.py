"""Roll-ups of the spend ledger: hour buckets kept by the consumer, day and month buckets recomputed from them.

Hour buckets grow in the transaction that adds their ledger rows (the rows an INSERT … RETURNING
reports as added, so a row is counted exactly once, whenever it arrives: a late row lands in its own
hour). That transaction also marks the row's UTC day stale; `spend_rollups_roll` recomputes stale
days from their hours and their months from their days, replacing what was there, so running it
again gives the same buckets. Sums are integers (micro-USD, tokens): exact.
"""

import datetime as dt
import zlib
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from apps.core.schemas import current_schema
from apps.spend.models import ROLLUP_DIMENSIONS, ROLLUP_MEASURES, RollupPeriod, RollupStaleDay, SpendLog, SpendRollup
from apps.wallet.periods import add_month, month_bounds

# The ledger column each roll-up dimension sums from (the rest have the same name).
LEDGER_COLUMN_OF_DIMENSION = {"model": "model_alias"}
# How each measure is computed from ledger rows.
MEASURE_FROM_LEDGER = {
    "requests": "count(*)",
    "errors": "count(*) FILTER (WHERE status_code >= 400)",
    "cache_hits": "count(*) FILTER (WHERE cache_hit)",
    "prompt_tokens": "coalesce(sum(prompt_tokens), 0)",
    "completion_tokens": "coalesce(sum(completion_tokens), 0)",
    "cost_micros": "coalesce(sum(cost_micros), 0)",
    "saved_micros": "coalesce(sum(saved_micros), 0)",
}
# What the consumer's INSERT … RETURNING must give for the hour upsert.
LEDGER_COLUMNS_FOR_ROLLUP = sorted(
    {LEDGER_COLUMN_OF_DIMENSION.get(name, name) for name in ROLLUP_DIMENSIONS}
    | {"created_at", "status_code", "cache_hit", "prompt_tokens", "completion_tokens", "cost_micros", "saved_micros"}
)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _tables() -> tuple[str, str, str]:
    return _q(SpendLog._meta.db_table), _q(SpendRollup._meta.db_table), _q(RollupStaleDay._meta.db_table)


def _rollup_columns() -> str:
    return ", ".join(_q(name) for name in ("period", "bucket", *ROLLUP_DIMENSIONS, *ROLLUP_MEASURES))


def hour_rollup_sql(source: str, *, accumulate: bool) -> str:
    """INSERT of hour buckets summed from the ledger rows in `source` (a table or a CTE's name).

    `accumulate` adds to buckets that exist (the consumer's new rows); otherwise the buckets must not
    exist yet (a rebuild deleted them). Rows are inserted in key order, so that concurrent writers lock
    buckets in the same order and never deadlock.
    """
    _, rollup, _ = _tables()
    dimensions = ", ".join(_q(LEDGER_COLUMN_OF_DIMENSION.get(name, name)) for name in ROLLUP_DIMENSIONS)
    measures = ", ".join(MEASURE_FROM_LEDGER[name] for name in ROLLUP_MEASURES)
    keys = ", ".join(str(position) for position in range(2, len(ROLLUP_DIMENSIONS) + 3))
    sql = (
        f"INSERT INTO {rollup} AS r ({_rollup_columns()}) "  # noqa: S608 - names from model metadata only
        f"SELECT '{RollupPeriod.HOUR}'::varchar, date_trunc('hour', created_at, 'UTC'), {dimensions}, {measures} "
        f"FROM {source} GROUP BY {keys} ORDER BY {keys}"
    )
    if accumulate:
        added = ", ".join(f"{_q(name)} = r.{_q(name)} + EXCLUDED.{_q(name)}" for name in ROLLUP_MEASURES)
        sql += f" ON CONFLICT ON CONSTRAINT spend_rollup_bucket DO UPDATE SET {added}"
    return sql


def stale_days_sql(source: str) -> str:
    """INSERT marking the UTC days of the rows in `source` stale (their day buckets are recomputed)."""
    _, _, stale = _tables()
    return (
        f"INSERT INTO {stale} (day) SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM {source} "  # noqa: S608
        "ORDER BY 1 ON CONFLICT DO NOTHING"
    )


ROLL_LOCK_NAMESPACE = 0x5350454E  # "SPEN": advisory locks of roll-up jobs, one per schema


def _schema_lock(cursor: CursorWrapper) -> None:
    """One roll-up job at a time per schema (held to the end of the transaction)."""
    key = zlib.crc32(current_schema().encode())
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ROLL_LOCK_NAMESPACE, key - 2**31])


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _summed_into(period: str, *, source_period: str, start: dt.datetime, end: dt.datetime) -> str:
    """INSERT of one `period` bucket starting at `start`, summed from `source_period` buckets in [start, end)."""
    _, rollup, _ = _tables()
    dimensions = ", ".join(_q(name) for name in ROLLUP_DIMENSIONS)
    measures = ", ".join(f"sum({_q(name)})" for name in ROLLUP_MEASURES)
    return (
        f"INSERT INTO {rollup} ({_rollup_columns()}) "  # noqa: S608
        f"SELECT '{period}'::varchar, %(start)s, {dimensions}, {measures} FROM {rollup} "
        f"WHERE period = '{source_period}' AND bucket >= %(start)s AND bucket < %(end)s "
        f"GROUP BY {dimensions} ORDER BY {dimensions}"
    )


def _bucket_replace(period: str, *, source_period: str, start: dt.datetime, end: dt.datetime) -> None:
    SpendRollup.objects.filter(period=period, bucket=start).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            _summed_into(period, source_period=source_period, start=start, end=end), {"start": start, "end": end}
        )


@transaction.atomic
def spend_rollups_roll() -> int:
    """Recompute the day buckets of stale days from their hours, and their months from their days.

    Every 30 s (beat) in every instance; rerun-safe. It locks the roll-ups against the consumer's writes
    while it runs (milliseconds for a day or two), so every hour bucket it reads is committed and every
    row added after it marks its day stale again. Returns the days recomputed.
    """
    _, rollup, stale = _tables()
    with connection.cursor() as cursor:
        _schema_lock(cursor)
        # Wait for the consumers' transactions in flight, and hold new ones for the moment this takes: a
        # consumer whose day is already marked stale adds no mark of its own, so its hour buckets must be
        # committed before the mark is taken and its day recomputed.
        cursor.execute(f"LOCK TABLE {rollup} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {stale} RETURNING day")  # noqa: S608
        days = sorted(day for (day,) in cursor.fetchall())
    for day in days:
        start = _utc_midnight(day)
        _bucket_replace(
            RollupPeriod.DAY, source_period=RollupPeriod.HOUR, start=start, end=start + dt.timedelta(days=1)
        )
    for month_start in sorted({month_bounds(_utc_midnight(day))[0] for day in days}):
        _bucket_replace(
            RollupPeriod.MONTH, source_period=RollupPeriod.DAY, start=month_start, end=add_month(month_start)
        )
    return len(days)


def ledger_retained_since(*, now: dt.datetime | None = None) -> dt.datetime:
    """The oldest moment whose ledger rows are still kept."""
    return (now or timezone.now()) - dt.timedelta(days=settings.SPEND_RETENTION_DAYS)


class RollupRebuildRefused(ValueError):
    pass


def _hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def spend_rollups_rebuild(*, start: dt.datetime, end: dt.datetime) -> int:
    """Recompute the hour buckets of [start, end) (widened to whole hours) from the ledger's rows.

    For an operator who doubts a bucket, and for ledgers written before roll-ups existed. Refused for
    hours whose rows the retention job may have pruned (their buckets are all that is left). Holds the
    consumer's writes to the roll-ups while it runs. Returns the hour buckets written.
    """
    start, end = _hour_floor(start), _hour_floor(end + dt.timedelta(hours=1) - dt.timedelta(microseconds=1))
    if start < ledger_retained_since():
        raise RollupRebuildRefused(f"ledger rows before {ledger_retained_since():%Y-%m-%d %H:%M} UTC may be pruned")
    ledger, rollup, stale_table = _tables()
    with connection.cursor() as cursor:
        _schema_lock(cursor)
        cursor.execute(f"LOCK TABLE {rollup} IN SHARE ROW EXCLUSIVE MODE")
        SpendRollup.objects.filter(period=RollupPeriod.HOUR, bucket__gte=start, bucket__lt=end).delete()
        window = f"(SELECT * FROM {ledger} WHERE created_at >= %(start)s AND created_at < %(end)s) AS window_rows"  # noqa: S608
        cursor.execute(hour_rollup_sql(window, accumulate=False), {"start": start, "end": end})
        written = cursor.rowcount
        # every day of the window, rows or not: a day whose rows are gone must lose its old day bucket too
        cursor.execute(
            f"INSERT INTO {stale_table} (day) SELECT generate_series(%(first)s::date, %(last)s::date, '1 day')::date "
            "ON CONFLICT DO NOTHING",
            {"first": start.date(), "last": (end - dt.timedelta(microseconds=1)).date()},
        )
    return written


PRUNE_BATCH = 10_000


def spend_ledger_prune(*, now: dt.datetime | None = None) -> int:
    """Delete ledger rows older than the retention period (SPEND_RETENTION_DAYS, at least 90), in batches.

    Daily (beat). Roll-ups are kept forever and are not touched. Returns the rows deleted.
    """
    cutoff = ledger_retained_since(now=now)
    ledger, _, _ = _tables()
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {ledger} WHERE id IN (SELECT id FROM {ledger} WHERE created_at < %s LIMIT %s)",  # noqa: S608
                [cutoff, PRUNE_BATCH],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < PRUNE_BATCH:
                return deleted
