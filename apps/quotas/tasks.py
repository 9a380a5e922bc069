"""Thin, rerun-safe tasks of the quotas app."""

from celery import shared_task

from apps.quotas.counters import budget_counters_heal
from apps.tenancy.services import instances_each


@shared_task
def budget_counters_heal_task() -> int:
    """Every minute: budget and wallet counters set to what the ledger and the requests in flight hold."""
    return instances_each(budget_counters_heal)
