"""Thin, rerun-safe tasks: enter the instance's schema, call one service."""

from celery import shared_task
from django_tenants.utils import schema_context

from apps.tenancy.selectors import instance_list_active
from apps.wallet.services.invoices import invoices_issue_last_month
from apps.wallet.services.ledger import wallet_periods_roll


@shared_task
def wallet_periods_roll_task() -> int:
    """Each minute: start the new metering period of every wallet whose period ended."""
    rolled = 0
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            rolled += wallet_periods_roll()
    return rolled


@shared_task
def invoices_issue_task() -> int:
    """Daily: last month's invoice of every invoiced organisation that has none yet."""
    issued = 0
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            issued += invoices_issue_last_month()
    return issued
