"""Thin, rerun-safe tasks: enter the instance's schema, call one service."""

from celery import shared_task
from django_tenants.utils import schema_context

from apps.tenancy.selectors import instance_list_active
from apps.wallet.services.subscriptions import subscriptions_roll


@shared_task
def subscriptions_roll_task() -> int:
    """Each minute: pauses that ended resume; granted plans renew; trials end."""
    rolled = 0
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            rolled += subscriptions_roll()
    return rolled
