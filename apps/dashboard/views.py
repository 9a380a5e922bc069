import datetime as dt
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.core.redis import redis_client
from apps.dashboard.edge import org_page
from apps.dashboard.pages import PAGES_BY_URL_NAME
from apps.keys.access import teams_where_user_may_mint
from apps.keys.forms import key_create_form
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action
from apps.orgs.selectors import organization_list_for_user, team_list
from apps.spend.selectors import impossible_usage_recent
from apps.wallet.forms import InvoicedOrganizationForm
from apps.wallet.selectors import invoices_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    organizations = organization_list_for_user(user=request.user)  # type: ignore[arg-type]
    if organizations:
        return redirect("dashboard:overview", org_slug=organizations[0].slug)
    return render(request, "dashboard/no_organization.html", {"instance": request.tenant})  # type: ignore[attr-defined]


@org_page()
def overview(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    teams = team_list(organization=access.organization)
    return render(request, "dashboard/overview.html", {"teams": teams, "instance": request.tenant})  # type: ignore[attr-defined]


def coming_page(url_name: str) -> Callable[..., HttpResponseBase]:
    """A navigation page whose content a later release fills: it says what it will hold."""
    page = PAGES_BY_URL_NAME[url_name]

    @org_page()
    def view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
        return render(request, "dashboard/coming.html", {"page": page})

    view.__name__ = url_name.split(":")[1]
    return view


@org_page()
def workspaces(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """The instance, the organisation's billing (invoices when invoiced), a key mint form; operators create
    invoiced organisations here."""
    context = {
        "instance": request.tenant,  # type: ignore[attr-defined]
        "invoices": invoices_for(organization=access.organization) if access.can(Action.MANAGE_ORG) else [],
        "key_form": key_create_form(access) if teams_where_user_may_mint(org_access=access) else None,
        "invoiced_form": InvoicedOrganizationForm() if access.user.is_staff else None,
    }
    return render(request, "dashboard/workspaces.html", context)


def _component_status() -> dict[str, str]:
    status = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = "ok"
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        status["database"] = "unavailable"
    try:
        redis_client().ping()
        status["cache"] = "ok"
    except Exception:  # noqa: BLE001
        status["cache"] = "unavailable"
    return status


@org_page()
def health(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    impossible = None
    if access.user.is_staff:  # operators: upstreams whose usage reports were refused, last day, whole instance
        impossible = impossible_usage_recent(since=timezone.now() - dt.timedelta(days=1))
    return render(request, "dashboard/health.html", {"components": _component_status(), "impossible": impossible})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness: 200 when the database and Redis answer, 503 otherwise."""
    components = _component_status()
    ok = all(value == "ok" for value in components.values())
    return JsonResponse({"status": "ok" if ok else "degraded", **components}, status=200 if ok else 503)
