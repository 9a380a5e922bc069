"""Settings → Quotas: the organisation's limits and usage, and (operators of the Shared Edge) the gateway layer."""

from collections.abc import Callable
from dataclasses import asdict

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.dashboard.edge import checked, form_saved, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action
from apps.quotas.access import access_gateway_defaults, gateway_defaults_allowed
from apps.quotas.forms import GatewayDefaultsForm, QuotaLimitsForm
from apps.quotas.limits import gateway_defaults_env
from apps.quotas.selectors import gateway_defaults_saved, quota_usage
from apps.quotas.services import gateway_defaults_reset, gateway_defaults_update, quota_limits_update


def _page(request: HttpRequest, access: OrgAccess, **bound: Form) -> HttpResponse:
    """The page; `bound` holds a submitted form with errors (limits_form or defaults_form)."""
    organization = access.organization
    context = {
        "organization": organization,
        "usage": quota_usage(holder=organization),
        "limits_form": bound.get("limits_form")
        or (QuotaLimitsForm(holder=organization) if access.can(Action.MANAGE_ORG) else None),
    }
    if gateway_defaults_allowed(user=access.user, instance=request.tenant):  # type: ignore[attr-defined]
        saved = gateway_defaults_saved()
        effective = saved or gateway_defaults_env()
        context |= {
            "gateway_defaults": effective,
            "gateway_defaults_saved": saved is not None,
            "defaults_form": bound.get("defaults_form") or GatewayDefaultsForm(initial=asdict(effective)),
        }
    return render(request, "quotas/settings.html", context, status=400 if bound else 200)


@org_page()
def quota_settings_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _page(request, access)


def _back(access: OrgAccess) -> HttpResponse:
    return redirect("quotas:settings", org_slug=access.organization.slug)


def _submit(
    request: HttpRequest, access: OrgAccess, form: Form, save: Callable[[], object], *, saved: str, form_name: str
) -> HttpResponse:
    """Save and go back to the page, or show it again with the form's errors (`form_name` in its context)."""
    if form_saved(form, save):
        messages.success(request, saved)
        return _back(access)
    return _page(request, access, **{form_name: form})


@require_POST
@org_page(Action.MANAGE_ORG)  # as POST /organization/update
def organization_limits_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    organization = access.organization
    form = QuotaLimitsForm(request.POST, holder=organization)

    def save() -> None:
        quota_limits_update(holder=organization, actor=access.user, **form.changes())

    return _submit(request, access, form, save, saved="Organisation limits saved.", form_name="limits_form")


@require_POST
@org_page()
def gateway_defaults_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    checked(access_gateway_defaults, user=access.user, instance=request.tenant)  # type: ignore[attr-defined]
    form = GatewayDefaultsForm(request.POST)

    def save() -> None:
        gateway_defaults_update(defaults=form.defaults(), actor=access.user)

    saved = "Gateway defaults saved; the gateway applies them within a second."
    return _submit(request, access, form, save, saved=saved, form_name="defaults_form")


@require_POST
@org_page()
def gateway_defaults_reset_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    checked(access_gateway_defaults, user=access.user, instance=request.tenant)  # type: ignore[attr-defined]
    gateway_defaults_reset(actor=access.user)
    messages.success(request, "The environment's gateway defaults apply again.")
    return _back(access)
