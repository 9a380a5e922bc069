"""Spend events into the ledger: each event checked against the ledger's columns, then COPY and one statement
adding the rows the ledger does not hold yet to it and to their roll-ups, and debiting the prepaid wallets."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import BooleanField, CharField, DateTimeField, Field, IntegerField, JSONField

from apps.spend.models import SpendLog
from apps.spend.rollups import LEDGER_COLUMNS_FOR_ROLLUP, hour_rollup_sql, stale_days_sql
from apps.wallet.services.ledger import Usage, wallet_usage_debit

LEDGER_COLUMNS = [field for field in SpendLog._meta.concrete_fields if not field.primary_key]
LEDGER_INDEX = {field.name: index for index, field in enumerate(LEDGER_COLUMNS)}  # a column's place in a row
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


def ledger_row(event: dict[str, Any]) -> LedgerRow:
    """The ledger row of a spend event; UnfitEvent says which field does not fit."""
    return tuple([column.value(event) for column in _ledger_columns()])


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


def ledger_rows_write(rows: list[LedgerRow]) -> int:
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
    rows = [ledger_row(event) for event in events]
    with transaction.atomic():  # the staging table empties at each commit: COPY and INSERT in one transaction
        return ledger_rows_write(rows)


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
