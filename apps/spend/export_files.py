"""An export's file: sent at once for a small export, or kept on disk for a job and downloaded when done."""

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.http import FileResponse

from apps.core.schemas import current_schema
from apps.spend.export_queries import ExportSpec
from apps.spend.models import ExportFormat, ExportStatus, SpendExport
from apps.spend.writers import export_write

CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NDJSON: "application/x-ndjson",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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


def export_progress_record(export_id: int, rows: int) -> None:
    cache.set(_progress_key(export_id), rows, timeout=24 * 3600)


def export_progress_forget(export_id: int) -> None:
    cache.delete(_progress_key(export_id))
