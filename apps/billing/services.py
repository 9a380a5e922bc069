"""Stripe webhooks: verified, handled once per event id, applied in the instance the session belongs to."""

import datetime as dt
import logging
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django_tenants.utils import schema_context

from apps.billing.errors import StripeNotConfigured, WebhookRejected
from apps.billing.models import StripeEvent
from apps.orgs.models import Organization
from apps.tenancy.models import Instance
from apps.wallet.models import EntryKind
from apps.wallet.services.ledger import wallet_credit

logger = logging.getLogger("hydite.billing")
MICROS_PER_CENT = 10_000


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


def checkout_reference(*, schema: str, organization_id: int) -> str:
    """What a Checkout Session carries as client_reference_id: where its payment goes."""
    return f"{schema}:{organization_id}"


def _organization_of(reference: str | None) -> tuple[str, int] | None:
    schema, _, organization_id = (reference or "").partition(":")
    if not organization_id.isdigit() or not Instance.objects.filter(schema_name=schema).exists():
        return None
    return schema, int(organization_id)


@transaction.atomic
def stripe_event_handle(*, event: dict[str, Any]) -> str:
    """Apply one verified event; a second delivery of the same id returns "duplicate" and changes nothing."""
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                event_id=event["id"],
                type=event["type"],
                created=dt.datetime.fromtimestamp(int(event.get("created", 0)), tz=dt.UTC),
            )
    except IntegrityError:
        return "duplicate"
    handler = HANDLERS.get(event["type"])
    outcome = handler(record, event["data"]["object"]) if handler else "ignored"
    record.outcome = outcome[:200]
    record.save(update_fields=["outcome", "schema_name"])
    return outcome


def _checkout_completed(record: StripeEvent, session: dict[str, Any]) -> str:
    if session.get("mode") != "payment":
        return f"ignored: {session.get('mode')} mode"
    if session.get("payment_status") != "paid":
        return "ignored: not paid yet"
    if session.get("currency") != "usd":
        return f"ignored: currency {session.get('currency')}"
    target = _organization_of(session.get("client_reference_id"))
    if target is None:
        logger.warning("Stripe checkout %s names no organisation of ours", session.get("id"))
        return "ignored: no organisation"
    record.schema_name, organization_id = target
    with schema_context(record.schema_name):
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return "ignored: organisation gone"
        amount = int(session["amount_total"]) * MICROS_PER_CENT
        entry = wallet_credit(
            organization=organization,
            amount_micros=amount,
            kind=EntryKind.STRIPE_PAYMENT,
            actor=None,
            reference=f"stripe:{session['id']}",  # the session, not the event: one payment credits once
            note=f"Stripe Checkout {session.get('payment_intent') or session['id']}",
        )
    return "credited" if entry is not None else "already credited"


HANDLERS = {"checkout.session.completed": _checkout_completed}
