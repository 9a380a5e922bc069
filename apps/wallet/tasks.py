"""Thin, rerun-safe tasks: each runs one service in every instance."""

from celery import shared_task

from apps.tenancy.services import instances_each
from apps.wallet.services.invoices import invoices_issue_last_month
from apps.wallet.services.ledger import wallet_periods_roll, wallet_snapshots_heal


@shared_task
def wallet_periods_roll_task() -> int:
    """Each minute: start the new metering period of every wallet whose period ended."""
    return instances_each(wallet_periods_roll)


@shared_task
def invoices_issue_task() -> int:
    """Hourly: last month's invoice of every invoiced organisation that has none yet."""
    return instances_each(invoices_issue_last_month)


@shared_task
def wallet_snapshots_heal_task() -> int:
    """Each minute: key snapshots of lately changed wallets that Redis holds stale are published again."""
    return instances_each(wallet_snapshots_heal)
