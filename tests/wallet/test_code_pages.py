"""The Credit Codes and Activation Codes pages: redeem, and (operators) mint, list, disable, export."""

import base64
import csv
import io
import re

import pytest

from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.wallet.models import Code, CodeBatch, CodeKind, Wallet
from apps.wallet.services.codes import code_batch_mint
from tests.conftest import client_for
from tests.html_forms import form_fields

pytestmark = pytest.mark.django_db
USD = 1_000_000


@pytest.fixture
def admin(org_with_roles):  # type: ignore[no-untyped-def]
    return org_with_roles["users"]["org_admin"]


@pytest.fixture
def staff(make_user, org_with_roles):  # type: ignore[no-untyped-def]
    user = make_user()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    member_add(
        organization=org_with_roles["organization"],
        team=None,
        user=user,
        role=Role.VIEWER,
        actor=org_with_roles["users"]["org_admin"],
    )
    return user


def _url(org_with_roles, page: str, tail: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/o/{org_with_roles['organization'].slug}/{page}/{tail}"


def test_a_member_redeems_a_credit_code_and_sees_the_balance_rise(org_with_roles, admin, make_user):
    code = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=12_500_000, actor=make_user()).codes[0]
    client = client_for(admin)
    page = client.get(_url(org_with_roles, "credit-codes"))
    assert page.status_code == 200 and "0.000000" in page.content.decode()
    assert "Mint codes" not in page.content.decode()  # operators only
    answer = client.post(_url(org_with_roles, "credit-codes", "redeem/"), {"code": code.lower()}, follow=True)
    body = answer.content.decode()
    assert answer.status_code == 200 and "$12.50 added; balance $12.50" in body
    assert re.search(r'id="wallet-balance">12\.500000<', body)
    again = client.post(_url(org_with_roles, "credit-codes", "redeem/"), {"code": code})
    assert again.status_code == 400 and "already been redeemed" in again.content.decode()
    assert Wallet.objects.get(organization=org_with_roles["organization"]).balance_micros == 12_500_000


def test_a_viewer_cannot_redeem_and_only_org_admins_redeem_activation_codes(org_with_roles, make_user):
    code = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=USD, actor=make_user()).codes[0]
    client = client_for(org_with_roles["users"]["viewer"])
    assert client.post(_url(org_with_roles, "credit-codes", "redeem/"), {"code": code}).status_code == 403
    activation = code_batch_mint(kind=CodeKind.ACTIVATION, count=1, credit_micros=0, actor=make_user()).codes[0]
    developer = make_user()
    member_add(
        organization=org_with_roles["organization"],
        team=None,
        user=developer,
        role=Role.DEVELOPER,
        actor=org_with_roles["users"]["org_admin"],
    )
    credit = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=USD, actor=make_user()).codes[0]
    as_developer = client_for(developer)
    assert as_developer.post(_url(org_with_roles, "credit-codes", "redeem/"), {"code": credit}).status_code == 302
    assert (
        as_developer.post(_url(org_with_roles, "activation-codes", "redeem/"), {"code": activation}).status_code == 403
    )


def test_an_activation_code_shows_the_new_key_once(org_with_roles, make_user):
    developer = org_with_roles["users"]["org_admin"]
    code = code_batch_mint(kind=CodeKind.ACTIVATION, count=1, credit_micros=USD, actor=make_user()).codes[0]
    answer = client_for(developer).post(_url(org_with_roles, "activation-codes", "redeem/"), {"code": code})
    body = answer.content.decode()
    assert answer.status_code == 200
    key = re.search(r'id="new-key">(sk-hydite-[0-9a-f]{32})<', body)
    assert key is not None and "copy it now" in body
    reload = client_for(developer).get(_url(org_with_roles, "activation-codes"))
    assert key.group(1) not in reload.content.decode()


def test_a_credit_code_on_the_activation_page_says_where_it_belongs(org_with_roles, admin, make_user):
    code = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=USD, actor=make_user()).codes[0]
    answer = client_for(admin).post(_url(org_with_roles, "activation-codes", "redeem/"), {"code": code})
    assert answer.status_code == 400 and "redeem it on the Credit Codes page" in answer.content.decode()


def test_operators_mint_see_codes_once_filter_disable_and_export(org_with_roles, staff):
    client = client_for(staff)
    page = client.get(_url(org_with_roles, "activation-codes"))
    fields = form_fields(page.content.decode(), "mint-form")
    fields |= {"amount": "2.5", "count": "3", "campaign": "spring", "distributor": "partner-x", "expires_at": ""}
    minted = client.post(_url(org_with_roles, "activation-codes", "batches/"), fields)
    body = minted.content.decode()
    assert minted.status_code == 200
    shown = re.findall(r"<li><code>([0-9A-Z]{5}(?:-[0-9A-Z]{5}){4})</code></li>", body)
    assert len(shown) == 3
    data = re.search(r'href="data:text/csv;base64,([^"]+)"', body)
    assert data is not None
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(data.group(1)).decode())))
    assert [row["code"] for row in rows] == shown and rows[0]["credit_usd"] == "2.5"
    batch = CodeBatch.objects.get(campaign="spring", kind=CodeKind.ACTIVATION)
    assert batch.distributor == "partner-x" and batch.credit_micros == 2_500_000

    listing = client.get(_url(org_with_roles, "activation-codes"), {"campaign": "spring"}).content.decode()
    link = f"activation-codes/batches/{batch.pk}/"
    assert link in listing and shown[0] not in listing  # never listed in full again
    assert link not in client.get(_url(org_with_roles, "activation-codes"), {"campaign": "nope"}).content.decode()

    code = Code.objects.filter(batch=batch).first()
    assert client.post(_url(org_with_roles, "activation-codes", f"codes/{code.pk}/disable/")).status_code == 302
    assert client.post(_url(org_with_roles, "activation-codes", f"batches/{batch.pk}/disable/")).status_code == 302
    export = client.get(_url(org_with_roles, "activation-codes", f"batches/{batch.pk}/export.csv"))
    assert export["Content-Type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {row["status"] for row in exported} == {"disabled"} and len(exported) == 3
    assert all(row["code_ending"].startswith("…") and len(row["code_ending"]) == 5 for row in exported)


def test_only_operators_mint_or_manage(org_with_roles, admin, make_user):
    client = client_for(admin)  # an org admin is not an instance operator
    batch = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=USD, actor=make_user()).batch
    fields = {"amount": "5", "count": "1"}
    assert client.post(_url(org_with_roles, "credit-codes", "batches/"), fields).status_code == 403
    assert client.get(_url(org_with_roles, "credit-codes", f"batches/{batch.pk}/")).status_code == 403
    assert client.get(_url(org_with_roles, "credit-codes", f"batches/{batch.pk}/export.csv")).status_code == 403
    assert client.post(_url(org_with_roles, "credit-codes", f"batches/{batch.pk}/disable/")).status_code == 403
