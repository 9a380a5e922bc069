"""POST /billing/stripe/webhook with Stripe's recorded event shapes, signed the way Stripe signs them."""

import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import pytest

from apps.billing.models import Plan, StripeEvent
from apps.billing.services.checkout import checkout_reference
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create
from apps.wallet.models import EntryKind, Wallet, WalletEntry
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "stripe"  # recorded shapes, see its README
SECRET = "whsec_test_" + uuid.uuid4().hex
URL = "/billing/stripe/webhook"


def webhook_signature(body: bytes, *, secret: str = SECRET, at: int | None = None) -> str:
    """Stripe-Signature as Stripe's SDK forms it: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<body>") (fixtures README)."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def webhook_event(name: str, **session: object) -> dict:  # type: ignore[type-arg]
    """A recorded event with a fresh id; `session` sets what our Checkout Session would have carried."""
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    event["id"] = f"evt_{uuid.uuid4().hex}"
    event["data"]["object"].update(session)
    return event


def webhook_post(body: bytes, signature: str | None):  # type: ignore[no-untyped-def]
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client_for(None).post(URL, body, content_type="application/json", **headers)


@pytest.fixture
def stripe_secret(settings):  # type: ignore[no-untyped-def]
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def org(edge, make_user):  # type: ignore[no-untyped-def]
    return organization_create(name="Payer", owner=make_user(), billing_mode=BillingMode.PREPAID)


def _paid_checkout(org, **extra):  # type: ignore[no-untyped-def]
    reference = checkout_reference(schema="edge", organization_id=org.pk)
    return webhook_event("checkout_session_completed_payment", client_reference_id=reference, **extra)


def test_a_paid_checkout_tops_up_the_wallet_once_however_often_it_is_delivered(stripe_secret, org):
    event = _paid_checkout(org)
    body = json.dumps(event).encode()
    first = webhook_post(body, webhook_signature(body))
    assert first.status_code == 200 and first.json()["outcome"] == "credited"
    assert webhook_post(body, webhook_signature(body)).json()["outcome"] == "duplicate"
    other_event_same_session = _paid_checkout(org, id=event["data"]["object"]["id"])
    body = json.dumps(other_event_same_session).encode()
    assert webhook_post(body, webhook_signature(body)).json()["outcome"] == "already credited"
    assert Wallet.objects.get(organization=org).balance_micros == 30_000_000  # amount_total 3000 cents
    entry = WalletEntry.objects.get(wallet__organization=org)
    assert entry.kind == EntryKind.STRIPE_PAYMENT and entry.reference == f"stripe:{event['data']['object']['id']}"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "garbage",
        "t=1,v1=" + "0" * 64,
        "wrong-secret",
        "stale",
    ],
)
def test_a_bad_signature_is_400_and_changes_nothing(stripe_secret, org, signature):
    body = json.dumps(_paid_checkout(org)).encode()
    if signature == "wrong-secret":
        signature = webhook_signature(body, secret="whsec_other")
    elif signature == "stale":
        signature = webhook_signature(body, at=int(time.time()) - 301)  # past the SDK's 300 s tolerance
    answer = webhook_post(body, signature)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "webhook_rejected"
    assert not StripeEvent.objects.exists() and not Wallet.objects.filter(organization=org).exists()


def test_a_body_changed_after_signing_is_refused(stripe_secret, org):
    body = json.dumps(_paid_checkout(org)).encode()
    signature = webhook_signature(body)
    answer = webhook_post(body.replace(b'"amount_total": 3000', b'"amount_total": 300000'), signature)
    assert answer.status_code == 400 and not Wallet.objects.filter(organization=org).exists()


def test_without_a_webhook_secret_nothing_is_processed(settings, org):
    settings.STRIPE_WEBHOOK_SECRET = ""
    body = json.dumps(_paid_checkout(org)).encode()
    answer = webhook_post(body, webhook_signature(body))
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "stripe_not_configured"


def test_a_checkout_naming_no_organisation_of_ours_is_recorded_and_credits_nothing(stripe_secret, org):
    for reference in (None, "nowhere:1", f"edge:{org.pk + 10_000}"):
        body = json.dumps(webhook_event("checkout_session_completed_payment", client_reference_id=reference)).encode()
        assert webhook_post(body, webhook_signature(body)).json()["outcome"].startswith("ignored")
    assert StripeEvent.objects.count() == 3
    assert not WalletEntry.objects.filter(kind=EntryKind.STRIPE_PAYMENT).exists()


def test_the_plans_are_data(db):
    plans = {plan.slug: plan for plan in Plan.objects.all()}
    assert list(plans) == ["free", "pro", "team", "business", "enterprise"]
    assert (plans["pro"].rpm_cap, plans["pro"].tpm_cap, plans["team"].rpm_cap) == (600, 5_000_000, 3_000)
    assert plans["enterprise"].contact_sales


def test_a_delayed_payment_credits_when_stripe_says_it_succeeded(stripe_secret, org):
    unpaid = _paid_checkout(org, payment_status="unpaid")
    body = json.dumps(unpaid).encode()
    assert webhook_post(body, webhook_signature(body)).json()["outcome"] == "ignored: not paid yet"
    succeeded = _paid_checkout(org, id=unpaid["data"]["object"]["id"])
    succeeded["type"] = "checkout.session.async_payment_succeeded"
    body = json.dumps(succeeded).encode()
    assert webhook_post(body, webhook_signature(body)).json()["outcome"] == "credited"
    assert Wallet.objects.get(organization=org).balance_micros == 30_000_000


def test_a_signed_event_missing_what_we_read_is_400_and_keeps_nothing(stripe_secret, org):
    event = _paid_checkout(org)
    del event["data"]["object"]["amount_total"]
    event["data"]["object"]["amount_total"] = None  # a free (coupon) Checkout: nothing to credit
    body = json.dumps(event).encode()
    assert webhook_post(body, webhook_signature(body)).json()["outcome"] == "ignored: nothing paid"
    broken = webhook_event("customer_subscription_updated", customer="cus_x", metadata={"hydite_ref": f"edge:{org.pk}"})
    del broken["data"]["object"]["items"]
    del broken["data"]["object"]["current_period_start"]
    body = json.dumps(broken).encode()
    answer = webhook_post(body, webhook_signature(body))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "webhook_rejected"
    assert answer.json()["error"]["param"] is None
    assert not StripeEvent.objects.filter(event_id=broken["id"]).exists()  # Stripe may deliver it again
