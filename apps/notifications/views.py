from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.errors import HyditeError
from apps.dashboard.edge import checked, form_error, org_page
from apps.notifications.access import access_budget_alert_by_id, access_webhook_endpoint_by_id
from apps.notifications.forms import WebhookEndpointForm, WebhookEndpointToggleForm
from apps.notifications.selectors import webhook_delivery_list, webhook_endpoint_list
from apps.notifications.services.alerts import budget_alert_acknowledge
from apps.notifications.services.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_set_enabled,
)
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action


def _page(
    request: HttpRequest,
    access: OrgAccess,
    *,
    form: WebhookEndpointForm | None = None,
    new_secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "endpoints": webhook_endpoint_list(organization_id=access.organization.pk),
        "deliveries": webhook_delivery_list(organization_id=access.organization.pk),
        "form": form or WebhookEndpointForm(),
        "new_secret": new_secret,
    }
    response = render(request, "notifications/settings.html", context, status=status)
    if new_secret:
        response["Cache-Control"] = "no-store"  # the one response that holds the signing secret
    return response


@org_page(Action.MANAGE_ORG)
def settings_notifications_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _page(request, access)


@require_POST
@org_page(Action.MANAGE_ORG)
def webhook_endpoint_create_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, access, form=form, status=400)
    try:
        _, secret = webhook_endpoint_create(
            organization=access.organization,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            actor=access.user,
        )
    except HyditeError as exc:
        form_error(form, exc)
        return _page(request, access, form=form, status=400)
    return _page(request, access, new_secret=secret)


@require_POST
@org_page(Action.MANAGE_ORG)
def webhook_endpoint_toggle_view(request: HttpRequest, access: OrgAccess, endpoint_id: int) -> HttpResponse:
    endpoint = checked(access_webhook_endpoint_by_id, org_access=access, endpoint_id=endpoint_id)
    form = WebhookEndpointToggleForm(request.POST)
    form.is_valid()
    webhook_endpoint_set_enabled(endpoint=endpoint, enabled=form.cleaned_data.get("enabled", False), actor=access.user)
    messages.success(request, f"Webhook endpoint {'enabled' if endpoint.enabled else 'disabled'}.")
    return redirect("dashboard:settings_notifications", org_slug=access.organization.slug)


@require_POST
@org_page(Action.MANAGE_ORG)
def webhook_endpoint_delete_view(request: HttpRequest, access: OrgAccess, endpoint_id: int) -> HttpResponse:
    endpoint = checked(access_webhook_endpoint_by_id, org_access=access, endpoint_id=endpoint_id)
    webhook_endpoint_delete(endpoint=endpoint, actor=access.user)
    messages.success(request, "Webhook endpoint removed.")
    return redirect("dashboard:settings_notifications", org_slug=access.organization.slug)


@require_POST
@org_page()
def budget_alert_acknowledge_view(request: HttpRequest, access: OrgAccess, alert_id: int) -> HttpResponse:
    alert = checked(access_budget_alert_by_id, org_access=access, alert_id=alert_id, action=Action.MANAGE_MEMBERS)
    budget_alert_acknowledge(alert=alert, actor=access.user)
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(next_url)
    return redirect("dashboard:overview", org_slug=access.organization.slug)
