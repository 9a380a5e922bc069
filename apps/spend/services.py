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
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
import redis
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import BooleanField, CharField, DateTimeField, Field, IntegerField, JSONField
from django_tenants.utils import schema_context

from apps.notifications.services.alerts import TouchedHolders, budget_alerts_check
from apps.spend.models import SpendLog
from apps.spend.rollups import LEDGER_COLUMNS_FOR_ROLLUP, hour_rollup_sql, stale_days_sql
from apps.spend.stream import SPEND_DEAD_LETTERS, SPEND_GROUP, SPEND_STREAM, spend_stream_events
from apps.tenancy.models import Instance
from apps.wallet.services.ledger import Usage, wallet_usage_debit

logger = logging.getLogger("hydite.spend")


def spend_stream_group_ensure(*, client: redis.Redis) -> None:
    try:
        client.xgroup_create(SPEND_STREAM, SPEND_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


LEDGER_COLUMNS = [field for field in SpendLog._meta.concrete_fields if not field.primary_key]
_AT = {field.name: index for index, field in enumerate(LEDGER_COLUMNS)}
LedgerRow = tuple[Any, ...]  # values in LEDGER_COLUMNS order, ready for COPY


MAX_EPOCH_MS = 253_402_300_800_000  # 10000-01-01, past what a datetime holds


class UnfitEvent(ValueError):
    pass


@dataclass(frozen=True)
class _Column:
    """What a ledger column takes, worked out once from the model field."""

    name: str
    kind: str  # int, bool, text, json, when
    null: bool
    default: Any
    low: int = 0
    high: int = 0
    max_length: int = 0

    @classmethod
    def of(cls, field: Field) -> "_Column":
        default = field.get_default()
        if isinstance(field, DateTimeField):
            return cls(field.name, "when", field.null, default)
        if isinstance(field, JSONField):
            return cls(field.name, "json", field.null, default)
        if isinstance(field, BooleanField):
            return cls(field.name, "bool", field.null, default)
        if isinstance(field, IntegerField):
            low, high = connection.ops.integer_field_range(field.get_internal_type())
            return cls(field.name, "int", field.null, default, low=low, high=high)
        if isinstance(field, CharField):
            return cls(field.name, "text", field.null, default, max_length=field.max_length or 0)
        raise TypeError(f"the ledger has no rule for {type(field).__name__} {field.name}")

    def value(self, event: dict[str, Any]) -> Any:
        """The event's value as the column takes it, or UnfitEvent: a bad event must not fail its batch."""
        if self.kind == "when":
            at_ms = event.get("created_at_ms")
            if at_ms.__class__ is not int or not 0 <= at_ms < MAX_EPOCH_MS:
                raise UnfitEvent("created_at_ms must be milliseconds since the epoch")
            return datetime.fromtimestamp(at_ms / 1000, tz=UTC)
        value = event.get(self.name, self.default)
        if value is None:
            if self.null:
                return None
            raise UnfitEvent(f"{self.name} must not be null")
        kind = self.kind
        if kind == "int":
            if value.__class__ is not int or not self.low <= value <= self.high:
                raise UnfitEvent(f"{self.name} must be an integer from {self.low} to {self.high}")
        elif kind == "text":
            if value.__class__ is not str or len(value) > self.max_length:
                raise UnfitEvent(f"{self.name} must be text of at most {self.max_length} characters")
        elif kind == "bool":
            if value.__class__ is not bool:
                raise UnfitEvent(f"{self.name} must be a boolean")
        else:
            return orjson.dumps(value).decode()
        return value


@cache
def _ledger_columns() -> list[_Column]:
    return [_Column.of(field) for field in LEDGER_COLUMNS]


def _ledger_row(event: dict[str, Any]) -> LedgerRow:
    """The ledger row of a spend event; UnfitEvent says which field does not fit."""
    return tuple([column.value(event) for column in _ledger_columns()])


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
                    _ledger_write([item.row for item in items])
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
                _ledger_write([item.row])
        except (DataError, IntegrityError) as exc:
            logger.error("spend event in entry %s moved to dead letters: %s", item.entry_id, exc)
            refused.append((item.entry_id, item.payload))
    return refused


@cache
def _ledger_sql() -> tuple[str, str, str]:
    """The staging table, the COPY into it, and the statement adding its rows to the ledger and its roll-ups.

    Names come from the models' metadata only. The statement inserts the rows the ledger does not hold yet
    (ON CONFLICT (request_id) DO NOTHING), adds exactly those to their hour buckets, marks their days
    stale, and returns USAGE_COLUMNS of each for the wallet.
    """
    table = connection.ops.quote_name(SpendLog._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in LEDGER_COLUMNS)
    stage = f"CREATE TEMP TABLE IF NOT EXISTS spend_incoming ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: E501, S608
    copy = f"COPY spend_incoming ({columns}) FROM STDIN"
    returned = ", ".join(
        connection.ops.quote_name(name) for name in sorted({*USAGE_COLUMNS, *LEDGER_COLUMNS_FOR_ROLLUP})
    )
    usage = ", ".join(connection.ops.quote_name(name) for name in USAGE_COLUMNS)
    insert = (
        f"WITH added AS (INSERT INTO {table} ({columns}) SELECT {columns} FROM spend_incoming "  # noqa: S608
        f"ON CONFLICT (request_id) DO NOTHING RETURNING {returned}), "
        f"hours AS ({hour_rollup_sql('added', accumulate=True)}), "
        f"stale AS ({stale_days_sql('added')}) "
        f"SELECT {usage} FROM added"
    )
    return stage, copy, insert


USAGE_COLUMNS = ("organization_id", "cost_micros", "created_at")  # what the wallet debits, of each row added


def _ledger_write(rows: list[LedgerRow]) -> int:
    """Insert the rows, add them to their roll-ups, debit the prepaid wallets, in the caller's transaction.

    Returns the rows added (those whose request id the ledger did not hold).
    """
    added = _ledger_insert(rows)
    wallet_usage_debit(usages=[Usage(*row) for row in added])
    return len(added)


def ledger_events_write(events: list[dict[str, Any]]) -> int:
    """Spend events (the gateway's shape) into the current schema's ledger, as the consumer writes them.

    For imports, seeding and tests: one transaction (the caller's, when there is one), no stream.
    UnfitEvent names a bad field.
    """
    if not events:
        return 0
    rows = [_ledger_row(event) for event in events]
    with transaction.atomic():  # the staging table empties at each commit: COPY and INSERT in one transaction
        return _ledger_write(rows)


def _ledger_insert(rows: list[LedgerRow]) -> list[tuple[Any, ...]]:
    """COPY the rows into a session-local staging table, then one statement adding them (see _ledger_sql).

    The ledger skips request ids it already holds, as bulk_create(ignore_conflicts) would, without
    Django compiling every value of every row into SQL (most of the consumer's time before).
    Returns USAGE_COLUMNS of the rows actually added.
    """
    stage, copy_sql, insert = _ledger_sql()
    with connection.cursor() as cursor:
        cursor.execute(stage)
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:  # psycopg's errors as Django's
            for row in rows:
                copy.write_row(row)
        cursor.execute(insert)
        return list(cursor.fetchall())


def _budget_alerts_after_commit(schema: str, rows: list[LedgerRow]) -> None:
    """Alerts for the budgets this committed batch crossed; entries are acknowledged only after this ran."""
    touched = TouchedHolders()
    key, team, organization, cost = _AT["key_id"], _AT["team_id"], _AT["organization_id"], _AT["cost_micros"]
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
                row = _ledger_row(event)
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
