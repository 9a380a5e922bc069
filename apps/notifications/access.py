"""Who may act on alerts and webhook endpoints (through apps.orgs.access, the one permission layer)."""

from apps.core.errors import NotFound, PermissionDenied
from apps.notifications.models import BudgetAlert, WebhookEndpoint
from apps.orgs.access import OrgAccess, access_team_by_id
from apps.orgs.roles import Action


def access_webhook_endpoint_by_id(*, org_access: OrgAccess, endpoint_id: int) -> WebhookEndpoint:
    """Endpoints are the organisation's settings: org admins only."""
    if not org_access.can(Action.MANAGE_ORG):
        raise PermissionDenied("Only org admins manage webhook endpoints.")
    endpoint = WebhookEndpoint.objects.filter(organization=org_access.organization, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("Webhook endpoint not found.")
    return endpoint


def _may_acknowledge(org_access: OrgAccess, alert: BudgetAlert) -> bool:
    """Org admins acknowledge any alert; a lead of the key's or team's team, that team's."""
    if org_access.can(Action.MANAGE_ORG):
        return True
    if alert.team_id is None:
        return False
    try:
        return access_team_by_id(org_access=org_access, team_id=alert.team_id).can(Action.MANAGE_MEMBERS)
    except NotFound:  # the team is gone
        return False


def access_budget_alert_by_id(*, org_access: OrgAccess, alert_id: int, action: Action = Action.VIEW) -> BudgetAlert:
    """Members see their organisation's alerts; acknowledging one (any other action) needs _may_acknowledge."""
    alert = BudgetAlert.objects.filter(organization=org_access.organization, pk=alert_id).first()
    if alert is None:
        raise NotFound("Alert not found.")
    if action is not Action.VIEW and not _may_acknowledge(org_access, alert):
        raise PermissionDenied("Only org admins and the team's leads may acknowledge this alert.")
    return alert


def budget_alert_ids_acknowledgeable(*, org_access: OrgAccess, alerts: list[BudgetAlert]) -> set[int]:
    return {alert.pk for alert in alerts if _may_acknowledge(org_access, alert)}
