"""Spend events from the Redis stream into the ledger: none lost, none written twice.

An entry is acknowledged only after the transaction holding its row has
committed, and rows are inserted under the unique request_id, so a consumer
killed at any point leaves entries pending that the next one re-reads
without creating duplicates.
"""

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from django.db import transaction
from django_tenants.utils import schema_context

from apps.notifications.services.alerts import TouchedHolders, budget_alerts_check
from apps.spend.models import SpendLog
from apps.spend.stream import SPEND_DEAD_LETTERS, SPEND_GROUP, SPEND_STREAM, spend_stream_events
from apps.tenancy.models import Instance

logger = logging.getLogger("hydite.spend")

WRITE_BATCH = 1000  # rows per INSERT statement
SPEND_FIELDS = [field.name for field in SpendLog._meta.get_fields() if field.name not in {"id", "created_at"}]


def spend_stream_group_ensure(*, client: redis.Redis) -> None:
    try:
        client.xgroup_create(SPEND_STREAM, SPEND_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _spend_log(event: dict[str, Any]) -> SpendLog:
    values = {name: event[name] for name in SPEND_FIELDS if name in event}
    created_at = datetime.fromtimestamp(event["created_at_ms"] / 1000, tz=UTC)
    return SpendLog(created_at=created_at, **values)


def spend_events_write(*, events: list[dict[str, Any]]) -> int:
    """Insert events (any instances, any order); an event already in the ledger is skipped."""
    return _spend_logs_write([(event["schema"], _spend_log(event)) for event in events])


def _spend_logs_write(rows_with_schema: list[tuple[str, SpendLog]]) -> int:
    by_schema: dict[str, list[SpendLog]] = defaultdict(list)
    for schema, row in rows_with_schema:
        by_schema[schema].append(row)
    written = 0
    for schema, rows in by_schema.items():
        with schema_context(schema), transaction.atomic():
            written += len(SpendLog.objects.bulk_create(rows, ignore_conflicts=True, batch_size=WRITE_BATCH))
        _budget_alerts_after_commit(schema, rows)
    return written


def _budget_alerts_after_commit(schema: str, rows: list[SpendLog]) -> None:
    """Alerts for the budgets this committed batch crossed; entries are acknowledged only after this ran."""
    touched = TouchedHolders()
    for row in rows:
        touched.add(
            key_id=row.key_id, team_id=row.team_id, organization_id=row.organization_id, cost_micros=row.cost_micros
        )
    try:
        budget_alerts_check(schema=schema, touched=touched)
    except Exception:  # the ledger is committed: a failed alert check must not stop the consumer
        logger.exception("budget alert check failed in %s; the next batch touching these holders checks again", schema)


class _KnownSchemas:
    """The instances' schema names, re-read every few seconds or when an event names one not seen yet."""

    REFRESH_S = 10.0

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.read_at = float("-inf")

    def __contains__(self, schema: object) -> bool:
        if schema not in self.names or time.monotonic() - self.read_at > self.REFRESH_S:
            self.names = set(Instance.objects.values_list("schema_name", flat=True))
            self.read_at = time.monotonic()
        return schema in self.names


_known_schemas = _KnownSchemas()


def _decode(
    entries: list[tuple[bytes, dict[bytes, bytes]]],
) -> tuple[list[tuple[str, SpendLog]], list[tuple[bytes, bytes]]]:
    """The ledger rows of the entries' events, with their schema, and the events that cannot be rows."""
    rows, dead = [], []
    for entry_id, fields in entries:
        for payload in spend_stream_events(fields):
            try:
                event = orjson.loads(payload)
                row = _spend_log(event)
                if event["schema"] not in _known_schemas:
                    raise ValueError(f"unknown instance {event['schema']!r}")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                logger.error("spend event in entry %s moved to dead letters: %s", entry_id, exc)
                dead.append((entry_id, payload))
                continue
            rows.append((event["schema"], row))
    return rows, dead


def _stream_entries(response: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XREADGROUP's entries for our one stream (RESP2 shape: [[stream, entries]])."""
    return list(response[0][1]) if response else []


def spend_consume_once(
    *,
    client: redis.Redis,
    consumer: str,
    count: int = 50,
    block_ms: int = 1000,
    claim_idle_ms: int = 30_000,
    claim: bool = True,
) -> int:
    """Read up to `count` entries (with `claim`, those a dead consumer abandoned first), write them, acknowledge them.

    Returns the number of entries read (an entry holds a batch of events).
    """
    entries = []
    if claim:
        _, claimed, _ = client.xautoclaim(SPEND_STREAM, SPEND_GROUP, consumer, min_idle_time=claim_idle_ms, count=count)
        entries = list(claimed)
    if not entries:
        response: Any = client.xreadgroup(SPEND_GROUP, consumer, {SPEND_STREAM: ">"}, count=count, block=block_ms)
        entries = _stream_entries(response)
    if not entries:
        return 0
    rows, dead = _decode(entries)
    _spend_logs_write(rows)
    pipe = client.pipeline(transaction=False)
    for _, payload in dead:
        pipe.xadd(SPEND_DEAD_LETTERS, {"e": payload})
    done = [entry_id for entry_id, _ in entries]
    pipe.xack(SPEND_STREAM, SPEND_GROUP, *done)
    pipe.xdel(SPEND_STREAM, *done)  # in the ledger now: the stream keeps only what is still to be written
    pipe.execute()
    return len(entries)
