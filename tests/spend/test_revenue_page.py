"""Revenue (operators): income by plan and top-ups, codes redeemed and usage cost, per instance and month."""

import re
import uuid

import pytest
from django.utils import timezone

from apps.billing.models import Plan
from apps.orgs.services.organizations import organization_create
from apps.wallet.models import EntryKind
from apps.wallet.services.ledger import wallet_adjust, wallet_credit
from apps.wallet.services.subscriptions_stripe import subscription_payment_record
from tests.conftest import client_for
from tests.world import ledger_add

pytestmark = pytest.mark.django_db
USD = 1_000_000


def _figure(page: str, element_id: str) -> int:
    return int(re.search(rf'id="{element_id}">([0-9.-]+)<', page).group(1).replace(".", ""))  # type: ignore[union-attr]


def _this_month(page: str, schema: str) -> list[str]:
    section = re.search(rf'<section class="instance-revenue" id="revenue-{schema}">(.*?)</section>', page, re.S)
    rows = re.findall(r"<tr><td>(.*?)</tr>", section.group(1), re.S)  # type: ignore[union-attr]
    label = f"{timezone.now():%Y-%m}"
    (row,) = [re.sub(r"</?td>", "|", row) for row in rows if row.startswith(label)]
    return [cell for cell in row.split("|") if cell]


def test_operators_see_income_codes_and_usage_cost_per_instance(edge, make_user):
    operator = make_user()
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    home = organization_create(name="Operators", owner=operator)
    client = client_for(operator)
    url = f"/o/{home.slug}/billing/revenue/"
    before = client.get(url).content.decode()

    customer = organization_create(name="Paying customer", owner=make_user())
    subscription_payment_record(
        organization=customer,
        plan=Plan.objects.get(slug="pro"),
        invoice_id=f"in_{uuid.uuid4().hex}",
        amount_micros=20 * USD,
        paid_at=timezone.now(),
    )
    wallet_credit(organization=customer, amount_micros=5 * USD, kind=EntryKind.STRIPE_PAYMENT, actor=None)
    wallet_credit(organization=customer, amount_micros=1 * USD, kind=EntryKind.CREDIT_CODE, actor=None)
    wallet_adjust(organization=customer, amount_micros=-2 * USD, kind=EntryKind.REFUND, reason="refund", actor=operator)
    ledger_add(customer.pk, cost_micros=1_234_567)
    after = client.get(url).content.decode()

    assert _figure(after, "income-edge") - _figure(before, "income-edge") == 23 * USD  # 20 + 5 - 2
    assert _figure(after, "usage-edge") - _figure(before, "usage-edge") == 1_234_567
    was, now = _this_month(before, "edge"), _this_month(after, "edge")
    assert int(now[1].replace(".", "")) - int(was[1].replace(".", "")) == 20 * USD  # subscriptions
    assert int(now[2].replace(".", "")) - int(was[2].replace(".", "")) == 5 * USD  # top-ups
    codes_was, codes_now = (int(cells[5].split(" · ")[0]) for cells in (was, now))
    assert codes_now - codes_was == 1
    assert "Pro" in re.search(r'id="revenue-edge">.*?class="revenue-plans">(.*?)</table>', after, re.S).group(1)  # type: ignore[union-attr]
    assert 'id="revenue-acme"' in after  # every instance, each from its own schema


def test_revenue_is_for_operators_only(org_with_roles):
    org = org_with_roles["organization"]
    admin = org_with_roles["users"]["org_admin"]
    assert client_for(admin).get(f"/o/{org.slug}/billing/revenue/").status_code == 403
    assert "Revenue" not in client_for(admin).get(f"/o/{org.slug}/billing/").content.decode().split("<main")[0]
