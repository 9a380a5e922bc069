"""Invoiced (sales-issued) organisations: created by operators, billed monthly from the spend ledger."""

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import user_by_verified_email
from apps.audit.services import audit_record
from apps.orgs.models import BillingMode, Invitation, Organization
from apps.orgs.services.organizations import organization_create, organization_create_for_invitee
from apps.spend.models import RollupPeriod, SpendRollup
from apps.wallet.models import Invoice, InvoiceStatus
from apps.wallet.periods import add_month, month_bounds


@transaction.atomic
def organization_create_invoiced(
    *, name: str, admin_email: str, actor: User, accept_url_base: str
) -> tuple[Organization, Invitation | None]:
    """An organisation that is never stopped by a wallet; its admin mints its keys.

    The admin is the account that proved `admin_email` theirs; when none has (no account, or one that never
    confirmed the address: perhaps not its owner's), the address is invited to be the admin instead.
    """
    email = admin_email.strip().lower()
    admin = user_by_verified_email(email=email)
    invitation = None
    if admin is not None:
        organization = organization_create(name=name, owner=admin, billing_mode=BillingMode.INVOICE)
    else:
        organization, invitation = organization_create_for_invitee(
            name=name, admin_email=email, actor=actor, accept_url_base=accept_url_base, billing_mode=BillingMode.INVOICE
        )
    audit_record(
        actor=actor,
        action="organization.create_invoiced",
        target=organization,
        organization_id=organization.pk,
        after={"admin": email, "invited": invitation is not None},
    )
    return organization, invitation


def _invoice_lines(*, organization_id: int, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The month's usage per model, from the hour roll-ups."""
    rows = (
        SpendRollup.objects.filter(
            period=RollupPeriod.HOUR, organization_id=organization_id, bucket__gte=start, bucket__lt=end
        )
        .values("model")
        .annotate(
            requests=Sum("requests"),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            cost_micros=Sum("cost_micros"),
        )
        .order_by("model")
    )
    return [
        {
            "model": row["model"],
            "requests": row["requests"] or 0,
            "tokens": row["tokens"] or 0,
            "cost_micros": row["cost_micros"] or 0,
        }
        for row in rows
    ]


def invoice_issue(*, organization: Organization, month_start: dt.datetime) -> Invoice:
    """The month's invoice from the ledger's hour roll-ups (exact, per model; raw rows may be pruned since).

    Issuing a month twice returns the first.
    """
    start, end = month_start, add_month(month_start)
    existing = Invoice.objects.filter(organization=organization, period_start=start).first()
    if existing is not None:
        return existing
    lines = _invoice_lines(organization_id=organization.pk, start=start, end=end)
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                organization=organization,
                period_start=start,
                period_end=end,
                amount_micros=sum(line["cost_micros"] for line in lines),
                requests=sum(line["requests"] for line in lines),
                lines=lines,
            )
            audit_record(
                actor=None,
                action="invoice.issue",
                target=invoice,
                organization_id=organization.pk,
                after={"month": f"{start:%Y-%m}", "amount_micros": invoice.amount_micros},
            )
    except IntegrityError:  # a concurrent run issued it
        return Invoice.objects.get(organization=organization, period_start=start)
    return invoice


INVOICE_GRACE = dt.timedelta(hours=1)  # spend still on its way to the ledger when a month ends


def invoices_issue_last_month(*, now: dt.datetime | None = None) -> int:
    """Beat, hourly: every month of every invoiced organisation that ended (an hour ago) and has no invoice yet.

    Months missed while the beat was down are issued too, oldest first, from the month the organisation
    became invoiced (never usage it paid for from a wallet before). Rerun-safe.
    """
    cutoff, _ = month_bounds((now or timezone.now()) - INVOICE_GRACE)  # months before this one are complete
    issued = 0
    invoiced = Organization.objects.filter(billing_mode=BillingMode.INVOICE, invoiced_since__lt=cutoff)
    for organization in invoiced:
        last = Invoice.objects.filter(organization=organization).order_by("-period_start").first()
        start = organization.invoiced_since or cutoff
        month, _ = month_bounds(start) if last is None else (last.period_end, None)
        while month < cutoff:
            invoice_issue(organization=organization, month_start=month)
            issued += 1
            month = add_month(month)
    return issued


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, actor: User) -> Invoice:
    if invoice.status != InvoiceStatus.PAID:
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, timezone.now()
        invoice.save(update_fields=["status", "paid_at"])
        audit_record(actor=actor, action="invoice.paid", target=invoice, organization_id=invoice.organization_id)
    return invoice
