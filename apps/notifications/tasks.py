"""Thin, rerun-safe tasks: enter the instance's schema, call one service."""

import datetime as dt

from celery import Task, shared_task
from django.conf import settings
from django_tenants.utils import schema_context

from apps.notifications.selectors import budget_alerts_undelivered
from apps.notifications.services.delivery import (
    Delivery,
    budget_alert_email,
    budget_alert_webhooks_queue,
    webhook_deliver,
)
from apps.tenancy.selectors import instance_list_active


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=3)
def budget_alert_email_task(*, schema: str, alert_id: int) -> bool:
    with schema_context(schema):
        return budget_alert_email(alert_id=alert_id)


@shared_task(acks_late=True)
def budget_alert_webhooks_task(*, schema: str, alert_id: int) -> int:
    def deliver(endpoint_id: int) -> None:
        webhook_deliver_task.delay(schema=schema, alert_id=alert_id, endpoint_id=endpoint_id)

    with schema_context(schema):
        return budget_alert_webhooks_queue(alert_id=alert_id, deliver=deliver)


@shared_task(bind=True, acks_late=True, max_retries=None)
def webhook_deliver_task(self: Task, *, schema: str, alert_id: int, endpoint_id: int) -> str:
    """One attempt; a retryable failure comes back after WEBHOOK_RETRY_BASE_S * 2**(attempt - 1) s."""
    attempt = self.request.retries + 1
    with schema_context(schema):
        outcome = webhook_deliver(alert_id=alert_id, endpoint_id=endpoint_id, attempt=attempt)
    if outcome is Delivery.RETRY and attempt < settings.WEBHOOK_MAX_ATTEMPTS:
        raise self.retry(countdown=settings.WEBHOOK_RETRY_BASE_S * 2 ** (attempt - 1))
    return outcome.value


@shared_task
def budget_alerts_dispatch_pending_task() -> int:
    """Every few minutes: re-queue what a broker outage at commit time left undone (rerun-safe)."""
    queued = 0
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            pending = budget_alerts_undelivered(older_than=dt.timedelta(minutes=2), within=dt.timedelta(days=1))
        for alert in pending:
            if alert.emailed_at is None:
                budget_alert_email_task.delay(schema=instance.schema_name, alert_id=alert.pk)
            if alert.webhooks_queued_at is None:
                budget_alert_webhooks_task.delay(schema=instance.schema_name, alert_id=alert.pk)
            queued += 1
    return queued
