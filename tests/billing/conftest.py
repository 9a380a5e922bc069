"""Fixtures of the Plans page tests: Stripe switched on against a local stand-in, an organisation and its admin."""

import uuid

import pytest

from apps.billing.models import Plan
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create
from tests.billing.stripe_fake import fake_stripe_server
from tests.billing.test_stripe_webhook import SECRET


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
