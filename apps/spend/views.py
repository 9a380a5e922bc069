from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import HyditeError
from apps.dashboard.edge import checked, form_error, org_page
from apps.orgs.access import OrgAccess
from apps.spend.dashboards import billing_page, revenue_page
from apps.spend.export_files import export_file_download, export_path, export_progress
from apps.spend.export_queries import ExportSpec, export_spec_refusal
from apps.spend.forms import ExportForm, ReconciliationForm, ReportRangeForm
from apps.spend.models import ExportStatus, SpendExport
from apps.spend.reconciliation import (
    DRIFT_LIMIT,
    MAX_INVOICE_BYTES,
    InvoiceUnreadable,
    provider_invoice_days,
    reconciliation_days,
    summed_days,
)
from apps.spend.reports import ReportQuery
from apps.spend.services.exports import spend_export_deliver
from apps.wallet.access import access_operator

RECENT_EXPORTS = 10


def _page(
    request: HttpRequest, access: OrgAccess, *, export_form: ExportForm | None = None, status: int = 200
) -> HttpResponse:
    form = ReportRangeForm(request.GET)  # every field is optional: no parameters is the last seven days
    page = None
    if form.is_valid():
        data = form.cleaned_data
        query = ReportQuery(
            start=data["start"],
            end=data["end"],
            organization_id=access.organization.pk,
            bucket=data["bucket"],
            filters=form.filters(),
        )
        page = billing_page(query, dimension=data["by"])
        # the inputs show the range in force (the defaults included)
        form.data = {**request.GET.dict(), "start": data["start"].isoformat(), "end": data["end"].isoformat()}
        initial = {"start": data["start"], "end": data["end"], **form.filters()}
        export_form = export_form or ExportForm(initial=initial | {"group_by": [data["by"]], "bucket": "day"})
    exports = list(
        SpendExport.objects.filter(organization=access.organization).order_by("-created_at")[:RECENT_EXPORTS]
    )
    for export in exports:
        export.rows_done = export_progress(export)  # type: ignore[attr-defined]
    context = {
        "form": form,
        "page": page,
        "export_form": export_form,
        "exports": exports,
        "export_keep_days": settings.SPEND_EXPORT_KEEP_DAYS,
        "exports_running": any(e.status in (ExportStatus.PENDING, ExportStatus.RUNNING) for e in exports),
    }
    return render(request, "spend/billing.html", context, status=status if page is not None else 400)


@org_page()
def billing_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Spend and budgets drilled down by key, user, team, channel, model or feature; token roll-ups; leaders."""
    return _page(request, access)


@require_POST
@org_page()
def export_view(request: HttpRequest, access: OrgAccess) -> HttpResponseBase:
    """A small export downloads at once; a larger one is queued and shown with its progress on the page."""
    form = ExportForm(request.POST)
    if not form.is_valid():
        return _page(request, access, export_form=form, status=400)
    data = form.cleaned_data
    query = ReportQuery(
        start=data["start"],
        end=data["end"],
        organization_id=access.organization.pk,
        bucket="" if data["every_request"] else data["bucket"],
        group_by=() if data["every_request"] else tuple(data["group_by"]),
        filters=form.filters(),
    )
    spec = ExportSpec(query=query, every_request=data["every_request"])
    refusal = export_spec_refusal(spec)
    if refusal:
        form.add_error(None, refusal)
        return _page(request, access, export_form=form, status=400)
    try:
        delivered = spend_export_deliver(
            organization=access.organization, user=access.user, spec=spec, fmt=data["format"]
        )
    except HyditeError as exc:
        form.add_error(None, exc.message)
        return _page(request, access, export_form=form, status=exc.status)
    if not isinstance(delivered, SpendExport):
        return delivered
    return redirect(reverse("spend:billing", args=[access.organization.slug]) + "#exports")


@org_page()
def export_download_view(request: HttpRequest, access: OrgAccess, export_id: int) -> HttpResponseBase:
    export = SpendExport.objects.filter(
        pk=export_id, organization=access.organization, status=ExportStatus.DONE
    ).first()
    if export is None or not export_path(export).exists():
        raise Http404("No such export.")
    return export_file_download(export)


@org_page()
def revenue_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Operators only: every instance's income (plans, top-ups), codes redeemed and usage cost, by month."""
    checked(access_operator, user=access.user)
    return render(request, "spend/revenue.html", {"instances": revenue_page()})


@org_page()
def reconciliation_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Operators only: an uploaded provider invoice against the ledger, per day; drift over 5 % flagged."""
    checked(access_operator, user=access.user)
    form = ReconciliationForm(request.POST or None, request.FILES or None)
    days = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["invoice"]
        try:
            if upload.size > MAX_INVOICE_BYTES:
                raise InvoiceUnreadable("The invoice CSV is larger than 5 MB.", param="invoice")
            invoice = provider_invoice_days(upload.read(MAX_INVOICE_BYTES + 1))
        except HyditeError as exc:
            form_error(form, exc)
        else:
            days = reconciliation_days(provider=form.cleaned_data["provider"], invoice=invoice)
    context = {
        "form": form,
        "days": days,
        "flagged": [day for day in days or () if day.flagged],
        "totals": summed_days(days) if days else None,
        "drift_limit": int(DRIFT_LIMIT * 100),
    }
    return render(request, "spend/reconciliation.html", context, status=400 if form.errors else 200)
