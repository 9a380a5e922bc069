"""Enterprise invoice: operators create invoiced organisations, their admins mint keys on Workspaces, and each
month is invoiced from the spend ledger (no wallet stop)."""

import datetime as dt
import re

import pytest

from apps.accounts.models import User
from apps.keys.models import VirtualKey
from apps.keys.snapshots import key_snapshot_build
from apps.orgs.models import BillingMode, Membership, Organization
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create
from apps.wallet.models import Invoice, InvoiceStatus
from apps.wallet.services.invoices import invoice_issue, invoices_issue_last_month, organization_create_invoiced
from tests.conftest import client_for
from tests.html_forms import form_fields
from tests.world import ledger_add

pytestmark = pytest.mark.django_db
DEC = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
ACCEPT_URL_BASE = "http://testserver/invitations"


def _spend(organization: Organization, at: dt.datetime, model: str, cost: int, tokens: int = 10) -> None:
    ledger_add(
        organization.pk,
        created_at_ms=int(at.timestamp() * 1000),
        model_alias=model,
        prompt_tokens=tokens,
        total_tokens=tokens,
        cost_micros=cost,
    )


def test_an_operator_creates_an_invoiced_organisation_from_workspaces(staff, make_user):
    make_user("cto@globex.example")  # a confirmed account is made admin at once (others are invited)
    home = organization_create(name="Operators", owner=staff)
    client = client_for(staff)
    answer = client.post(
        f"/o/{home.slug}/workspaces/invoiced/", {"name": "Globex Corp", "admin_email": "CTO@globex.example"}
    )
    assert answer.status_code == 302
    globex = Organization.objects.get(name="Globex Corp")
    assert globex.billing_mode == BillingMode.INVOICE
    admin = User.objects.get(email="cto@globex.example")
    assert Membership.objects.get(organization=globex, user=admin, team__isnull=True).role == Role.ORG_ADMIN
    assert client_for(make_user_plain(staff)).post(
        f"/o/{home.slug}/workspaces/invoiced/", {"name": "X", "admin_email": "x@example.test"}
    ).status_code in (403, 404)


def make_user_plain(staff: User) -> User:
    from tests.factories import UserFactory

    user = UserFactory()
    home = Organization.objects.get(name="Operators")
    member_add(organization=home, team=None, user=user, role=Role.ORG_ADMIN, actor=staff)
    return user


def test_its_admin_mints_a_key_on_workspaces_and_the_key_has_no_wallet_stop(staff, make_user):
    admin = make_user("admin@globex.example")
    globex, invitation = organization_create_invoiced(
        name="Globex", admin_email="admin@globex.example", actor=staff, accept_url_base=ACCEPT_URL_BASE
    )
    assert invitation is None
    client = client_for(admin)
    page = client.get(f"/o/{globex.slug}/workspaces/").content.decode()
    assert "Mint a key" in page and "Invoiced monthly" in page
    fields = form_fields(page, "workspace-key-create") | {"name": "prod"}
    answer = client.post(f"/o/{globex.slug}/keys/+create/", fields)
    secret = re.search(r'id="new-key">(sk-hydite-[0-9a-f]{32})<', answer.content.decode())
    assert secret is not None
    key = VirtualKey.objects.get(organization=globex, name="prod")
    assert "wallet" not in key_snapshot_build(key_hash=key.key_hash)


def test_a_month_is_invoiced_exactly_from_the_ledger_once(staff, make_user):
    globex, _ = organization_create_invoiced(
        name="Globex", admin_email="billing@globex.example", actor=staff, accept_url_base=ACCEPT_URL_BASE
    )
    prepaid = organization_create(name="Prepaid", owner=make_user(), billing_mode=BillingMode.PREPAID)
    _spend(globex, DEC + dt.timedelta(days=1), "gpt-4o", 1_000_001)
    _spend(globex, DEC + dt.timedelta(days=29, hours=23), "gpt-4o", 2)
    _spend(globex, DEC + dt.timedelta(days=3), "claude", 500_000, tokens=7)
    _spend(globex, DEC - dt.timedelta(seconds=1), "gpt-4o", 9_999)  # October
    _spend(globex, DEC + dt.timedelta(days=30), "gpt-4o", 9_999)  # December
    _spend(prepaid, DEC + dt.timedelta(days=2), "gpt-4o", 123)
    Organization.objects.filter(pk__in=[globex.pk, prepaid.pk]).update(created_at=DEC)
    Organization.objects.filter(pk=globex.pk).update(invoiced_since=DEC)
    assert invoices_issue_last_month(now=dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)) == 0  # late spend first
    assert not Invoice.objects.filter(organization=globex).exists()
    issued = invoices_issue_last_month(now=dt.datetime(2026, 12, 1, 1, 5, tzinfo=dt.UTC))
    assert issued >= 1
    invoice = Invoice.objects.get(organization=globex)
    assert invoice.period_start == DEC and invoice.amount_micros == 1_500_003 and invoice.requests == 3
    assert invoice.lines == [
        {"model": "claude", "requests": 1, "tokens": 7, "cost_micros": 500_000},
        {"model": "gpt-4o", "requests": 2, "tokens": 20, "cost_micros": 1_000_003},
    ]
    assert not Invoice.objects.filter(organization=prepaid).exists()
    assert invoices_issue_last_month(now=dt.datetime(2026, 12, 2, tzinfo=dt.UTC)) == 0  # rerun-safe
    # a beat that was down for months catches up, oldest first
    assert invoices_issue_last_month(now=dt.datetime(2027, 2, 3, tzinfo=dt.UTC)) >= 2
    months = list(
        Invoice.objects.filter(organization=globex).order_by("period_start").values_list("period_start", flat=True)
    )
    assert months == [DEC, dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)]
    assert (
        Invoice.objects.get(organization=globex, period_start=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)).amount_micros
        == 9_999
    )
    assert invoice_issue(organization=globex, month_start=DEC).pk == invoice.pk

    home = organization_create(name="Ops", owner=staff)
    client = client_for(staff)
    assert client.post(f"/o/{home.slug}/workspaces/invoices/{invoice.pk}/paid/").status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
