"""Finance exports: a spend report as CSV, XLSX or NDJSON, written row by row (constant memory).

Grouped reports read the roll-ups (apps.spend.reports), so their totals are the Billing page's; an
export of every request reads the ledger's rows (kept SPEND_RETENTION_DAYS) through a server-side
cursor. Small exports are answered at once; larger ones run as a Celery job (SpendExport) whose
progress the page shows, and whose file is downloaded when it is done.
"""

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import FileResponse
from django.utils import timezone
from xlsxwriter.exceptions import XlsxWriterException

from apps.accounts.models import User
from apps.core.schemas import current_schema
from apps.orgs.models import Organization
from apps.spend.errors import ExportsBusy
from apps.spend.export_files import (
    export_file_response,
    export_path,
    export_progress_forget,
    export_progress_record,
)
from apps.spend.export_queries import ExportSpec, export_row_count
from apps.spend.models import ExportFormat, ExportStatus, SpendExport
from apps.spend.writers import export_write

logger = logging.getLogger("hydite.spend")

EXPORT_INLINE_ROWS = 10_000  # up to this many rows an export downloads at once; more run as a job
MAX_EXPORT_JOBS = 2  # queued or running per organisation: each holds a worker for a whole scan
EXPORT_STALE_AFTER = dt.timedelta(days=1)  # a job still queued or running after this was interrupted


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
                progress=lambda rows: export_progress_record(export_id, rows),
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
    export_progress_forget(export_id)
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
