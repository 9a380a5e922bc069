"""Credit Codes and Activation Codes pages (redeem; operators mint, list, disable, export batches), and the
operators' invoiced organisations and invoices on Workspaces."""

import base64
import csv
import io
from collections.abc import Callable, Iterable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.audit.context import client_ip
from apps.core.errors import HyditeError
from apps.core.money import usd_display, usd_text
from apps.dashboard.edge import checked, form_error, form_saved, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action
from apps.orgs.views import invitation_url_base
from apps.wallet.access import access_code_batch_by_id, access_code_by_id, access_invoice_by_id, access_operator
from apps.wallet.forms import BatchFilterForm, CodeBatchMintForm, InvoicedOrganizationForm, RedeemForm
from apps.wallet.models import Code, CodeBatch, CodeKind
from apps.wallet.selectors import activation_attribution, code_batch_codes, code_batches, wallet_entries, wallet_for
from apps.wallet.services.codes import (
    MintedBatch,
    Redemption,
    code_batch_disable,
    code_batch_mint,
    code_disable,
    code_redeem,
)
from apps.wallet.services.invoices import invoice_mark_paid, organization_create_invoiced

SLUG = {CodeKind.CREDIT: "credit", CodeKind.ACTIVATION: "activation"}
# An activation code mints a key in the Default team and may start a plan: an org admin's act.
REDEEM_ACTION = {CodeKind.CREDIT: Action.USE, CodeKind.ACTIVATION: Action.MANAGE_ORG}
TITLE = {CodeKind.CREDIT: "Credit Codes", CodeKind.ACTIVATION: "Activation Codes"}


def _names(kind: str) -> dict[str, str]:
    """The URL names of one page's routes, for its template."""
    prefix = f"wallet:{SLUG[CodeKind(kind)]}"
    routes = ("codes", "redeem", "mint", "batch", "batch_disable", "batch_export", "code_disable")
    return {route: f"{prefix}_{route}" for route in routes}


def _page(
    request: HttpRequest,
    access: OrgAccess,
    kind: str,
    *,
    redeem_form: RedeemForm | None = None,
    mint_form: CodeBatchMintForm | None = None,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    staff = access.user.is_staff
    context: dict[str, object] = {
        "kind": kind,
        "title": TITLE[CodeKind(kind)],
        "names": _names(kind),
        "wallet": wallet_for(organization=access.organization),
        "entries": wallet_entries(organization=access.organization, limit=20),
        "redeem_form": redeem_form or RedeemForm(),
        "can_redeem": access.can(REDEEM_ACTION[CodeKind(kind)]),
        "staff": staff,
        **extra,
    }
    if staff:
        filters = BatchFilterForm(request.GET or None)
        filters.is_valid()
        chosen = getattr(filters, "cleaned_data", {})
        context |= {
            "filters": filters,
            "batches": code_batches(kind=kind, campaign=chosen.get("campaign", ""), state=chosen.get("state", ""))[
                :100
            ],
            "mint_form": mint_form or CodeBatchMintForm(activation=kind == CodeKind.ACTIVATION),
            "attribution": activation_attribution() if kind == CodeKind.ACTIVATION else None,
        }
    return render(request, "wallet/codes.html", context, status=status)


def codes_view(kind: str) -> Callable[..., HttpResponseBase]:
    @org_page()
    def view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
        return _page(request, access, kind)

    return view


def redeem_view(kind: str) -> Callable[..., HttpResponseBase]:
    @require_POST
    @org_page(REDEEM_ACTION[CodeKind(kind)])
    def view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
        form = RedeemForm(request.POST)
        if not form.is_valid():
            return _page(request, access, kind, redeem_form=form, status=400)
        try:
            redemption = code_redeem(
                kind=kind,
                text=form.cleaned_data["code"],
                organization=access.organization,
                user=access.user,
                client_ip=client_ip(),
            )
        except HyditeError as exc:
            form_error(form, exc)
            return _page(request, access, kind, redeem_form=form, status=exc.status)
        _redeemed_message(request, redemption)
        if redemption.key_plaintext is not None:  # shown once: render, do not redirect
            return _page(request, access, kind, new_key=redemption.key_plaintext)
        return redirect(_names(kind)["codes"], org_slug=access.organization.slug)

    return view


def _redeemed_message(request: HttpRequest, redemption: Redemption) -> None:
    parts = ["Code redeemed."]
    if redemption.entry is not None:
        balance = redemption.entry.balance_after_micros
        parts.append(f"{usd_display(redemption.entry.amount_micros)} added; balance {usd_display(balance)}.")
    if redemption.key is not None:
        parts.append(f"Your key “{redemption.key.name}” is below; copy it now.")
    messages.success(request, " ".join(parts))


def mint_view(kind: str) -> Callable[..., HttpResponseBase]:
    @require_POST
    @org_page()
    def view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
        checked(access_operator, user=access.user)
        form = CodeBatchMintForm(request.POST, activation=kind == CodeKind.ACTIVATION)
        batches: list[MintedBatch] = []
        if not form_saved(
            form,
            lambda: batches.append(code_batch_mint(kind=kind, actor=access.user, **form.mint_arguments())),  # type: ignore[arg-type]
        ):
            return _page(request, access, kind, mint_form=form, status=400)
        minted = batches[0]
        csv_text = _csv_text(
            ["code", "batch", "credit_usd", "expires_at", "campaign"],
            (
                [
                    code,
                    minted.batch.pk,
                    usd_text(minted.batch.credit_micros),
                    _when(minted.batch.expires_at),
                    minted.batch.campaign,
                ]
                for code in minted.codes
            ),
        )
        messages.success(request, f"Minted {len(minted.codes):,} codes. They are shown only now: download them.")
        return _page(
            request,
            access,
            kind,
            minted=minted,
            minted_csv=base64.b64encode(csv_text.encode()).decode(),
        )

    return view


def batch_view(kind: str) -> Callable[..., HttpResponseBase]:
    @require_GET
    @org_page()
    def view(request: HttpRequest, access: OrgAccess, batch_id: int) -> HttpResponse:
        batch = checked(access_code_batch_by_id, user=access.user, batch_id=batch_id, kind=kind)
        context = {
            "batch": batch,
            "codes": code_batch_codes(batch=batch)[:1000],
            "names": _names(kind),
            "title": TITLE[CodeKind(kind)],
        }
        return render(request, "wallet/batch.html", context)

    return view


def batch_disable_view(kind: str) -> Callable[..., HttpResponseBase]:
    @require_POST
    @org_page()
    def view(request: HttpRequest, access: OrgAccess, batch_id: int) -> HttpResponse:
        batch = checked(access_code_batch_by_id, user=access.user, batch_id=batch_id, kind=kind)
        code_batch_disable(batch=batch, actor=access.user)
        messages.success(request, f"Batch {batch.pk} disabled: none of its unredeemed codes can be redeemed now.")
        return redirect(_names(kind)["batch"], org_slug=access.organization.slug, batch_id=batch.pk)

    return view


def code_disable_view(kind: str) -> Callable[..., HttpResponseBase]:
    @require_POST
    @org_page()
    def view(request: HttpRequest, access: OrgAccess, code_id: int) -> HttpResponse:
        code = checked(access_code_by_id, user=access.user, code_id=code_id, kind=kind)
        code_disable(code=code, actor=access.user)
        messages.success(request, f"Code …{code.hint} disabled.")
        return redirect(_names(kind)["batch"], org_slug=access.organization.slug, batch_id=code.batch_id)

    return view


def batch_export_view(kind: str) -> Callable[..., HttpResponseBase]:
    @require_GET
    @org_page()
    def view(request: HttpRequest, access: OrgAccess, batch_id: int) -> HttpResponse:
        batch = checked(access_code_batch_by_id, user=access.user, batch_id=batch_id, kind=kind)
        header = [
            "code_ending",
            "status",
            "redeemed_at",
            "redeemed_by",
            "organization",
            "batch",
            "campaign",
            "distributor",
            "credit_usd",
            "expires_at",
        ]
        text = _csv_text(header, (_code_row(batch, code) for code in code_batch_codes(batch=batch).iterator()))
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{SLUG[CodeKind(kind)]}-codes-batch-{batch.pk}.csv"'
        return response

    return view


def _code_row(batch: CodeBatch, code: Code) -> list[object]:
    return [
        f"…{code.hint}",
        code.state(),
        _when(code.redeemed_at),
        code.redeemed_by.email if code.redeemed_by else "",
        code.redeemed_organization.name if code.redeemed_organization else "",
        batch.pk,
        batch.campaign,
        batch.distributor,
        usd_text(batch.credit_micros),
        _when(batch.expires_at),
    ]


def _when(value: object) -> str:
    return value.isoformat() if value is not None else ""  # type: ignore[attr-defined]


def _csv_text(header: list[str], rows: Iterable[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@require_POST
@org_page()
def invoiced_organization_create_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Operators: a sales-issued organisation, billed monthly from the ledger, never stopped by a wallet."""
    checked(access_operator, user=access.user)
    form = InvoicedOrganizationForm(request.POST)
    if form.is_valid():
        email = form.cleaned_data["admin_email"]
        try:
            organization, invitation = organization_create_invoiced(
                name=form.cleaned_data["name"],
                admin_email=email,
                actor=access.user,
                accept_url_base=invitation_url_base(request),
            )
        except HyditeError as exc:
            form_error(form, exc)
        else:
            outcome = "is its admin" if invitation is None else "was invited to be its admin (no confirmed account)"
            messages.success(request, f"Invoiced organisation {organization.name!r} created; {email} {outcome}.")
            return redirect("dashboard:workspaces", org_slug=access.organization.slug)
    messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
    return redirect("dashboard:workspaces", org_slug=access.organization.slug)


@require_POST
@org_page()
def invoice_paid_view(request: HttpRequest, access: OrgAccess, invoice_id: int) -> HttpResponse:
    invoice = checked(access_invoice_by_id, user=access.user, invoice_id=invoice_id)
    invoice_mark_paid(invoice=invoice, actor=access.user)
    messages.success(request, f"Invoice {invoice.period_start:%Y-%m} of {invoice.organization} marked paid.")
    return redirect("dashboard:workspaces", org_slug=access.organization.slug)
