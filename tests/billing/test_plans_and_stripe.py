"""Subscribing through the Plans page and Stripe: Checkout, then Stripe's events decide what is in force.

Stripe's API is a local HTTP stand-in with recorded object shapes (stripe_fake.py); webhooks are the
recorded event shapes, signed with Stripe's scheme.
"""

import json
import time
import uuid

import pytest

from apps.billing.models import Plan, StripeCustomerRoute
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create
from apps.wallet.models import EntryKind, Subscription, SubscriptionPayment, SubscriptionStatus, Wallet, WalletEntry
from apps.wallet.selectors import plan_in_force
from tests.billing.stripe_fake import fake_stripe_server
from tests.billing.test_stripe_webhook import SECRET, webhook_event, webhook_post, webhook_signature
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
USD = 1_000_000
PERIOD_START = int(time.time()) - 86_400  # a period in progress, as Stripe would send now
PERIOD_END = PERIOD_START + 30 * 86_400


@pytest.fixture
def stripe_on(settings):  # type: ignore[no-untyped-def]
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_SECRET_KEY = "sk_test_" + uuid.uuid4().hex
    for slug in ("pro", "team", "business"):
        Plan.objects.filter(slug=slug).update(stripe_price_id=f"price_{slug}_test")
    with fake_stripe_server() as fake:
        settings.STRIPE_API_BASE = fake.url
        yield fake


@pytest.fixture
def admin(edge, make_user):  # type: ignore[no-untyped-def]
    return make_user()


@pytest.fixture
def org(admin):  # type: ignore[no-untyped-def]
    return organization_create(name=f"Paying {uuid.uuid4().hex[:6]}", owner=admin, billing_mode=BillingMode.PREPAID)


def _url(org, tail: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/o/{org.slug}/plans/{tail}"


def _deliver(event: dict, *, created: int | None = None):  # type: ignore[no-untyped-def, type-arg]
    event["created"] = created or int(time.time())
    body = json.dumps(event).encode()
    answer = webhook_post(body, webhook_signature(body))
    assert answer.status_code == 200, answer.content
    return answer.json()["outcome"]


def _subscription_event(kind: str, customer: str, sub_id: str, price: str, **fields):  # type: ignore[no-untyped-def]
    name = "customer_subscription_deleted" if kind == "deleted" else "customer_subscription_updated"
    event = webhook_event(
        name, id=sub_id, customer=customer, current_period_start=PERIOD_START, current_period_end=PERIOD_END
    )
    event["data"]["object"]["items"]["data"][0]["price"]["id"] = price
    event["data"]["object"].update(fields)
    return event


def _invoice_paid(  # type: ignore[no-untyped-def]
    customer: str, sub_id: str, invoice_id: str, reason: str = "subscription_create", price: str = "price_pro_test"
):
    event = webhook_event("invoice_paid", id=invoice_id, customer=customer, subscription=sub_id, billing_reason=reason)
    line = event["data"]["object"]["lines"]["data"][0]
    line.update(type="subscription", period={"start": PERIOD_START, "end": PERIOD_END})
    line["price"]["id"] = price
    return event


def _subscribe(org, admin, stripe_on):  # type: ignore[no-untyped-def]
    """Checkout for Pro, then Stripe's events for it: the customer and subscription ids Stripe gave."""
    answer = client_for(admin).post(_url(org, "subscribe/"), {"plan": "pro"})
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
    assert _deliver(completed) == "linked"
    return customer, sub_id


def test_subscribing_goes_through_checkout_and_stripes_events_put_the_plan_in_force(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    (_, _, customer_form), (_, session_path, session_form) = stripe_on.requests
    assert session_path == "/v1/checkout/sessions"
    assert session_form["mode"] == "subscription" and session_form["line_items[0][price]"] == "price_pro_test"
    assert session_form["client_reference_id"] == f"edge:{org.pk}" and session_form["customer"] == customer
    assert customer_form["metadata[hydite_ref]"] == f"edge:{org.pk}"
    assert plan_in_force(organization=org).slug == "free"  # nothing is in force before Stripe says so

    assert _deliver(_subscription_event("updated", customer, sub_id, "price_pro_test", status="active")) == "applied"
    assert plan_in_force(organization=org).slug == "pro"
    invoice = _invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}")
    assert _deliver(invoice) == "period paid"
    assert _deliver(invoice) == "duplicate"
    invoice["id"] = f"evt_{uuid.uuid4().hex}"  # the same invoice in another event: its quota once
    _deliver(invoice)
    grants = WalletEntry.objects.filter(wallet__organization=org, kind=EntryKind.PLAN_QUOTA_GRANT)
    assert [entry.amount_micros for entry in grants] == [20 * USD]
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD

    proration = _invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", reason="subscription_update")
    assert _deliver(proration).startswith("ignored")  # a proration pays no new bundle
    payments = SubscriptionPayment.objects.filter(organization=org).order_by("pk")  # Revenue: what Stripe collected
    assert [(p.invoice_id, p.plan.slug, p.amount_micros) for p in payments] == [  # type: ignore[union-attr]
        (invoice["data"]["object"]["id"], "pro", 20 * USD),  # amount_paid 2000 (cents), once however delivered
        (proration["data"]["object"]["id"], "pro", 20 * USD),
    ]


def test_an_invoice_paid_before_any_subscription_event_puts_the_plan_in_force(org, admin, stripe_on):
    client_for(admin).post(_url(org, "subscribe/"), {"plan": "team"})  # Checkout; its completion not seen yet
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    assert _deliver(_invoice_paid(customer, sub_id, "in_first", price="price_team_test")) == "period paid"
    assert plan_in_force(organization=org).slug == "team"
    assert Wallet.objects.get(organization=org).plan_quota_micros == 150 * USD
    created = _subscription_event("updated", customer, sub_id, "price_team_test", status="incomplete")
    assert _deliver(created) == "waiting for the first payment"  # paid already: nothing to wait for, nothing moves
    assert plan_in_force(organization=org).slug == "team"
    later = _subscription_event("updated", customer, sub_id, "price_team_test", status="active")
    assert _deliver(later, created=int(time.time()) + 1) == "applied" and plan_in_force(organization=org).slug == "team"


def test_events_out_of_order_never_roll_the_state_back(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    now = int(time.time())
    _deliver(_subscription_event("updated", customer, sub_id, "price_team_test", status="active"), created=now)
    older = _subscription_event("updated", customer, sub_id, "price_pro_test", status="past_due")
    assert _deliver(older, created=now - 60) == "stale"
    sub = Subscription.objects.get(organization=org)
    assert (sub.status, sub.plan.slug) == (SubscriptionStatus.ACTIVE, "team")  # neither status nor plan went back
    earlier_period = _subscription_event(
        "updated",
        customer,
        sub_id,
        "price_team_test",
        status="active",
        current_period_start=PERIOD_START - 30 * 86_400,
        current_period_end=PERIOD_START,
    )
    assert _deliver(earlier_period, created=now + 5) == "stale: an earlier period"
    assert Subscription.objects.get(organization=org).current_period_start.timestamp() == PERIOD_START


def test_events_of_another_subscription_leave_the_one_in_force_alone(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    _deliver(_subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    other = f"sub_{uuid.uuid4().hex[:14]}"  # a second Checkout's subscription
    deleted = _subscription_event("deleted", customer, other, "price_pro_test")
    assert _deliver(deleted, created=int(time.time()) + 1) == "ignored: another subscription"
    failed = webhook_event("invoice_payment_failed", customer=customer, subscription=other)
    assert _deliver(failed).startswith("ignored")
    assert Subscription.objects.get(organization=org).status == SubscriptionStatus.ACTIVE


def test_events_in_the_current_api_version_shape_are_read_too(org, admin, stripe_on):
    """Since 2025-03-31.basil periods sit on subscription items and invoices name their subscription under
    `parent` (Stripe's changelog); the recorded 2020 shapes are moved field by field to that layout."""
    customer, sub_id = _subscribe(org, admin, stripe_on)
    event = _subscription_event("updated", customer, sub_id, "price_pro_test", status="active")
    subscription = event["data"]["object"]
    item = subscription["items"]["data"][0]
    item["current_period_start"] = subscription.pop("current_period_start")
    item["current_period_end"] = subscription.pop("current_period_end")
    assert _deliver(event) == "applied" and plan_in_force(organization=org).slug == "pro"
    invoice_event = _invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}")
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
    assert _deliver(invoice_event) == "period paid"
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD


def test_a_failed_payment_is_past_due_and_a_deleted_subscription_is_free(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    _deliver(_subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    failed = webhook_event("invoice_payment_failed", customer=customer, subscription=sub_id)
    assert _deliver(failed) == "past due"
    assert plan_in_force(organization=org).slug == "pro"  # Stripe retries: the plan stays meanwhile
    _deliver(_subscription_event("deleted", customer, sub_id, "price_pro_test"), created=int(time.time()) + 1)
    assert Subscription.objects.get(organization=org).status == SubscriptionStatus.CANCELED
    assert plan_in_force(organization=org).slug == "free"


def test_upgrade_is_prorated_at_stripe_and_immediate_downgrade_waits_and_pause_is_sent(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    _deliver(_subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    _deliver(_invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}"))  # Pro's period: $20 of quota
    client = client_for(admin)
    assert client.post(_url(org, "subscribe/"), {"plan": "business"}).status_code == 302
    method, path, form = stripe_on.requests[-1]
    assert (method, path) == ("POST", f"/v1/subscriptions/{sub_id}")
    assert form["items[0][price]"] == "price_business_test" and form["proration_behavior"] == "always_invoice"
    assert plan_in_force(organization=org).slug == "business"
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD  # nothing before Stripe is paid
    now = int(time.time())
    proration = _invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", reason="subscription_update")
    lines = proration["data"]["object"]["lines"]["data"]
    unused = {
        **lines[0],
        "amount": -1500,
        "proration": True,
        "type": "invoiceitem",
        "period": {"start": now, "end": PERIOD_END},
        "price": {**lines[0]["price"], "id": "price_pro_test"},
    }
    remaining = {**unused, "amount": 50000, "price": {**lines[0]["price"], "id": "price_business_test"}}
    proration["data"]["object"]["lines"]["data"] = [unused, remaining]
    assert _deliver(proration) == "upgrade quota granted"  # the extra quota once Stripe was paid for it
    extra = Wallet.objects.get(organization=org).plan_quota_micros - 20 * USD
    expected = 780 * USD * (PERIOD_END - now) // (PERIOD_END - PERIOD_START)
    assert abs(extra - expected) <= 780 * USD // 86_400  # pro-rated to the time charged (to the second)
    assert _deliver({**proration, "id": f"evt_{uuid.uuid4().hex}"}) == "upgrade quota granted"  # same invoice
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD + extra  # granted once

    assert client.post(_url(org, "subscribe/"), {"plan": "team"}).status_code == 302
    assert stripe_on.requests[-1][2]["proration_behavior"] == "none"
    sub = Subscription.objects.get(organization=org)
    assert (sub.plan.slug, sub.pending_plan.slug) == ("business", "team")
    # Stripe reports the new price at once; the plan in force changes only with the next period:
    echo = _subscription_event("updated", customer, sub_id, "price_team_test", status="active")
    _deliver(echo, created=int(time.time()) + 1)
    assert plan_in_force(organization=org).slug == "business"
    next_period = _subscription_event(
        "updated",
        customer,
        sub_id,
        "price_team_test",
        status="active",
        current_period_start=PERIOD_END,
        current_period_end=PERIOD_END + 28 * 86_400,
    )
    _deliver(next_period, created=int(time.time()) + 2)
    assert plan_in_force(organization=org).slug == "team"

    assert client.post(_url(org, "pause/"), {"days": "10"}).status_code == 302
    pause = stripe_on.requests[-1][2]
    assert pause["pause_collection[behavior]"] == "keep_as_draft"
    assert int(pause["pause_collection[resumes_at]"]) > time.time()
    assert plan_in_force(organization=org).slug == "free"
    assert client.post(_url(org, "resume/")).status_code == 302
    paths = [path for _, path, _ in stripe_on.requests[-3:]]
    assert paths[0] == f"/v1/subscriptions/{sub_id}" and stripe_on.requests[-3][2]["pause_collection"] == ""
    assert paths[1].startswith("/v1/invoices") and paths[2].endswith("/finalize")  # the pause's drafts charged


def test_a_top_up_of_any_amount_is_a_payment_mode_checkout(org, admin, stripe_on):
    answer = client_for(admin).post(_url(org, "topup/"), {"amount": "25.50"})
    assert answer.status_code == 302
    _, path, form = stripe_on.requests[-1]
    assert path == "/v1/checkout/sessions" and form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "2550"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert client_for(admin).post(_url(org, "topup/"), {"amount": "0.50"}).status_code == 400


def test_seats_are_checked_before_checkout(org, admin, stripe_on, make_user):
    from apps.orgs.roles import Role
    from apps.orgs.services.joining import member_add

    member_add(organization=org, team=None, user=make_user(), role=Role.VIEWER, actor=admin)
    answer = client_for(admin).post(_url(org, "subscribe/"), {"plan": "pro"})
    assert answer.status_code == 400 and "1 seat(s)" in answer.content.decode()
    assert not any(path == "/v1/checkout/sessions" for _, path, _ in stripe_on.requests)


def test_test_mode_is_labelled_and_operators_grant_plans(org, admin, make_user, settings):
    settings.STRIPE_SECRET_KEY = ""
    page = client_for(admin).get(_url(org)).content.decode()
    assert "Test mode." in page and "Grant (operators)" not in page and "Subscribe</button>" not in page
    assert client_for(admin).post(_url(org, "subscribe/"), {"plan": "pro"}).status_code == 503
    assert client_for(admin).post(_url(org, "grant/"), {"plan": "pro"}).status_code == 403
    staff = make_user()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    from apps.orgs.roles import Role
    from apps.orgs.services.joining import member_add

    member_add(organization=org, team=None, user=staff, role=Role.VIEWER, actor=admin)
    assert client_for(staff).post(_url(org, "grant/"), {"plan": "team"}).status_code == 302
    assert plan_in_force(organization=org).slug == "team"
    page = client_for(admin).get(_url(org)).content.decode()
    assert "granted, test mode" in page


def test_an_org_admin_cannot_upgrade_a_trial_or_granted_plan_without_paying(org, admin, stripe_on):
    from apps.wallet.services.subscriptions import subscription_grant

    subscription_grant(organization=org, plan=Plan.objects.get(slug="pro"), actor=None, days=14, trial=True)
    quota = Wallet.objects.get(organization=org).plan_quota_micros
    answer = client_for(admin).post(_url(org, "subscribe/"), {"plan": "business"})
    assert answer.status_code == 302 and answer["Location"].startswith("https://checkout.stripe.com/")
    assert plan_in_force(organization=org).slug == "pro"  # the trial stays until Stripe says Business is paid
    assert Wallet.objects.get(organization=org).plan_quota_micros == quota


def test_a_refunded_top_up_takes_its_money_back_once(org, admin, stripe_on):
    client_for(admin).post(_url(org, "topup/"), {"amount": "30"})  # creates the Stripe customer
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    paid = webhook_event("checkout_session_completed_payment", customer=customer, client_reference_id=f"edge:{org.pk}")
    _deliver(paid)
    assert Wallet.objects.get(organization=org).balance_micros == 30 * USD
    intent = paid["data"]["object"]["payment_intent"]
    # charge.refunded: no recorded fixture exists (see the fixtures README); the fields are Stripe's Charge's.
    charge = {
        "id": f"ch_{uuid.uuid4().hex[:14]}",
        "object": "charge",
        "amount": 3000,
        "currency": "usd",
        "customer": customer,
        "payment_intent": intent,
        "amount_refunded": 1000,
        "refunded": False,
    }
    refund = webhook_event("invoice_paid")
    refund.update(type="charge.refunded", data={"object": charge})
    assert _deliver(refund) == "refunded"
    assert _deliver(refund) == "duplicate"
    again = {**refund, "id": f"evt_{uuid.uuid4().hex}"}
    assert _deliver(again) == "nothing to take back"
    whole = {**refund, "id": f"evt_{uuid.uuid4().hex}", "data": {"object": {**charge, "amount_refunded": 3000}}}
    assert _deliver(whole) == "refunded"
    assert Wallet.objects.get(organization=org).balance_micros == 0
    refunds = WalletEntry.objects.filter(wallet__organization=org, kind=EntryKind.REFUND)
    assert sorted(entry.amount_micros for entry in refunds) == [-20 * USD, -10 * USD]
    # a subscription's charge (another payment intent) bought no balance: its refund takes none back
    plan_charge = {
        **charge,
        "id": f"ch_{uuid.uuid4().hex[:14]}",
        "payment_intent": "pi_subscription",
        "amount_refunded": 2900,
    }
    assert (
        _deliver({**refund, "id": f"evt_{uuid.uuid4().hex}", "data": {"object": plan_charge}}) == "nothing to take back"
    )
    assert Wallet.objects.get(organization=org).balance_micros == 0


@pytest.mark.parametrize("invoice_first", [True, False])
def test_paying_for_a_plan_after_a_trial_gives_the_paid_plan_and_its_quota(org, admin, stripe_on, invoice_first):
    from apps.wallet.services.subscriptions import subscription_grant

    subscription_grant(organization=org, plan=Plan.objects.get(slug="pro"), actor=None, days=14, trial=True)
    client_for(admin).post(_url(org, "subscribe/"), {"plan": "business"})  # Checkout, from the trial
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    unpaid = _subscription_event("updated", customer, sub_id, "price_business_test", status="incomplete")
    assert _deliver(unpaid) == "waiting for the first payment"
    assert plan_in_force(organization=org).slug == "pro"  # the trial stays until Business is paid
    start = int(time.time()) + 1  # the subscription begins after the trial did
    invoice = _invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", price="price_business_test")
    invoice["data"]["object"]["lines"]["data"][0]["period"] = {"start": start, "end": start + 30 * 86_400}
    active = _subscription_event(
        "updated",
        customer,
        sub_id,
        "price_business_test",
        status="active",
        current_period_start=start,
        current_period_end=start + 30 * 86_400,
    )
    for event in [invoice, active] if invoice_first else [active, invoice]:
        _deliver(event, created=int(time.time()) + 1)
    sub = Subscription.objects.get(organization=org)
    assert (sub.plan.slug, sub.status, sub.test_mode) == ("business", SubscriptionStatus.ACTIVE, False)
    grants = WalletEntry.objects.filter(wallet__organization=org, kind=EntryKind.PLAN_QUOTA_GRANT).order_by("id")
    assert [entry.amount_micros for entry in grants][-1] == 800 * USD  # Business's bundle, not the trial's
    assert Wallet.objects.get(organization=org).plan_quota_micros == 800 * USD  # the trial's quota expired


def test_a_paused_stripe_subscription_blocks_a_second_checkout(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    _deliver(_subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    paused = _subscription_event(
        "updated", customer, sub_id, "price_pro_test", status="active", pause_collection={"behavior": "keep_as_draft"}
    )
    _deliver(paused, created=int(time.time()) + 1)
    assert plan_in_force(organization=org).slug == "free"
    answer = client_for(admin).post(_url(org, "subscribe/"), {"plan": "team"})
    assert answer.status_code == 409 and "Stripe subscription already" in answer.content.decode()


def test_a_subscription_that_never_pays_leaves_the_trial_alone_and_a_retried_old_event_a_grant(org, admin, stripe_on):
    from apps.wallet.services.subscriptions import subscription_grant

    subscription_grant(organization=org, plan=Plan.objects.get(slug="pro"), actor=None, days=14, trial=True)
    client_for(admin).post(_url(org, "subscribe/"), {"plan": "team"})
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    sub_id = f"sub_{uuid.uuid4().hex[:14]}"
    completed = webhook_event(
        "checkout_session_completed_payment",
        mode="subscription",
        customer=customer,
        subscription=sub_id,
        client_reference_id=f"edge:{org.pk}",
    )
    _deliver(completed)
    expired = _subscription_event("updated", customer, sub_id, "price_team_test", status="incomplete_expired")
    assert _deliver(expired) == "waiting for the first payment"
    sub = Subscription.objects.get(organization=org)
    assert (sub.status, sub.plan.slug, sub.stripe_status) == (SubscriptionStatus.TRIALING, "pro", "incomplete_expired")
    assert client_for(admin).post(_url(org, "subscribe/"), {"plan": "team"}).status_code == 302  # may try again


def test_an_unpaid_subscription_does_not_lock_the_organisation_out(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    _deliver(_subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    unpaid = _subscription_event("updated", customer, sub_id, "price_pro_test", status="unpaid")
    _deliver(unpaid, created=int(time.time()) + 1)
    assert plan_in_force(organization=org).slug == "free"
    assert client_for(admin).post(_url(org, "subscribe/"), {"plan": "pro"}).status_code == 302  # a new Checkout


def test_an_upgrade_never_grants_more_than_the_new_plans_bundle(org, admin, stripe_on):
    customer, sub_id = _subscribe(org, admin, stripe_on)
    _deliver(_subscription_event("updated", customer, sub_id, "price_team_test", status="active"))
    _deliver(_invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", price="price_team_test"))  # $150
    now = int(time.time())
    proration = _invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", reason="subscription_update")
    line = proration["data"]["object"]["lines"]["data"][0]
    credit = {
        **line,
        "amount": -100,
        "proration": True,
        "period": {"start": now, "end": PERIOD_END},
        "price": {**line["price"], "id": "price_pro_test"},
    }  # Stripe billed Pro (a pending downgrade)
    charge = {**credit, "amount": 9000, "price": {**line["price"], "id": "price_business_test"}}
    proration["data"]["object"]["lines"]["data"] = [credit, charge]
    _deliver(proration)
    granted = sum(
        WalletEntry.objects.filter(wallet__organization=org, kind=EntryKind.PLAN_QUOTA_GRANT).values_list(
            "amount_micros", flat=True
        )
    )
    assert granted <= 800 * USD  # Business's bundle at most, though Stripe credited Pro's time


def test_a_refund_of_a_top_up_credited_before_payment_intents_were_kept(org, stripe_on):
    from apps.wallet.services.ledger import wallet_credit

    wallet_credit(
        organization=org,
        amount_micros=5 * USD,
        kind=EntryKind.STRIPE_PAYMENT,
        actor=None,
        reference="stripe:cs_old",
        note="Stripe Checkout pi_old",
    )
    StripeCustomerRoute.objects.create(customer_id="cus_old", schema_name="edge", organization_id=org.pk)
    charge = {
        "id": "ch_old",
        "object": "charge",
        "amount": 500,
        "currency": "usd",
        "customer": "cus_old",
        "payment_intent": "pi_old",
        "amount_refunded": 500,
    }
    refund = webhook_event("invoice_paid")
    refund.update(type="charge.refunded", data={"object": charge})
    assert _deliver(refund) == "refunded" and Wallet.objects.get(organization=org).balance_micros == 0
