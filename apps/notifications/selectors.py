import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.keys.models import VirtualKey
from apps.notifications.models import AlertScope, BudgetAlert, WebhookDelivery, WebhookEndpoint
from apps.orgs.models import Membership
from apps.orgs.roles import Role
from apps.quotas.limits import budget_period
from apps.quotas.models import BudgetDuration


def budget_alerts_open(*, organization_id: int, now: dt.datetime | None = None) -> list[BudgetAlert]:
    """The organisation's unacknowledged alerts of each duration's current period (one indexed query)."""
    now = now or timezone.now()
    current = Q()
    for duration in BudgetDuration.values:
        current |= Q(budget_duration=duration, period_id=budget_period(duration, now)[0])
    alerts = BudgetAlert.objects.filter(current, organization_id=organization_id, acknowledged_at__isnull=True)
    return list(alerts.order_by("-created_at")[:20])


def budget_alert_recipients(*, alert: BudgetAlert) -> list[str]:
    """The organisation's org admins, and the key's owner for a key alert."""
    admins = Membership.objects.filter(organization_id=alert.organization_id, team__isnull=True, role=Role.ORG_ADMIN)
    emails = set(admins.values_list("user__email", flat=True))
    if alert.scope == AlertScope.KEY:
        owners = VirtualKey.objects.filter(pk=alert.scope_id, user__isnull=False)  # a team's key has no owner
        emails.update(owners.values_list("user__email", flat=True))
    return sorted(emails)


def webhook_endpoint_ids_for_event(*, organization_id: int, event_type: str) -> list[int]:
    endpoints = WebhookEndpoint.objects.filter(
        organization_id=organization_id, enabled=True, events__contains=[event_type]
    )
    return list(endpoints.order_by("pk").values_list("pk", flat=True))


def webhook_endpoint_list(*, organization_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization_id=organization_id).order_by("created_at", "pk")


def webhook_delivery_list(*, organization_id: int, limit: int = 50) -> list[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint__organization_id=organization_id).select_related(
        "endpoint", "alert"
    )
    return list(deliveries.order_by("-created_at", "-pk")[:limit])


def budget_alerts_undelivered(*, older_than: dt.timedelta, within: dt.timedelta) -> list[BudgetAlert]:
    """Alerts whose email or webhook fan-out never ran (a broker down at commit time), recent enough to matter."""
    now = timezone.now()
    alerts = BudgetAlert.objects.filter(created_at__lt=now - older_than, created_at__gte=now - within).filter(
        Q(emailed_at__isnull=True) | Q(webhooks_queued_at__isnull=True)
    )
    return list(alerts.only("pk", "emailed_at", "webhooks_queued_at"))
