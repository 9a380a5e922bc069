"""Reconciliation: a provider invoice CSV against the ledger's cost per provider and day; drift over 5 % flagged."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.orgs.services.organizations import organization_create
from apps.spend.reconciliation import InvoiceUnreadable, provider_invoice_days
from tests.conftest import client_for
from tests.html_forms import table_cells
from tests.world import ledger_add

pytestmark = pytest.mark.django_db
DAY_1, DAY_2, DAY_3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)  # no other test's rows


def _at(day: dt.date, hour: int = 12) -> int:
    return int(dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC).timestamp() * 1000)


def test_an_invoice_is_reconciled_per_day_and_drift_over_five_percent_is_flagged(edge, make_user):
    operator = make_user()
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    home = organization_create(name="Operators", owner=operator)
    customer = organization_create(name="Customer", owner=make_user())
    for day, cost in ((DAY_1, 10_000_000), (DAY_2, 4_000_000), (DAY_2, 1_000_000), (DAY_3, 2_000_000)):
        ledger_add(customer.pk, created_at_ms=_at(day), provider="anthropic", cost_micros=cost)
    ledger_add(customer.pk, created_at_ms=_at(DAY_1), provider="openai", cost_micros=99_000_000)  # another provider
    invoice = (
        "Date,Model,Amount (ignored),amount_usd\n"
        "2025-03-01,claude-sonnet-4-5,x,6.00\n"
        "2025-03-01,claude-haiku-4-5,x,4.20\n"  # 10.20 in all: 1.96 % off, within 5 %
        '2025-03-02,claude-sonnet-4-5,x,"$4.50"\n'  # the ledger says 5.00: 11.1 % over
        "2025-03-03,claude-sonnet-4-5,x,0\n"  # the ledger has 2.00 the invoice does not
    )
    client = client_for(operator)
    upload = SimpleUploadedFile("invoice.csv", invoice.encode(), content_type="text/csv")
    answer = client.post(f"/o/{home.slug}/billing/reconciliation/", {"provider": "anthropic", "invoice": upload})
    page = answer.content.decode()
    assert answer.status_code == 200, page
    assert table_cells(page, "reconciliation") == [
        ["2025-03-01", "10.000000", "10.200000", "-0.200000", "1.96 %", ""],
        ["2025-03-02", "5.000000", "4.500000", "0.500000", "11.11 %", "drift over 5 %"],
        ["2025-03-03", "2.000000", "0.000000", "2.000000", "— %", "drift over 5 %"],
    ]
    assert re.search(r'id="days-flagged">2 of 3<', page) and re.search(r'id="ledger-total">17\.000000<', page)


def test_unreadable_invoices_are_refused_with_the_reason(edge, make_user):
    with pytest.raises(InvoiceUnreadable, match="no amount column"):
        provider_invoice_days(b"date,whatever\n2025-03-01,1\n")
    with pytest.raises(InvoiceUnreadable, match="Line 3"):
        provider_invoice_days(b"date,cost\n2025-03-01,1\nyesterday,2\n")
    with pytest.raises(InvoiceUnreadable, match="no lines"):
        provider_invoice_days(b"date,cost\n")
    assert provider_invoice_days(b"\xef\xbb\xbfDay,Cost\n2025-03-01,0.1234565\n") == {DAY_1: 123_457}  # BOM; half up
    user = make_user()
    home = organization_create(name="Not operators", owner=user)
    assert client_for(user).get(f"/o/{home.slug}/billing/reconciliation/").status_code == 403


def test_a_credit_note_drifts_like_any_other_day():
    from apps.spend.reconciliation import ReconciledDay

    credit = ReconciledDay(DAY_1, ledger_micros=0, invoice_micros=-2_000_000)  # the provider refunded 2.00
    assert credit.drift_percent == "100.00" and credit.flagged
