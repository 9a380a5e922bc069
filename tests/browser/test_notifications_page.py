"""An org admin adds a webhook endpoint on Settings → Notifications and sees its signing secret once."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard_flows import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_add_a_webhook_endpoint_and_see_the_secret_once(page, receiver, live_mail_dir):
    sign_up(page, live_mail_dir, prefix="hooks")

    page.click("nav >> text=Notifications")
    expect(page.locator("h1")).to_have_text("Notifications")
    expect(page.locator("#webhook-endpoints")).to_contain_text("No webhook endpoints yet.")
    page.fill("#webhook-create input[name=url]", f"{receiver.url}/hook")
    page.uncheck("#webhook-create input[value='budget.soft_exceeded']")
    page.click("#webhook-create button[type=submit]")

    secret = page.locator("#new-webhook-secret").inner_text()
    assert re.fullmatch(r"whsec_[0-9a-f]{48}", secret)
    row = page.locator("#webhook-endpoints tbody tr")
    expect(row).to_contain_text(f"{receiver.url}/hook")
    expect(row).to_contain_text("budget.threshold_80")
    expect(row).not_to_contain_text("budget.soft_exceeded")

    page.click("nav >> text=Notifications")
    expect(page.locator("#new-webhook-secret")).to_have_count(0)  # shown once
    expect(page.locator("#webhook-endpoints")).to_contain_text("whsec_…" + secret[-4:])
    assert secret not in page.content()

    page.click("#webhook-endpoints button:text('Disable')")
    expect(page.locator("#webhook-endpoints tbody tr")).to_contain_text("Disabled")
    page.click("#webhook-endpoints button:text('Remove')")
    expect(page.locator("#webhook-endpoints")).to_contain_text("No webhook endpoints yet.")
