"""Subscribing through the Plans page and Stripe: Checkout, then Stripe's events decide what is in force
(in any order, in either payload shape, for trials, pauses and failed payments)."""

import time
import uuid

import pytest

from apps.billing.models import Plan, StripeCustomerRoute
from apps.wallet.models import EntryKind, Subscription, SubscriptionPayment, SubscriptionStatus, Wallet, WalletEntry
from apps.wallet.selectors import plan_in_force
from tests.billing.plans_flows import (
    PERIOD_START,
    USD,
    deliver,
    invoice_paid,
    plans_url,
    subscribe,
    subscription_event,
)
from tests.billing.test_stripe_webhook import webhook_event
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_subscribing_goes_through_checkout_and_stripes_events_put_the_plan_in_force(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    (_, _, customer_form), (_, session_path, session_form) = stripe_on.requests
    assert session_path == "/v1/checkout/sessions"
    assert session_form["mode"] == "subscription" and session_form["line_items[0][price]"] == "price_pro_test"
    assert session_form["client_reference_id"] == f"edge:{org.pk}" and session_form["customer"] == customer
    assert customer_form["metadata[hydite_ref]"] == f"edge:{org.pk}"
    assert plan_in_force(organization=org).slug == "free"  # nothing is in force before Stripe says so

    assert deliver(subscription_event("updated", customer, sub_id, "price_pro_test", status="active")) == "applied"
    assert plan_in_force(organization=org).slug == "pro"
    invoice = invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}")
    assert deliver(invoice) == "period paid"
    assert deliver(invoice) == "duplicate"
    invoice["id"] = f"evt_{uuid.uuid4().hex}"  # the same invoice in another event: its quota once
    deliver(invoice)
    grants = WalletEntry.objects.filter(wallet__organization=org, kind=EntryKind.PLAN_QUOTA_GRANT)
    assert [entry.amount_micros for entry in grants] == [20 * USD]
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD

    proration = invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", reason="subscription_update")
    assert deliver(proration).startswith("ignored")  # a proration pays no new bundle
    payments = SubscriptionPayment.objects.filter(organization=org).order_by("pk")  # Revenue: what Stripe collected
    assert [(p.invoice_id, p.plan.slug, p.amount_micros) for p in payments] == [  # type: ignore[union-attr]
        (invoice["data"]["object"]["id"], "pro", 20 * USD),  # amount_paid 2000 (cents), once however delivered
        (proration["data"]["object"]["id"], "pro", 20 * USD),
    ]


def test_an_invoice_paid_before_any_subscription_event_puts_the_plan_in_force(org, admin, stripe_on):
    client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "team"})  # Checkout; its completion not seen yet
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    assert deliver(invoice_paid(customer, sub_id, "in_first", price="price_team_test")) == "period paid"
    assert plan_in_force(organization=org).slug == "team"
    assert Wallet.objects.get(organization=org).plan_quota_micros == 150 * USD
    created = subscription_event("updated", customer, sub_id, "price_team_test", status="incomplete")
    assert deliver(created) == "waiting for the first payment"  # paid already: nothing to wait for, nothing moves
    assert plan_in_force(organization=org).slug == "team"
    later = subscription_event("updated", customer, sub_id, "price_team_test", status="active")
    assert deliver(later, created=int(time.time()) + 1) == "applied" and plan_in_force(organization=org).slug == "team"


def test_events_out_of_order_never_roll_the_state_back(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    now = int(time.time())
    deliver(subscription_event("updated", customer, sub_id, "price_team_test", status="active"), created=now)
    older = subscription_event("updated", customer, sub_id, "price_pro_test", status="past_due")
    assert deliver(older, created=now - 60) == "stale"
    sub = Subscription.objects.get(organization=org)
    assert (sub.status, sub.plan.slug) == (SubscriptionStatus.ACTIVE, "team")  # neither status nor plan went back
    earlier_period = subscription_event(
        "updated",
        customer,
        sub_id,
        "price_team_test",
        status="active",
        current_period_start=PERIOD_START - 30 * 86_400,
        current_period_end=PERIOD_START,
    )
    assert deliver(earlier_period, created=now + 5) == "stale: an earlier period"
    assert Subscription.objects.get(organization=org).current_period_start.timestamp() == PERIOD_START


def test_events_of_another_subscription_leave_the_one_in_force_alone(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    deliver(subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    other = f"sub_{uuid.uuid4().hex[:14]}"  # a second Checkout's subscription
    deleted = subscription_event("deleted", customer, other, "price_pro_test")
    assert deliver(deleted, created=int(time.time()) + 1) == "ignored: another subscription"
    failed = webhook_event("invoice_payment_failed", customer=customer, subscription=other)
    assert deliver(failed).startswith("ignored")
    assert Subscription.objects.get(organization=org).status == SubscriptionStatus.ACTIVE


def test_events_in_the_current_api_version_shape_are_read_too(org, admin, stripe_on):
    """Since 2025-03-31.basil periods sit on subscription items and invoices name their subscription under
    `parent` (Stripe's changelog); the recorded 2020 shapes are moved field by field to that layout."""
    customer, sub_id = subscribe(org, admin, stripe_on)
    event = subscription_event("updated", customer, sub_id, "price_pro_test", status="active")
    subscription = event["data"]["object"]
    item = subscription["items"]["data"][0]
    item["current_period_start"] = subscription.pop("current_period_start")
    item["current_period_end"] = subscription.pop("current_period_end")
    assert deliver(event) == "applied" and plan_in_force(organization=org).slug == "pro"
    invoice_event = invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}")
    invoice = invoice_event["data"]["object"]
    invoice.pop("subscription")
    invoice["parent"] = {"type": "subscription_details", "subscription_details": {"subscription": sub_id}}
    line = invoice["lines"]["data"][0]
    line.pop("type"), line.pop("price"), line.pop("proration", None)
    line["parent"] = {
        "type": "subscription_item_details",
        "subscription_item_details": {"subscription": sub_id, "proration": False},
    }
    line["pricing"] = {"type": "price_details", "price_details": {"price": "price_pro_test", "product": "prod_x"}}
    assert deliver(invoice_event) == "period paid"
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD


def test_a_failed_payment_is_past_due_and_a_deleted_subscription_is_free(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    deliver(subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    failed = webhook_event("invoice_payment_failed", customer=customer, subscription=sub_id)
    assert deliver(failed) == "past due"
    assert plan_in_force(organization=org).slug == "pro"  # Stripe retries: the plan stays meanwhile
    deliver(subscription_event("deleted", customer, sub_id, "price_pro_test"), created=int(time.time()) + 1)
    assert Subscription.objects.get(organization=org).status == SubscriptionStatus.CANCELED
    assert plan_in_force(organization=org).slug == "free"


@pytest.mark.parametrize("invoice_first", [True, False])
def test_paying_for_a_plan_after_a_trial_gives_the_paid_plan_and_its_quota(org, admin, stripe_on, invoice_first):
    from apps.wallet.services.subscriptions import subscription_grant

    subscription_grant(organization=org, plan=Plan.objects.get(slug="pro"), actor=None, days=14, trial=True)
    client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "business"})  # Checkout, from the trial
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    unpaid = subscription_event("updated", customer, sub_id, "price_business_test", status="incomplete")
    assert deliver(unpaid) == "waiting for the first payment"
    assert plan_in_force(organization=org).slug == "pro"  # the trial stays until Business is paid
    start = int(time.time()) + 1  # the subscription begins after the trial did
    invoice = invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", price="price_business_test")
    invoice["data"]["object"]["lines"]["data"][0]["period"] = {"start": start, "end": start + 30 * 86_400}
    active = subscription_event(
        "updated",
        customer,
        sub_id,
        "price_business_test",
        status="active",
        current_period_start=start,
        current_period_end=start + 30 * 86_400,
    )
    for event in [invoice, active] if invoice_first else [active, invoice]:
        deliver(event, created=int(time.time()) + 1)
    sub = Subscription.objects.get(organization=org)
    assert (sub.plan.slug, sub.status, sub.test_mode) == ("business", SubscriptionStatus.ACTIVE, False)
    grants = WalletEntry.objects.filter(wallet__organization=org, kind=EntryKind.PLAN_QUOTA_GRANT).order_by("id")
    assert [entry.amount_micros for entry in grants][-1] == 800 * USD  # Business's bundle, not the trial's
    assert Wallet.objects.get(organization=org).plan_quota_micros == 800 * USD  # the trial's quota expired


def test_a_paused_stripe_subscription_blocks_a_second_checkout(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    deliver(subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    paused = subscription_event(
        "updated", customer, sub_id, "price_pro_test", status="active", pause_collection={"behavior": "keep_as_draft"}
    )
    deliver(paused, created=int(time.time()) + 1)
    assert plan_in_force(organization=org).slug == "free"
    answer = client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "team"})
    assert answer.status_code == 409 and "Stripe subscription already" in answer.content.decode()


def test_a_subscription_that_never_pays_leaves_the_trial_alone_and_a_retried_old_event_a_grant(org, admin, stripe_on):
    from apps.wallet.services.subscriptions import subscription_grant

    subscription_grant(organization=org, plan=Plan.objects.get(slug="pro"), actor=None, days=14, trial=True)
    client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "team"})
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    completed = webhook_event(
        "checkout_session_completed_payment",
        mode="subscription",
        customer=customer,
        subscription=sub_id,
        client_reference_id=f"edge:{org.pk}",
    )
    deliver(completed)
    expired = subscription_event("updated", customer, sub_id, "price_team_test", status="incomplete_expired")
    assert deliver(expired) == "waiting for the first payment"
    sub = Subscription.objects.get(organization=org)
    assert (sub.status, sub.plan.slug, sub.stripe_status) == (SubscriptionStatus.TRIALING, "pro", "incomplete_expired")
    assert client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "team"}).status_code == 302  # may try again


def test_an_unpaid_subscription_does_not_lock_the_organisation_out(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    deliver(subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    unpaid = subscription_event("updated", customer, sub_id, "price_pro_test", status="unpaid")
    deliver(unpaid, created=int(time.time()) + 1)
    assert plan_in_force(organization=org).slug == "free"
    assert client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "pro"}).status_code == 302  # a new Checkout
