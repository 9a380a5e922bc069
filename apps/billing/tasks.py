"""Thin, rerun-safe tasks: each runs one service in every instance."""

from celery import shared_task

from apps.tenancy.services import instances_each
from apps.wallet.services.subscriptions import subscriptions_roll


@shared_task
def subscriptions_roll_task() -> int:
    """Each minute: pauses that ended resume; granted plans renew; trials end."""
    return instances_each(subscriptions_roll)
