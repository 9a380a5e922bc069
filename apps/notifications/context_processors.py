from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from apps.dashboard.edge import current_org_access
from apps.notifications.access import budget_alert_ids_acknowledgeable
from apps.notifications.models import BudgetAlert
from apps.notifications.selectors import budget_alerts_open
from apps.notifications.texts import alert_headline


@dataclass(frozen=True)
class BannerAlert:
    alert: BudgetAlert
    headline: str
    can_acknowledge: bool


def budget_alert_banner(request: HttpRequest) -> dict[str, Any]:
    """The open budget alerts of the organisation a dashboard page shows (one query when there are none)."""
    access = current_org_access(request)
    if access is None:
        return {}
    alerts = budget_alerts_open(organization_id=access.organization.pk)
    if not alerts:
        return {}
    acknowledgeable = budget_alert_ids_acknowledgeable(org_access=access, alerts=alerts)
    return {
        "budget_alerts": [BannerAlert(alert, alert_headline(alert), alert.pk in acknowledgeable) for alert in alerts]
    }
