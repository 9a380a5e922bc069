"""Thin, rerun-safe tasks: each runs one service in every instance."""

from celery import shared_task

from apps.keys.snapshots import key_snapshots_publish_all
from apps.tenancy.services import instances_each
from apps.wallet.services.subscriptions import subscriptions_roll


@shared_task
def subscriptions_roll_task() -> int:
    """Each minute: pauses that ended resume; granted plans renew; trials end."""
    return instances_each(subscriptions_roll)


@shared_task
def plans_changed_publish_task() -> int:
    """After an operator edits a plan: every key snapshot carries plan caps, so all are rebuilt."""
    return instances_each(key_snapshots_publish_all)
