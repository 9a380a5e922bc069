"""Stripe webhooks: verified, handled once per event id, applied in the instance the organisation is in."""

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django_tenants.utils import schema_context

from apps.billing.errors import StripeNotConfigured, WebhookRejected
from apps.billing.models import Plan, StripeCustomerRoute, StripeEvent
from apps.billing.stripe_api import stripe_configured, stripe_draft_invoices_collect
from apps.billing.stripe_shapes import (
    invoice_period_line,
    invoice_proration_lines,
    invoice_subscription_id,
    subscription_period,
    subscription_price,
)
from apps.core.errors import HyditeError
from apps.core.money import MICROS_PER_CENT
from apps.orgs.models import Organization
from apps.tenancy.models import Instance
from apps.wallet.models import EntryKind
from apps.wallet.selectors import subscription_for
from apps.wallet.services.ledger import wallet_credit, wallet_stripe_refund
from apps.wallet.services.subscriptions_stripe import (
    StripeSubscriptionState,
    subscription_payment_failed,
    subscription_payment_record,
    subscription_period_paid,
    subscription_stripe_link,
    subscription_stripe_sync,
    subscription_upgrade_paid,
)

logger = logging.getLogger("hydite.billing")


def stripe_event_verify(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if `signature` (the Stripe-Signature header) is the endpoint secret's; else WebhookRejected."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise StripeNotConfigured()
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected("The Stripe-Signature header does not match this endpoint's secret.") from exc
    except ValueError as exc:
        raise WebhookRejected("The body is not a Stripe event.") from exc
    return event.to_dict()


def _organization_of(reference: str | None) -> tuple[str, int] | None:
    schema, _, organization_id = (reference or "").partition(":")
    if not organization_id.isdigit() or not Instance.objects.filter(schema_name=schema).exists():
        return None
    return schema, int(organization_id)


def _routed(record: StripeEvent, customer_id: str | None, reference: str | None = None) -> Organization | None:
    """The organisation an event is about (by its customer, else by our reference), its schema on `record`."""
    route = StripeCustomerRoute.objects.filter(customer_id=customer_id or "").first()
    target = (route.schema_name, route.organization_id) if route else _organization_of(reference)
    if target is None:
        return None
    record.schema_name = target[0]
    with schema_context(target[0]):
        return Organization.objects.filter(pk=target[1]).first()


def _when(unix: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(unix), tz=dt.UTC)


@transaction.atomic
def stripe_event_handle(*, event: dict[str, Any]) -> str:
    """Apply one verified event; a second delivery of the same id returns "duplicate" and changes nothing."""
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                event_id=event["id"], type=event["type"], created=_when(event.get("created", 0))
            )
    except IntegrityError:
        return "duplicate"
    handler = HANDLERS.get(event["type"])
    try:
        outcome = handler(record, event["data"]["object"], event) if handler else "ignored"
    except (KeyError, TypeError, ValueError) as exc:  # signed, but not the shape we read: nothing is kept
        raise WebhookRejected(f"The {event['type']} event lacks a field Hydite reads ({exc!r}).") from exc
    record.outcome = outcome[:200]
    record.save(update_fields=["outcome", "schema_name"])
    return outcome


def _checkout_completed(record: StripeEvent, session: dict[str, Any], event: dict[str, Any]) -> str:
    if session.get("mode") == "subscription":
        return _subscription_checkout_completed(record, session)
    if session.get("mode") != "payment":
        return f"ignored: {session.get('mode')} mode"
    if session.get("payment_status") != "paid":
        return "ignored: not paid yet"
    if session.get("currency") != "usd":
        return f"ignored: currency {session.get('currency')}"
    if not session.get("amount_total"):
        return "ignored: nothing paid"
    organization = _routed(record, None, session.get("client_reference_id"))
    if organization is None:
        logger.warning("Stripe checkout %s names no organisation of ours", session.get("id"))
        return "ignored: no organisation"
    with schema_context(record.schema_name):
        amount = int(session["amount_total"]) * MICROS_PER_CENT
        entry = wallet_credit(
            organization=organization,
            amount_micros=amount,
            kind=EntryKind.STRIPE_PAYMENT,
            actor=None,
            reference=f"stripe:{session['id']}",  # the session, not the event: one payment credits once
            note=f"Stripe Checkout {session.get('payment_intent') or session['id']}",
            external_id=str(session.get("payment_intent") or ""),
        )
    return "credited" if entry is not None else "already credited"


def _subscription_checkout_completed(record: StripeEvent, session: dict[str, Any]) -> str:
    """The subscription exists at Stripe now: remember it; its own events and invoices set plan and period."""
    organization = _routed(record, session.get("customer"), session.get("client_reference_id"))
    if organization is None:
        return "ignored: no organisation"
    with schema_context(record.schema_name):
        return subscription_stripe_link(
            organization=organization,
            customer_id=str(session.get("customer") or ""),
            subscription_id=str(session.get("subscription") or ""),
        )


def _subscription_changed(record: StripeEvent, subscription: dict[str, Any], event: dict[str, Any]) -> str:
    reference = (subscription.get("metadata") or {}).get("hydite_ref")
    organization = _routed(record, subscription.get("customer"), reference)
    if organization is None:
        return "ignored: no organisation"
    price_id, item_id = subscription_price(subscription)
    start, end = subscription_period(subscription)
    pause = subscription.get("pause_collection") or None
    state = StripeSubscriptionState(
        subscription_id=str(subscription["id"]),
        customer_id=str(subscription.get("customer") or ""),
        status="canceled" if event["type"] == "customer.subscription.deleted" else str(subscription.get("status")),
        price_id=price_id,
        item_id=item_id,
        period_start=_when(start),
        period_end=_when(end),
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
        paused=pause is not None,
        paused_until=_when(pause["resumes_at"]) if pause and pause.get("resumes_at") else None,
        event_at=record.created,
    )
    plan = Plan.objects.filter(stripe_price_id=price_id).first() if price_id else None
    with schema_context(record.schema_name):
        before = subscription_for(organization=organization)
        outcome = subscription_stripe_sync(organization=organization, state=state, plan=plan)
    resumed = before is not None and before.status == "paused" and not state.paused
    if outcome == "applied" and resumed and state.status in ("active", "past_due"):
        _collect_drafts(state.subscription_id)  # Stripe resumed it: the pause's draft invoices are charged now
    return outcome


def _collect_drafts(subscription_id: str) -> None:
    if not stripe_configured():
        logger.warning("subscription %s resumed, but without STRIPE_SECRET_KEY its drafts stay drafts", subscription_id)
        return
    try:
        stripe_draft_invoices_collect(subscription_id=subscription_id)
    except HyditeError as exc:  # the event is applied; an operator finalizes the drafts in Stripe
        logger.error("could not finalize the draft invoices of %s: %s", subscription_id, exc.message)


PERIOD_INVOICES = {"subscription_create", "subscription_cycle"}  # what pays for a period


def _invoice_paid(record: StripeEvent, invoice: dict[str, Any], event: dict[str, Any]) -> str:
    reason = invoice.get("billing_reason")
    if reason not in PERIOD_INVOICES and reason != "subscription_update":
        return f"ignored: {reason} invoice"
    organization = _routed(record, invoice.get("customer"))
    subscription_id = invoice_subscription_id(invoice)
    if organization is None or not subscription_id:
        return "ignored: no organisation or subscription"
    _payment_record(record, organization, invoice, event)
    if reason == "subscription_update":  # a plan change's proration, paid
        return _proration_paid(record, organization, subscription_id, invoice)
    line = invoice_period_line(invoice)
    if line is None:
        return "ignored: no subscription line"
    period, price_id = line
    plan = Plan.objects.filter(stripe_price_id=price_id).first() if price_id else None
    with schema_context(record.schema_name):
        return subscription_period_paid(
            organization=organization,
            subscription_id=subscription_id,
            plan=plan,
            invoice_id=str(invoice["id"]),
            period_start=_when(period["start"]),
            period_end=_when(period["end"]),
        )


def _payment_record(
    record: StripeEvent, organization: Organization, invoice: dict[str, Any], event: dict[str, Any]
) -> None:
    """What the invoice brought in, for Revenue, by the plan it bills (the new plan of a plan change)."""
    if invoice.get("currency") != "usd" or not invoice.get("amount_paid"):
        return
    prices = [line[1] for line in invoice_proration_lines(invoice) if line[0] > 0]
    period_line = invoice_period_line(invoice)
    price_id = prices[0] if prices else (period_line[1] if period_line else "")
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at") or event.get("created")
    with schema_context(record.schema_name):
        subscription_payment_record(
            organization=organization,
            plan=Plan.objects.filter(stripe_price_id=price_id).first() if price_id else None,
            invoice_id=str(invoice["id"]),
            amount_micros=int(invoice["amount_paid"]) * MICROS_PER_CENT,
            paid_at=_when(paid_at),
        )


def _proration_paid(
    record: StripeEvent, organization: Organization, subscription_id: str, invoice: dict[str, Any]
) -> str:
    """The plans are read from the invoice's own proration lines (what Stripe charged), not from our state."""
    lines = invoice_proration_lines(invoice)
    old = next((line for line in lines if line[0] < 0), None)
    new = next((line for line in lines if line[0] > 0), None)
    if old is None or new is None:
        return "ignored: no plan change in it"
    plans = {plan.stripe_price_id: plan for plan in Plan.objects.filter(stripe_price_id__in=[old[1], new[1]])}
    if old[1] not in plans or new[1] not in plans:
        return "ignored: unknown prices"
    period = new[2]
    with schema_context(record.schema_name):
        return subscription_upgrade_paid(
            organization=organization,
            subscription_id=subscription_id,
            invoice_id=str(invoice["id"]),
            old_plan=plans[old[1]],
            new_plan=plans[new[1]],
            remaining=_when(period["end"]) - _when(period["start"]),
        )


def _invoice_failed(record: StripeEvent, invoice: dict[str, Any], event: dict[str, Any]) -> str:
    organization = _routed(record, invoice.get("customer"))
    if organization is None:
        return "ignored: no organisation"
    with schema_context(record.schema_name):
        return subscription_payment_failed(organization=organization, subscription_id=invoice_subscription_id(invoice))


def _charge_refunded(record: StripeEvent, charge: dict[str, Any], event: dict[str, Any]) -> str:
    """A refunded top-up takes its money back out of the balance; other charges (subscriptions) bought none."""
    if charge.get("currency") != "usd":
        return f"ignored: currency {charge.get('currency')}"
    organization = _routed(record, charge.get("customer"))
    if organization is None:
        return "ignored: no organisation"
    with schema_context(record.schema_name):
        entry = wallet_stripe_refund(
            organization=organization,
            payment_id=str(charge.get("payment_intent") or ""),
            charge_id=str(charge["id"]),
            refunded_total_micros=int(charge.get("amount_refunded") or 0) * MICROS_PER_CENT,
        )
    return "refunded" if entry is not None else "nothing to take back"


Handler = Callable[[StripeEvent, dict[str, Any], dict[str, Any]], str]
HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _checkout_completed,
    # a delayed payment method (bank debit): the session completed unpaid, and is paid now
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": _invoice_paid,
    "charge.refunded": _charge_refunded,
    "invoice.payment_failed": _invoice_failed,
}
