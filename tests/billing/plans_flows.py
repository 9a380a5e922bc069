"""What the Plans page tests share: a period in progress, Checkout through the page, and Stripe's recorded
events delivered signed to the webhook (Stripe's API is the local stand-in of stripe_fake.py)."""

import json
import time
import uuid

from apps.billing.models import StripeCustomerRoute
from tests.billing.test_stripe_webhook import webhook_event, webhook_post, webhook_signature
from tests.conftest import client_for

USD = 1_000_000
PERIOD_START = int(time.time()) - 86_400  # a period in progress, as Stripe would send now
PERIOD_END = PERIOD_START + 30 * 86_400


def plans_url(org, tail: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/o/{org.slug}/plans/{tail}"


def deliver(event: dict, *, created: int | None = None):  # type: ignore[no-untyped-def, type-arg]
    event["created"] = created or int(time.time())
    body = json.dumps(event).encode()
    answer = webhook_post(body, webhook_signature(body))
    assert answer.status_code == 200, answer.content
    return answer.json()["outcome"]


def subscription_event(kind: str, customer: str, sub_id: str, price: str, **fields):  # type: ignore[no-untyped-def]
    name = "customer_subscription_deleted" if kind == "deleted" else "customer_subscription_updated"
    event = webhook_event(
        name, id=sub_id, customer=customer, current_period_start=PERIOD_START, current_period_end=PERIOD_END
    )
    event["data"]["object"]["items"]["data"][0]["price"]["id"] = price
    event["data"]["object"].update(fields)
    return event


def invoice_paid(  # type: ignore[no-untyped-def]
    customer: str, sub_id: str, invoice_id: str, reason: str = "subscription_create", price: str = "price_pro_test"
):
    event = webhook_event("invoice_paid", id=invoice_id, customer=customer, subscription=sub_id, billing_reason=reason)
    line = event["data"]["object"]["lines"]["data"][0]
    line.update(type="subscription", period={"start": PERIOD_START, "end": PERIOD_END})
    line["price"]["id"] = price
    return event


def subscribe(org, admin, stripe_on):  # type: ignore[no-untyped-def]
    """Checkout for Pro, then Stripe's events for it: the customer and subscription ids Stripe gave."""
    answer = client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "pro"})
    assert answer.status_code == 302, answer.content.decode()[-3000:]
    assert answer["Location"].startswith("https://checkout.stripe.com/")
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk, schema_name="edge").customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    completed = webhook_event(
        "checkout_session_completed_payment",
        mode="subscription",
        customer=customer,
        subscription=sub_id,
        client_reference_id=f"edge:{org.pk}",
    )
    assert deliver(completed) == "linked"
    return customer, sub_id
