"""On the Plans page: upgrades, downgrades and pauses sent to Stripe, top-ups and their refunds, seats, test mode."""

import time
import uuid

import pytest

from apps.billing.models import Plan, StripeCustomerRoute
from apps.wallet.models import EntryKind, Subscription, Wallet, WalletEntry
from apps.wallet.selectors import plan_in_force
from tests.billing.plans_flows import (
    PERIOD_END,
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


def test_upgrade_is_prorated_at_stripe_and_immediate_downgrade_waits_and_pause_is_sent(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    deliver(subscription_event("updated", customer, sub_id, "price_pro_test", status="active"))
    deliver(invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}"))  # Pro's period: $20 of quota
    client = client_for(admin)
    assert client.post(plans_url(org, "subscribe/"), {"plan": "business"}).status_code == 302
    method, path, form = stripe_on.requests[-1]
    assert (method, path) == ("POST", f"/v1/subscriptions/{sub_id}")
    assert form["items[0][price]"] == "price_business_test" and form["proration_behavior"] == "always_invoice"
    assert plan_in_force(organization=org).slug == "business"
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD  # nothing before Stripe is paid
    now = int(time.time())
    proration = invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", reason="subscription_update")
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
    assert deliver(proration) == "upgrade quota granted"  # the extra quota once Stripe was paid for it
    extra = Wallet.objects.get(organization=org).plan_quota_micros - 20 * USD
    expected = 780 * USD * (PERIOD_END - now) // (PERIOD_END - PERIOD_START)
    assert abs(extra - expected) <= 780 * USD // 86_400  # pro-rated to the time charged (to the second)
    assert deliver({**proration, "id": f"evt_{uuid.uuid4().hex}"}) == "upgrade quota granted"  # same invoice
    assert Wallet.objects.get(organization=org).plan_quota_micros == 20 * USD + extra  # granted once

    assert client.post(plans_url(org, "subscribe/"), {"plan": "team"}).status_code == 302
    assert stripe_on.requests[-1][2]["proration_behavior"] == "none"
    sub = Subscription.objects.get(organization=org)
    assert (sub.plan.slug, sub.pending_plan.slug) == ("business", "team")
    # Stripe reports the new price at once; the plan in force changes only with the next period:
    echo = subscription_event("updated", customer, sub_id, "price_team_test", status="active")
    deliver(echo, created=int(time.time()) + 1)
    assert plan_in_force(organization=org).slug == "business"
    next_period = subscription_event(
        "updated",
        customer,
        sub_id,
        "price_team_test",
        status="active",
        current_period_start=PERIOD_END,
        current_period_end=PERIOD_END + 28 * 86_400,
    )
    deliver(next_period, created=int(time.time()) + 2)
    assert plan_in_force(organization=org).slug == "team"

    assert client.post(plans_url(org, "pause/"), {"days": "10"}).status_code == 302
    pause = stripe_on.requests[-1][2]
    assert pause["pause_collection[behavior]"] == "keep_as_draft"
    assert int(pause["pause_collection[resumes_at]"]) > time.time()
    assert plan_in_force(organization=org).slug == "free"
    assert client.post(plans_url(org, "resume/")).status_code == 302
    paths = [path for _, path, _ in stripe_on.requests[-3:]]
    assert paths[0] == f"/v1/subscriptions/{sub_id}" and stripe_on.requests[-3][2]["pause_collection"] == ""
    assert paths[1].startswith("/v1/invoices") and paths[2].endswith("/finalize")  # the pause's drafts charged


def test_a_top_up_of_any_amount_is_a_payment_mode_checkout(org, admin, stripe_on):
    answer = client_for(admin).post(plans_url(org, "topup/"), {"amount": "25.50"})
    assert answer.status_code == 302
    _, path, form = stripe_on.requests[-1]
    assert path == "/v1/checkout/sessions" and form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "2550"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert client_for(admin).post(plans_url(org, "topup/"), {"amount": "0.50"}).status_code == 400


def test_seats_are_checked_before_checkout(org, admin, stripe_on, make_user):
    from apps.orgs.roles import Role
    from apps.orgs.services.joining import member_add

    member_add(organization=org, team=None, user=make_user(), role=Role.VIEWER, actor=admin)
    answer = client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "pro"})
    assert answer.status_code == 400 and "1 seat(s)" in answer.content.decode()
    assert not any(path == "/v1/checkout/sessions" for _, path, _ in stripe_on.requests)


def test_test_mode_is_labelled_and_operators_grant_plans(org, admin, make_user, settings):
    settings.STRIPE_SECRET_KEY = ""
    page = client_for(admin).get(plans_url(org)).content.decode()
    assert "Test mode." in page and "Grant (operators)" not in page and "Subscribe</button>" not in page
    assert client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "pro"}).status_code == 503
    assert client_for(admin).post(plans_url(org, "grant/"), {"plan": "pro"}).status_code == 403
    staff = make_user()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    from apps.orgs.roles import Role
    from apps.orgs.services.joining import member_add

    member_add(organization=org, team=None, user=staff, role=Role.VIEWER, actor=admin)
    assert client_for(staff).post(plans_url(org, "grant/"), {"plan": "team"}).status_code == 302
    assert plan_in_force(organization=org).slug == "team"
    page = client_for(admin).get(plans_url(org)).content.decode()
    assert "granted, test mode" in page


def test_an_org_admin_cannot_upgrade_a_trial_or_granted_plan_without_paying(org, admin, stripe_on):
    from apps.wallet.services.subscriptions import subscription_grant

    subscription_grant(organization=org, plan=Plan.objects.get(slug="pro"), actor=None, days=14, trial=True)
    quota = Wallet.objects.get(organization=org).plan_quota_micros
    answer = client_for(admin).post(plans_url(org, "subscribe/"), {"plan": "business"})
    assert answer.status_code == 302 and answer["Location"].startswith("https://checkout.stripe.com/")
    assert plan_in_force(organization=org).slug == "pro"  # the trial stays until Stripe says Business is paid
    assert Wallet.objects.get(organization=org).plan_quota_micros == quota


def test_a_refunded_top_up_takes_its_money_back_once(org, admin, stripe_on):
    client_for(admin).post(plans_url(org, "topup/"), {"amount": "30"})  # creates the Stripe customer
    customer = StripeCustomerRoute.objects.get(organization_id=org.pk).customer_id
    paid = webhook_event("checkout_session_completed_payment", customer=customer, client_reference_id=f"edge:{org.pk}")
    deliver(paid)
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
    assert deliver(refund) == "refunded"
    assert deliver(refund) == "duplicate"
    again = {**refund, "id": f"evt_{uuid.uuid4().hex}"}
    assert deliver(again) == "nothing to take back"
    whole = {**refund, "id": f"evt_{uuid.uuid4().hex}", "data": {"object": {**charge, "amount_refunded": 3000}}}
    assert deliver(whole) == "refunded"
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
        deliver({**refund, "id": f"evt_{uuid.uuid4().hex}", "data": {"object": plan_charge}}) == "nothing to take back"
    )
    assert Wallet.objects.get(organization=org).balance_micros == 0


def test_an_upgrade_never_grants_more_than_the_new_plans_bundle(org, admin, stripe_on):
    customer, sub_id = subscribe(org, admin, stripe_on)
    deliver(subscription_event("updated", customer, sub_id, "price_team_test", status="active"))
    deliver(invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", price="price_team_test"))  # $150
    now = int(time.time())
    proration = invoice_paid(customer, sub_id, f"in_{uuid.uuid4().hex[:12]}", reason="subscription_update")
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
    deliver(proration)
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
    assert deliver(refund) == "refunded" and Wallet.objects.get(organization=org).balance_micros == 0
