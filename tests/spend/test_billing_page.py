"""Billing page: spend and budgets drilled down by dimension, charts with tables, leaders; read from roll-ups."""

import datetime as dt
import re

import pytest

from apps.spend.models import SpendLog
from tests.conftest import client_for
from tests.html_forms import table_cells
from tests.spend.conftest import NOW
from tests.world import ledger_add

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_range_s_spend_by_key_with_budgets_charts_and_leaders(billed):
    org = billed["organization"]
    client = client_for(billed["users"]["viewer"])
    page = client.get(f"/o/{org.slug}/billing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="total-cost">3\.950053<', html)  # every row of the last seven days, to the micro-USD
    assert re.search(r'id="total-requests">5<', html)
    assert html.count('<svg viewBox="0 0 720 220" role="img"') == 3
    breakdown = table_cells(html, "breakdown")
    assert [row[0] for row in breakdown] == ["prod-key", "batch-key"]
    assert breakdown[0][5:8] == ["3.250001", "82.3 %", "5.000000 / monthly"]
    assert breakdown[1][1:3] == ["3", "1"] and breakdown[1][5] == "0.700052"
    assert sum(int(row[1]) for row in table_cells(html, "over-time")) == 5
    assert [row[1] for row in table_cells(html, "top-models")] == ["claude-haiku-4-5", "gpt-4o-mini"]
    top_users = table_cells(html, "top-users")
    assert top_users[0][1] == billed["users"]["developer"].email
    assert SpendLog.objects.filter(organization_id=org.pk).count() == 5


def test_drill_down_by_model_and_filter_by_key_hourly(billed):
    org, prod = billed["organization"], billed["prod"]
    client = client_for(billed["users"]["org_admin"])
    start = (NOW - dt.timedelta(days=1)).date()
    page = client.get(
        f"/o/{org.slug}/billing/", {"start": start, "end": NOW.date(), "bucket": "hour", "by": "model", "key": prod.pk}
    ).content.decode()
    assert re.search(r'id="total-cost">2\.000001<', page)
    assert [row[0] for row in table_cells(page, "breakdown")] == ["claude-haiku-4-5"]
    (tokens,) = table_cells(page, "tokens-by-model")  # the hour with tokens: input + output per model, and all
    assert tokens[1:] == ["110", "110"] and "<th>claude-haiku-4-5</th>" in page
    assert re.fullmatch(r"\d\d-\d\d \d\d:00", tokens[0])
    assert table_cells(page, "top-models")[0][1:5] == ["claude-haiku-4-5", "1", "100", "10"]


def test_month_buckets_and_bad_ranges(billed):
    org = billed["organization"]
    client = client_for(billed["users"]["org_admin"])
    months = client.get(
        f"/o/{org.slug}/billing/", {"start": NOW.date() - dt.timedelta(days=400), "end": NOW.date(), "by": "team"}
    ).content.decode()
    assert re.search(r'id="total-cost">3\.950053<', months)
    assert table_cells(months, "breakdown")[0][0] == "Platform"
    for bad in (
        {"start": "2026-12-05", "end": "2026-12-01"},
        {"start": "nope"},
        {"bucket": "hour", "start": "2026-01-01"},
        {"bucket": "hour", "start": "2026-11-01", "end": "2026-11-08"},  # a page draws hours of 7 days at most
        {"bucket": "day", "start": "2026-01-01", "end": "2026-12-01"},  # and days of 92
        {"start": "9999-12-30", "end": "9999-12-31"},
    ):
        answer = client.get(f"/o/{org.slug}/billing/", bad)
        assert answer.status_code == 400 and 'id="billing-error"' in answer.content.decode()


def test_other_organisations_see_nothing_of_it(billed, make_user):
    from apps.orgs.services.organizations import organization_create

    stranger = make_user()
    theirs = organization_create(name="Elsewhere", owner=stranger)
    client = client_for(stranger)
    assert client.get(f"/o/{billed['organization'].slug}/billing/").status_code == 404
    page = client.get(f"/o/{theirs.slug}/billing/").content.decode()
    assert re.search(r'id="total-cost">0\.000000<', page) and "prod-key" not in page


def test_the_drill_down_table_keeps_the_largest_groups_and_sums_the_rest(billed):
    org = billed["organization"]
    for number in range(52):  # callers choose their feature names
        ledger_add(org.pk, feature_id=f"feature-{number:02d}", cost_micros=1_000 + number)
    page = client_for(billed["users"]["org_admin"]).get(f"/o/{org.slug}/billing/", {"by": "feature"}).content.decode()
    rows = table_cells(page, "breakdown")
    assert len(rows) == 51
    assert rows[-1][0] == "3 more"  # 53 features (52 and none): 50 shown, the 3 cheapest summed
    assert sum(int(row[1]) for row in rows) == 5 + 52
