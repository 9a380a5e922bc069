"""Thin, rerun-safe tasks: each runs one service in every instance."""

from celery import shared_task
from django_tenants.utils import schema_context

from apps.spend.rollups import spend_ledger_prune, spend_rollups_roll
from apps.spend.services.exports import spend_export_run, spend_exports_expire
from apps.tenancy.services import instances_each


@shared_task
def spend_rollups_roll_task() -> int:
    """Every 30 s: day and month buckets of the days whose hours changed."""
    return instances_each(spend_rollups_roll)


@shared_task
def spend_ledger_prune_task() -> int:
    """Daily: ledger rows past the retention period go; their roll-ups stay."""
    return instances_each(spend_ledger_prune)


@shared_task(acks_late=True)
def spend_export_run_task(*, schema: str, export_id: int) -> str:
    """One export job: its file, streamed; rerun-safe."""
    with schema_context(schema):
        return spend_export_run(export_id=export_id)


@shared_task
def spend_exports_expire_task() -> int:
    """Daily: export files older than SPEND_EXPORT_KEEP_DAYS are deleted."""
    return instances_each(spend_exports_expire)
