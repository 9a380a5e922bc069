"""Calls to Stripe's API (low rate: httpx through the official library). Each returns what we keep."""

from typing import Any

import stripe
from django.conf import settings
from stripe._base_address import BaseAddresses

from apps.billing.errors import StripeNotConfigured, StripeUnavailable


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_required() -> None:
    if not stripe_configured():
        raise StripeNotConfigured("Stripe is not configured (test mode): operators grant plans on this page.")


def _client() -> stripe.StripeClient:
    stripe_required()
    base: BaseAddresses | None = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base,
        http_client=stripe.HTTPXClient(timeout=settings.STRIPE_TIMEOUT_S, allow_sync_methods=True),
        max_network_retries=2,
    )


def _call(operation: Any, *args: Any, params: dict[str, Any]) -> dict[str, Any]:
    try:
        result: dict[str, Any] = operation(*args, params=params).to_dict()
        return result
    except stripe.StripeError as exc:
        raise StripeUnavailable(f"Stripe refused the request: {exc.user_message or exc.code or 'error'}.") from exc


def stripe_customer_create(*, email: str, name: str, reference: str) -> str:
    customer = _call(
        _client().v1.customers.create, params={"email": email, "name": name, "metadata": {"hydite_ref": reference}}
    )
    return str(customer["id"])


def stripe_checkout_subscription(
    *, customer_id: str, price_id: str, reference: str, plan_slug: str, success_url: str, cancel_url: str
) -> str:
    """A Checkout Session in subscription mode; returns the URL to send the user to."""
    metadata = {"hydite_ref": reference, "plan": plan_slug}
    return _checkout_url(
        mode="subscription",
        customer_id=customer_id,
        reference=reference,
        line_item={"price": price_id, "quantity": 1},
        metadata=metadata,
        success_url=success_url,
        cancel_url=cancel_url,
        subscription_data={"metadata": metadata},
    )


def stripe_checkout_topup(
    *, customer_id: str, amount_cents: int, reference: str, success_url: str, cancel_url: str
) -> str:
    """A Checkout Session in payment mode for any amount of credit; returns its URL."""
    price_data = {"currency": "usd", "unit_amount": amount_cents, "product_data": {"name": "Hydite credit"}}
    return _checkout_url(
        mode="payment",
        customer_id=customer_id,
        reference=reference,
        line_item={"quantity": 1, "price_data": price_data},
        metadata={"hydite_ref": reference},
        success_url=success_url,
        cancel_url=cancel_url,
    )


def _checkout_url(
    *,
    mode: str,
    customer_id: str,
    reference: str,
    line_item: dict[str, Any],
    metadata: dict[str, str],
    success_url: str,
    cancel_url: str,
    **extra: Any,
) -> str:
    params = {
        "mode": mode,
        "customer": customer_id,
        "client_reference_id": reference,
        "line_items": [line_item],
        "metadata": metadata,
        **extra,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    session = _call(_client().v1.checkout.sessions.create, params=params)
    return str(session["url"])


def stripe_draft_invoices_collect(*, subscription_id: str) -> int:
    """Finalize the subscription's draft invoices (kept during a pause) so that Stripe charges them."""
    client = _client()
    drafts = _call(client.v1.invoices.list, params={"subscription": subscription_id, "status": "draft", "limit": 10})
    for invoice in drafts.get("data", []):
        _call(client.v1.invoices.finalize_invoice, invoice["id"], params={"auto_advance": True})
    return len(drafts.get("data", []))


def stripe_subscription_price_set(
    *, subscription_id: str, item_id: str, price_id: str, prorate: bool
) -> dict[str, Any]:
    """An upgrade's proration is invoiced (and charged) at once; a downgrade is billed from the next period.

    With `pending_if_incomplete` a declined upgrade changes nothing at Stripe (its pending_update says so).
    """
    params: dict[str, Any] = {
        "items": [{"id": item_id, "price": price_id}],
        "proration_behavior": "always_invoice" if prorate else "none",
    }
    if prorate:
        params["payment_behavior"] = "pending_if_incomplete"
    return _call(_client().v1.subscriptions.update, subscription_id, params=params)


def stripe_subscription_pause(*, subscription_id: str, resumes_at: int | None) -> dict[str, Any]:
    """Pause collection until `resumes_at` (Unix time), or resume it (None).

    Invoices of the pause stay drafts (a voided one would give the rest of its period for free); on
    resuming they are finalized and collected (`stripe_draft_invoices_collect`).
    """
    pause: Any = {"behavior": "keep_as_draft", "resumes_at": resumes_at} if resumes_at is not None else ""
    return _call(_client().v1.subscriptions.update, subscription_id, params={"pause_collection": pause})
