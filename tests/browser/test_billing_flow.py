"""Billing in a real browser: requests through /v1 show on the Billing page (charts and tables, read from
roll-ups), drill down by feature, and CSV and XLSX exports download with the page's totals."""

import csv
import io
import re

import openai
import openpyxl
import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard_flows import sign_up
from tests.browser.test_newcomer_wallet_flow import curated_mix_and_codes
from tests.world import consume

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def _micros(text: str) -> int:
    dollars, micros = text.strip().split(".")
    return int(dollars) * 1_000_000 + int(micros)


def test_requests_show_on_the_billing_page_and_exports_match_it(
    page, live_server_url, committed, mock_provider_url, live_mail_dir
):
    activation, _ = committed(curated_mix_and_codes, mock_provider_url)
    sign_up(page, live_mail_dir)
    page.click("nav >> text=Activation Codes")
    page.fill("#redeem-form input[name=code]", activation)
    page.click("#redeem-form button[type=submit]")
    key = page.locator("#new-key").inner_text()

    ids = []
    with openai.OpenAI(api_key=key, base_url=f"{live_server_url}/v1", max_retries=0) as client:
        for feature in ("support-chat", "support-chat", "search"):
            answer = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "bill me"}],
                max_tokens=8,
                extra_headers={"X-Feature-Id": feature},
            )
            ids.append(answer.headers["x-request-id"])
    consume(committed, *ids)

    page.get_by_role("link", name="Billing", exact=True).click()  # not the section heading of that name
    expect(page.locator("#total-requests")).to_have_text("3")
    total = _micros(page.locator("#total-cost").inner_text())
    assert total > 0
    assert page.locator("svg.chart").count() == 3
    page.select_option("#billing-filter select[name=by]", "feature")
    page.click("#billing-filter button[type=submit]")
    expect(page.locator("#breakdown tbody tr")).to_have_count(2)
    expect(page.locator("#breakdown tbody tr").first).to_contain_text("support-chat")

    page.check("#export-form input[name=group_by][value=feature]")
    for fmt in ("csv", "xlsx"):
        page.select_option("#export-form select[name=format]", fmt)
        with page.expect_download() as download_info:
            page.click("#export-form button[type=submit]")
        download = download_info.value
        assert download.suggested_filename.endswith(f".{fmt}")
        content = download.path().read_bytes()
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(content.decode())))
            costs = [int(row["cost_micros"]) for row in rows]
            assert {row["feature"] for row in rows} == {"support-chat", "search"}
        else:
            sheet = list(
                openpyxl.load_workbook(io.BytesIO(content), read_only=True)["Spend 1"].iter_rows(values_only=True)
            )
            costs = [row[sheet[0].index("cost_micros")] for row in sheet[1:]]
        assert sum(costs) == total, fmt  # the export's totals are the page's
    assert re.search(r"/o/[\w-]+/billing/", page.url)
