"""Export writers: CSV, NDJSON and XLSX, each taking one row at a time (constant memory)."""

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import IO, Any, Protocol

import orjson
import xlsxwriter

from apps.spend.export_queries import ExportSpec, export_rows
from apps.spend.models import ExportFormat

PROGRESS_EVERY = 10_000
XLSX_SHEET_ROWS = 1_000_000  # a worksheet holds 1,048,576 rows: larger exports continue on the next sheet


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
