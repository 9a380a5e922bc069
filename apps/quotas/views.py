"""Settings → Quotas: the organisation's limits and usage."""

from collections.abc import Callable

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.dashboard.edge import form_saved, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action
from apps.quotas.forms import QuotaLimitsForm
from apps.quotas.selectors import quota_usage
from apps.quotas.services import quota_limits_update


def _page(request: HttpRequest, access: OrgAccess, **bound: Form) -> HttpResponse:
    """The page; `bound` holds a submitted form with errors (limits_form)."""
    organization = access.organization
    context = {
        "organization": organization,
        "usage": quota_usage(holder=organization),
        "limits_form": bound.get("limits_form")
        or (QuotaLimitsForm(holder=organization) if access.can(Action.MANAGE_ORG) else None),
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
