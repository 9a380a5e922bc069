"""Spend events from the Redis stream into the ledger: none lost, none written twice.

An entry is acknowledged only after the transaction holding its row has
committed, and rows are inserted under the unique request_id, so a consumer
killed at any point leaves entries pending that the next one re-reads
without creating duplicates.
"""

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from django.db import transaction
from django_tenants.utils import schema_context

from apps.spend.models import SpendLog
from apps.spend.stream import SPEND_DEAD_LETTERS, SPEND_GROUP, SPEND_STREAM
from apps.tenancy.models import Instance

logger = logging.getLogger("hydite.spend")

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
    by_schema: dict[str, list[SpendLog]] = defaultdict(list)
    for event in events:
        by_schema[event["schema"]].append(_spend_log(event))
    written = 0
    for schema, rows in by_schema.items():
        with schema_context(schema), transaction.atomic():
            written += len(SpendLog.objects.bulk_create(rows, ignore_conflicts=True))
    return written


def _decode(
    entries: list[tuple[bytes, dict[bytes, bytes]]], schemas: set[str]
) -> tuple[list[dict[str, Any]], list[tuple[bytes, bytes]]]:
    events, dead = [], []
    for entry_id, fields in entries:
        payload = fields.get(b"e", b"")
        try:
            event = orjson.loads(payload)
            _spend_log(event)  # every field converts
            if event["schema"] not in schemas:
                raise ValueError(f"unknown instance {event['schema']!r}")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            logger.error("spend event %s moved to dead letters: %s", entry_id, exc)
            dead.append((entry_id, payload))
            continue
        events.append(event)
    return events, dead


def _stream_entries(response: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XREADGROUP's entries for our one stream (RESP2 shape: [[stream, entries]])."""
    return list(response[0][1]) if response else []


def spend_consume_once(
    *, client: redis.Redis, consumer: str, count: int = 500, block_ms: int = 1000, claim_idle_ms: int = 30_000
) -> int:
    """Read one batch (entries abandoned by a dead consumer first), write it, then acknowledge it."""
    _, claimed, _ = client.xautoclaim(SPEND_STREAM, SPEND_GROUP, consumer, min_idle_time=claim_idle_ms, count=count)
    entries = list(claimed)
    if not entries:
        response: Any = client.xreadgroup(SPEND_GROUP, consumer, {SPEND_STREAM: ">"}, count=count, block=block_ms)
        entries = _stream_entries(response)
    if not entries:
        return 0
    schemas = set(Instance.objects.values_list("schema_name", flat=True))
    events, dead = _decode(entries, schemas)
    spend_events_write(events=events)
    for _, payload in dead:
        client.xadd(SPEND_DEAD_LETTERS, {"e": payload})
    client.xack(SPEND_STREAM, SPEND_GROUP, *[entry_id for entry_id, _ in entries])
    return len(entries)
