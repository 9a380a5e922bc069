"""Finance exports: a spend report as CSV, XLSX or NDJSON, written row by row (constant memory).

Grouped reports read the roll-ups (apps.spend.reports), so their totals are the Billing page's; an
export of every request reads the ledger's rows (kept SPEND_RETENTION_DAYS) through a server-side
cursor. Small exports are answered at once; larger ones run as a Celery job (SpendExport) whose
progress the page shows, and whose file is downloaded when it is done.
"""

import csv
import datetime as dt
import io
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
import xlsxwriter
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.http import FileResponse
from django.utils import timezone
from xlsxwriter.exceptions import XlsxWriterException

from apps.accounts.models import User
from apps.channels.models import Channel
from apps.core.errors import HyditeError
from apps.core.money import usd_fixed
from apps.core.schemas import current_schema
from apps.keys.models import VirtualKey
from apps.orgs.models import Organization, Team
from apps.spend.models import ROLLUP_MEASURES, ExportFormat, ExportStatus, SpendExport, SpendLog
from apps.spend.reports import (
    REPORT_DIMENSIONS,
    TEXT_DIMENSIONS,
    ReportQuery,
    report_count,
    report_rows_streamed,
    streamed,
)
from apps.spend.rollups import ledger_retained_since

logger = logging.getLogger("hydite.spend")

EXPORT_INLINE_ROWS = 10_000  # up to this many rows an export downloads at once; more run as a job
PROGRESS_EVERY = 10_000
XLSX_SHEET_ROWS = 1_000_000  # a worksheet holds 1,048,576 rows: larger exports continue on the next sheet
CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NDJSON: "application/x-ndjson",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
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


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """A cell for a spreadsheet: text a spreadsheet would run as a formula (a key name or an X-Feature-Id
    are the callers' words) gets a leading apostrophe, as OWASP advises; numbers are left as they are."""
    if value is None:
        return ""
    value = _text(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _CsvWriter:
    def __init__(self, out: IO[bytes], columns: list[str]) -> None:
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.csv = csv.writer(self.text)
        self.csv.writerow(columns)

    def row(self, values: list[Any]) -> None:
        self.csv.writerow([_csv_cell(value) for value in values])

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class _NdjsonWriter:
    def __init__(self, out: IO[bytes], columns: list[str]) -> None:
        self.out, self.columns = out, columns

    def row(self, values: list[Any]) -> None:
        self.out.write(orjson.dumps(dict(zip(self.columns, map(_text, values), strict=True))) + b"\n")

    def close(self) -> None:
        self.out.flush()


class _XlsxWriter:
    """constant_memory: each row goes to a temporary file as it is written; a new sheet every XLSX_SHEET_ROWS."""

    def __init__(self, out: IO[bytes], columns: list[str]) -> None:
        # strings_to_formulas off: a caller's text that starts with "=" stays text, never a formula
        options = {"constant_memory": True, "remove_timezone": True, "strings_to_formulas": False}
        self.book = xlsxwriter.Workbook(out, options)
        self.columns, self.sheets, self.rows = columns, 0, XLSX_SHEET_ROWS
        self.usd = self.book.add_format({"num_format": "0.000000"})

    def row(self, values: list[Any]) -> None:
        if self.rows >= XLSX_SHEET_ROWS:
            self.sheets += 1
            self.sheet = self.book.add_worksheet(f"Spend {self.sheets}")
            self.sheet.write_row(0, 0, self.columns)
            self.rows = 0
        self.rows += 1
        for column, value in enumerate(values):
            name = self.columns[column]
            if value is None:
                continue
            if name.endswith("_usd"):
                self.sheet.write_number(self.rows, column, float(value), self.usd)  # exact: *_micros columns
            elif isinstance(value, str | dt.datetime):
                self.sheet.write_string(self.rows, column, _text(value))
            else:
                self.sheet.write(self.rows, column, value)

    def close(self) -> None:
        if self.sheets == 0:
            self.row([None] * len(self.columns))  # an empty report is a sheet with its header
        self.book.close()


class _Writer(Protocol):
    def row(self, values: list[Any]) -> None: ...
    def close(self) -> None: ...


WRITERS: dict[ExportFormat, Callable[[IO[bytes], list[str]], _Writer]] = {
    ExportFormat.CSV: _CsvWriter,
    ExportFormat.NDJSON: _NdjsonWriter,
    ExportFormat.XLSX: _XlsxWriter,
}


def export_write(spec: ExportSpec, fmt: str, out: IO[bytes], *, progress: Callable[[int], None] | None = None) -> int:
    """Write the export to `out`; `progress` hears the rows written every PROGRESS_EVERY. Returns the rows."""
    writer = WRITERS[ExportFormat(fmt)](out, spec.columns)
    written = 0
    for values in export_rows(spec):
        writer.row(values)
        written += 1
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written)
    writer.close()
    return written


def export_filename(spec: ExportSpec, fmt: str) -> str:
    kind = "requests" if spec.every_request else "-".join(spec.query.group_by) or "totals"
    return f"spend-{spec.query.start:%Y%m%d}-{spec.query.end:%Y%m%d}-{kind}.{fmt}"


def export_file_response(spec: ExportSpec, fmt: str) -> FileResponse:
    """A small export, written to a temporary file and sent as a download."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    export_write(spec, fmt, out)
    out.seek(0)
    return FileResponse(
        out, as_attachment=True, filename=export_filename(spec, fmt), content_type=CONTENT_TYPES[ExportFormat(fmt)]
    )


def export_file_download(export: SpendExport) -> FileResponse:
    """The file of a finished export job."""
    spec = ExportSpec.from_json(export.spec)
    return FileResponse(
        export_path(export).open("rb"),
        as_attachment=True,
        filename=export_filename(spec, export.format),
        content_type=CONTENT_TYPES[ExportFormat(export.format)],
    )


def export_path(export: SpendExport) -> Path:
    return Path(settings.SPEND_EXPORT_DIR) / current_schema() / f"{export.pk}.{export.format}"


def _progress_key(export_id: int) -> str:
    return f"spend-export-progress:{export_id}"


def export_progress(export: SpendExport) -> int:
    """Rows a running job has written so far (it counts in the cache: its rows are in one long transaction)."""
    if export.status != ExportStatus.RUNNING:
        return export.rows_written
    return int(cache.get(_progress_key(export.pk)) or 0)


MAX_EXPORT_JOBS = 2  # queued or running per organisation: each holds a worker for a whole scan
EXPORT_STALE_AFTER = dt.timedelta(days=1)  # a job still queued or running after this was interrupted


class ExportsBusy(HyditeError):
    status, code = 429, "exports_busy"


def spend_export_deliver(
    *, organization: Organization, user: User, spec: ExportSpec, fmt: str
) -> FileResponse | SpendExport:
    """A small export as a download at once; a larger one queued as a job (run once the transaction commits).

    The same export asked again while its job is queued or running is that job; an organisation runs at
    most MAX_EXPORT_JOBS at a time (ExportsBusy).
    """
    from apps.spend.tasks import spend_export_run_task  # the task module imports this one

    rows = export_row_count(spec)
    if rows <= EXPORT_INLINE_ROWS:
        return export_file_response(spec, fmt)
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=organization.pk).first()  # one request at a time
        active_jobs = list(
            SpendExport.objects.filter(
                organization=organization, status__in=(ExportStatus.PENDING, ExportStatus.RUNNING)
            )
        )
        same = next((job for job in active_jobs if job.spec == spec.as_json() and job.format == fmt), None)
        if same is not None:
            return same
        if len(active_jobs) >= MAX_EXPORT_JOBS:
            raise ExportsBusy(f"{len(active_jobs)} exports are being prepared; wait for one to finish.")
        export = SpendExport.objects.create(
            organization=organization,
            requested_by=user,
            format=ExportFormat(fmt),
            spec=spec.as_json(),
            rows_expected=rows,
        )
    schema = current_schema()
    # robust: a broker that cannot take the job must not turn the committed request into an error; the
    # daily expiry marks a job that never ran as interrupted
    transaction.on_commit(lambda: spend_export_run_task.delay(schema=schema, export_id=export.pk), robust=True)
    return export


def spend_export_run(*, export_id: int) -> str:
    """Write the export's file (rerun-safe). Returns its status.

    Each attempt writes a file of its own and finishes the job only if it still holds it: a task the
    broker hands out again while the first attempt runs takes the job over, and the first one gives up.
    """
    attempt = uuid.uuid4().hex
    with transaction.atomic():
        export = SpendExport.objects.select_for_update().get(pk=export_id)
        if export.status not in (ExportStatus.PENDING, ExportStatus.RUNNING):
            return str(export.status)
        export.status, export.attempt = ExportStatus.RUNNING, attempt
        export.save(update_fields=["status", "attempt"])
    path = export_path(export)
    partial = path.with_name(f"{path.name}.{attempt}.part")
    mine = SpendExport.objects.filter(pk=export_id, attempt=attempt, status=ExportStatus.RUNNING)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            written = export_write(
                ExportSpec.from_json(export.spec),
                export.format,
                out,
                progress=lambda rows: cache.set(_progress_key(export_id), rows, timeout=24 * 3600),
            )
        with transaction.atomic():
            if not mine.select_for_update().exists():  # another attempt holds the job now
                partial.unlink(missing_ok=True)
                return "superseded"
            partial.replace(path)
            mine.update(status=ExportStatus.DONE, rows_written=written, finished_at=timezone.now())
    except (OSError, DatabaseError, ValueError, XlsxWriterException):  # disk, database, a spec or a sheet
        logger.exception("spend export %s failed", export_id)
        partial.unlink(missing_ok=True)
        mine.update(status=ExportStatus.FAILED, error=EXPORT_FAILED_MESSAGE, finished_at=timezone.now())
        return ExportStatus.FAILED
    cache.delete(_progress_key(export_id))
    return ExportStatus.DONE


EXPORT_FAILED_MESSAGE = "The export could not be written (the operators have the details); export again."


def spend_exports_expire(*, now: dt.datetime | None = None) -> int:
    """Daily: the files of exports finished more than SPEND_EXPORT_KEEP_DAYS ago are deleted (their rows
    stay, as expired), and jobs queued or running for a day are marked interrupted. Rerun-safe; returns
    the exports expired."""
    now = now or timezone.now()
    SpendExport.objects.filter(
        status__in=(ExportStatus.PENDING, ExportStatus.RUNNING), created_at__lt=now - EXPORT_STALE_AFTER
    ).update(status=ExportStatus.FAILED, error="Interrupted; export again.", finished_at=now)
    cutoff = now - dt.timedelta(days=settings.SPEND_EXPORT_KEEP_DAYS)
    finished = SpendExport.objects.filter(status=ExportStatus.DONE, finished_at__lt=cutoff)
    expired = 0
    for export in finished:
        export_path(export).unlink(missing_ok=True)
        expired += SpendExport.objects.filter(pk=export.pk, status=ExportStatus.DONE).update(
            status=ExportStatus.EXPIRED
        )
    return expired
