"""Spend events from the Redis stream into the ledger: none lost, none written twice.

An entry is acknowledged only after the transaction holding its row has
committed, and rows are inserted under the unique request_id, so a consumer
killed at any point leaves entries pending that the next one re-reads
without creating duplicates.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from django.db import DataError, IntegrityError, transaction
from django_tenants.utils import schema_context

from apps.notifications.services.alerts import TouchedHolders, budget_alerts_check
from apps.spend.services.ledger import LEDGER_INDEX, LedgerRow, UnfitEvent, ledger_row, ledger_rows_write
from apps.spend.stream import SPEND_DEAD_LETTERS, SPEND_GROUP, SPEND_STREAM, spend_stream_events
from apps.tenancy.models import Instance

logger = logging.getLogger("hydite.spend")


def spend_stream_group_ensure(*, client: redis.Redis) -> None:
    try:
        client.xgroup_create(SPEND_STREAM, SPEND_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


@dataclass(frozen=True)
class Decoded:
    schema: str
    row: LedgerRow
    entry_id: bytes
    payload: bytes


def _spend_logs_write(decoded: list[Decoded]) -> list[tuple[bytes, bytes]]:
    """Write the rows, one transaction per instance; returns the (entry id, payload) the database refused.

    A batch the database refuses (a constraint no check here foresaw) is written again row by row,
    so that one bad event goes to the dead letters instead of holding up every event behind it.
    """
    by_schema: dict[str, list[Decoded]] = defaultdict(list)
    for item in decoded:
        by_schema[item.schema].append(item)
    refused = []
    for schema, items in by_schema.items():
        with schema_context(schema):
            try:
                with transaction.atomic():
                    ledger_rows_write([item.row for item in items])
            except (DataError, IntegrityError) as exc:
                logger.warning("a spend batch in %s was refused (%s); writing it row by row", schema, exc)
                refused += _ledger_insert_one_by_one(items)
        _budget_alerts_after_commit(schema, [item.row for item in items])
    return refused


def _ledger_insert_one_by_one(items: list[Decoded]) -> list[tuple[bytes, bytes]]:
    refused = []
    for item in items:
        try:
            with transaction.atomic():
                ledger_rows_write([item.row])
        except (DataError, IntegrityError) as exc:
            logger.error("spend event in entry %s moved to dead letters: %s", item.entry_id, exc)
            refused.append((item.entry_id, item.payload))
    return refused


def _budget_alerts_after_commit(schema: str, rows: list[LedgerRow]) -> None:
    """Alerts for the budgets this committed batch crossed; entries are acknowledged only after this ran."""
    touched = TouchedHolders()
    key, team, organization = LEDGER_INDEX["key_id"], LEDGER_INDEX["team_id"], LEDGER_INDEX["organization_id"]
    cost = LEDGER_INDEX["cost_micros"]
    for row in rows:
        touched.add(key_id=row[key], team_id=row[team], organization_id=row[organization], cost_micros=row[cost])
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
) -> tuple[list[Decoded], list[tuple[bytes, bytes]]]:
    """The ledger rows of the entries' events, with their schema, and the events that cannot be rows."""
    rows, dead = [], []
    for entry_id, fields in entries:
        for payload in spend_stream_events(fields):
            try:
                event = orjson.loads(payload)
                if not isinstance(event, dict):
                    raise UnfitEvent("an event is a JSON object")
                row = ledger_row(event)
                if event["schema"] not in _known_schemas:
                    raise ValueError(f"unknown instance {event['schema']!r}")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                logger.error("spend event in entry %s moved to dead letters: %s", entry_id, exc)
                dead.append((entry_id, payload))
                continue
            rows.append(Decoded(event["schema"], row, entry_id, payload))
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
    dead += _spend_logs_write(rows)
    pipe = client.pipeline(transaction=False)
    for _, payload in dead:
        pipe.xadd(SPEND_DEAD_LETTERS, {"e": payload})
    done = [entry_id for entry_id, _ in entries]
    pipe.xack(SPEND_STREAM, SPEND_GROUP, *done)
    pipe.xdel(SPEND_STREAM, *done)  # in the ledger now: the stream keeps only what is still to be written
    pipe.execute()
    return len(entries)
