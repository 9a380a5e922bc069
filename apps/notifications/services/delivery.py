"""Carrying an alert out: one email, one signed POST per subscribed endpoint. Each step is rerun-safe."""

import contextlib
import logging
import time
from collections.abc import Callable
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from redis.exceptions import LockError

from apps.core.money import usd_text
from apps.core.redis import redis_client, tenant_key
from apps.core.schemas import current_schema
from apps.core.secrets import secret_decrypt
from apps.notifications.models import BudgetAlert, WebhookDelivery, WebhookEndpoint
from apps.notifications.selectors import budget_alert_recipients, webhook_endpoint_ids_for_event
from apps.notifications.texts import alert_email, alert_headline, alert_percent
from apps.notifications.webhooks import webhook_post, webhook_signature
from apps.orgs.models import Organization
from apps.tenancy.models import Domain

logger = logging.getLogger("hydite.notifications")


def _dashboard_url(organization: Organization) -> str:
    base = settings.HYDITE_SITE_URL.rstrip("/")
    if current_schema() != settings.SHARED_EDGE_SCHEMA:
        domain = Domain.objects.filter(tenant__schema_name=current_schema(), is_primary=True).first()
        if domain is not None:
            base = f"{urlsplit(base).scheme or 'https'}://{domain.domain}"
    return f"{base}/o/{organization.slug}/"


def budget_alert_email(*, alert_id: int) -> bool:
    """Email the alert once: claimed by setting emailed_at, released again if sending fails."""
    claimed = BudgetAlert.objects.filter(pk=alert_id, emailed_at__isnull=True).update(emailed_at=timezone.now())
    if not claimed:
        return False
    alert = BudgetAlert.objects.select_related("organization").get(pk=alert_id)
    recipients = budget_alert_recipients(alert=alert)
    subject, body = alert_email(
        alert, organization_name=alert.organization.name, dashboard_url=_dashboard_url(alert.organization)
    )
    try:
        if recipients:
            send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
    except Exception:
        BudgetAlert.objects.filter(pk=alert_id).update(emailed_at=None)
        raise
    return bool(recipients)


def budget_alert_webhooks_queue(*, alert_id: int, deliver: Callable[[int], Any]) -> int:
    """Hand each enabled endpoint subscribed to the alert's event to `deliver`; then mark the alert queued."""
    alert = BudgetAlert.objects.filter(pk=alert_id, webhooks_queued_at__isnull=True).first()
    if alert is None:
        return 0
    endpoint_ids = webhook_endpoint_ids_for_event(organization_id=alert.organization_id, event_type=alert.event_type)
    for endpoint_id in endpoint_ids:
        deliver(endpoint_id)
    BudgetAlert.objects.filter(pk=alert_id).update(webhooks_queued_at=timezone.now())
    return len(endpoint_ids)


def webhook_event(alert: BudgetAlert) -> dict[str, Any]:
    """The event as POSTed: the same body on every attempt."""
    organization = alert.organization
    return {
        "id": alert.event_id,
        "type": alert.event_type,
        "created": int(alert.created_at.timestamp()),
        "organization": {"id": organization.pk, "slug": organization.slug, "name": organization.name},
        "data": {
            "alert_id": alert.pk,
            "layer": alert.scope,
            "layer_id": alert.scope_id,
            "name": alert.name,
            "team_id": alert.team_id,
            "threshold": alert.kind,
            "budget_micros": alert.budget_micros,
            "threshold_micros": alert.threshold_micros,
            "spent_micros": alert.spent_micros,
            "budget_usd": usd_text(alert.budget_micros),
            "spent_usd": usd_text(alert.spent_micros),
            "percent": alert_percent(alert),
            "period": {
                "duration": alert.budget_duration,
                "id": alert.period_id,
                "start": alert.period_start.isoformat(),
            },
            "message": alert_headline(alert),
        },
    }


class Delivery(Enum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # delivered before, endpoint gone or disabled, or another attempt in flight
    RETRY = "retry"
    FAILED = "failed"


def _delivered(endpoint: WebhookEndpoint, alert: BudgetAlert) -> bool:
    return WebhookDelivery.objects.filter(endpoint=endpoint, alert=alert, succeeded=True).exists()


def webhook_deliver(*, alert_id: int, endpoint_id: int, attempt: int) -> Delivery:
    """POST the alert's event to one endpoint, unless a 2xx is already recorded; log the attempt."""
    alert = BudgetAlert.objects.select_related("organization").filter(pk=alert_id).first()
    if alert is None:
        return Delivery.SKIPPED
    endpoint = WebhookEndpoint.objects.filter(
        pk=endpoint_id, enabled=True, organization_id=alert.organization_id
    ).first()
    if endpoint is None or alert.event_type not in endpoint.events or _delivered(endpoint, alert):
        return Delivery.SKIPPED
    lock = redis_client().lock(
        tenant_key(current_schema(), "webhook", endpoint.pk, alert.pk), timeout=settings.WEBHOOK_TIMEOUT_S + 30
    )
    if not lock.acquire(blocking=False):
        return Delivery.SKIPPED
    try:
        if _delivered(endpoint, alert):  # a run that held the lock before us
            return Delivery.SKIPPED
        return _post_and_log(alert, endpoint, attempt)
    finally:
        with contextlib.suppress(LockError):  # expired: only the expiry matters then
            lock.release()


def _post_and_log(alert: BudgetAlert, endpoint: WebhookEndpoint, attempt: int) -> Delivery:
    body = orjson.dumps(webhook_event(alert))
    signature = webhook_signature(
        secret=secret_decrypt(endpoint.secret_encrypted), timestamp=int(time.time()), body=body
    )
    result = webhook_post(
        url=endpoint.url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "Hydite-Signature": signature,
            "Hydite-Event-Id": alert.event_id,
            "Hydite-Event-Type": alert.event_type,
        },
        allowlist=settings.WEBHOOK_ALLOWLIST,
        require_https=settings.WEBHOOK_REQUIRE_HTTPS,
        timeout_s=settings.WEBHOOK_TIMEOUT_S,
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        alert=alert,
        event_type=alert.event_type,
        attempt=attempt,
        status_code=result.status_code,
        succeeded=result.succeeded,
        error=result.error,
        duration_ms=result.duration_ms,
        response_excerpt=result.excerpt,
    )
    if result.succeeded:
        return Delivery.DELIVERED
    # The endpoint's id and host, never its full URL (a path may hold a token) nor the secret.
    host = urlsplit(endpoint.url).hostname
    logger.warning("webhook %s (%s) attempt %d for %s: %s", endpoint.pk, host, attempt, alert.event_id, result.error)
    return Delivery.RETRY if result.retryable else Delivery.FAILED
