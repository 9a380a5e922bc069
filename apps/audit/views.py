from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.audit.forms import AuditFilterForm
from apps.audit.selectors import AuditFilters, audit_action_names, audit_event_list
from apps.dashboard.edge import org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action

PAGE_SIZE = 50


@org_page(Action.MANAGE_ORG)
def event_list_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = AuditFilters(**form.cleaned_data) if form.is_valid() else AuditFilters()
    events = audit_event_list(organization_id=access.organization.pk, filters=filters)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "action_names": audit_action_names(organization_id=access.organization.pk),
        "query": query.urlencode(),
    }
    return render(
        request, "audit/event_list.html", context, status=400 if form.is_bound and not form.is_valid() else 200
    )
