"""What people read about an alert: the banner line, the email. Names and amounts only, never secrets."""

from apps.core.money import usd_cents_text
from apps.notifications.models import AlertKind, AlertScope, BudgetAlert

PERIOD_WORDS = {"daily": "daily", "weekly": "weekly", "monthly": "monthly", "total": "total"}


def alert_holder_text(alert: BudgetAlert) -> str:
    if alert.scope == AlertScope.KEY:
        return f'Key "{alert.name}"'
    return f"{AlertScope(alert.scope).label} {alert.name}"


def alert_percent(alert: BudgetAlert) -> int:
    return alert.spent_micros * 100 // alert.budget_micros if alert.budget_micros else 100


def alert_headline(alert: BudgetAlert) -> str:
    """'Team Research has used 82 % of its monthly budget ($41.00 of $50.00)'."""
    period = PERIOD_WORDS.get(alert.budget_duration, alert.budget_duration)
    amounts = f"{usd_cents_text(alert.spent_micros)} of {usd_cents_text(alert.budget_micros)}"
    if alert.kind == AlertKind.SOFT_BUDGET:
        return f"{alert_holder_text(alert)} has reached its {period} soft budget ({amounts})"
    return f"{alert_holder_text(alert)} has used {alert_percent(alert)} % of its {period} budget ({amounts})"


def alert_email(alert: BudgetAlert, *, organization_name: str, dashboard_url: str) -> tuple[str, str]:
    """Subject and body of the alert's email."""
    headline = alert_headline(alert)
    threshold = (
        "the soft budget (alert only: requests are not refused)"
        if alert.kind == AlertKind.SOFT_BUDGET
        else f"80 % of the hard budget (requests are refused at {usd_cents_text(alert.budget_micros)})"
    )
    body = "\n".join(
        [
            f"{headline}.",
            "",
            f"Organisation: {organization_name}",
            f"Layer: {alert_holder_text(alert)}",
            f"Threshold: {threshold}",
            f"Spend this period: {usd_cents_text(alert.spent_micros)} ({alert_percent(alert)} % of "
            f"{usd_cents_text(alert.budget_micros)})",
            f"Period: {alert.budget_duration}, since {alert.period_start:%Y-%m-%d} (UTC)",
            "",
            f"Dashboard: {dashboard_url}",
            "",
            "You receive this as an org admin of the organisation, or as the key's owner.",
        ]
    )
    return f"[Hydite] {headline}", body + "\n"
