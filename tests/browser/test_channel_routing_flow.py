"""An org admin in a real browser routes a channel: a preset and a fallback, the version it leaves and its diff,
a rollback behind a confirmation, and a dry run."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard_flows import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

MODELS = """models:
  - alias: primary
    provider: {name: openai, model: gpt-4o, api_base: "https://8.8.8.8/v1"}
  - alias: backup
    provider: {name: anthropic, model: claude-sonnet-4-5, api_base: "https://8.8.8.8/v1"}
"""


def test_set_a_preset_and_a_fallback_see_the_version_roll_back_and_dry_run(page, live_mail_dir, tmp_path):
    sign_up(page, live_mail_dir, prefix="routing")
    page.click("nav >> text=Channels")
    channel = page.locator("section.channel").first
    channel.locator("summary", has_text="Import YAML").click()
    channel.locator(".yaml-import textarea[name=yaml]").fill(MODELS)
    channel.locator(".yaml-import button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("Imported 2 model(s) into Default Channel.")
    page.locator("section.channel").first.locator("text=Routing, versions, dry run and health").click()
    expect(page.locator("h1")).to_have_text("Default Channel · routing")
    versions = page.locator("#routing-version-list tbody tr")
    expect(versions.first).to_contain_text("imported YAML")
    imported = versions.first.get_attribute("data-version")

    page.click("#routing-settings summary")
    page.select_option("#routing-settings-form select[name=preset]", "fastest")
    page.fill("#routing-settings-form tr[data-alias='primary'] input[name$='-chain']", "backup")
    page.click("#routing-settings-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Routing settings of Default Channel saved.")
    expect(page.locator("#routing-policy")).to_contain_text("fastest")
    expect(page.locator("#routing-chains")).to_contain_text("backup")
    expect(versions.first).to_contain_text("applied the fastest preset; fallbacks of primary: backup")

    versions.first.locator("text=Diff").click()
    expect(page.locator("#version-diff")).to_contain_text("+  strategy: latency")
    expect(page.locator("#version-diff .add", has_text="- backup")).to_have_count(1)
    page.click("text=← Routing of Default Channel")

    rollback = page.locator(f"#routing-version-list button:text('Roll back to v{imported}')")
    page.once("dialog", lambda dialog: dialog.dismiss())
    rollback.click()
    expect(page.locator("#routing-policy")).to_contain_text("fastest")  # not confirmed: nothing changed
    page.once("dialog", lambda dialog: dialog.accept())
    rollback.click()
    expect(page.locator(".messages")).to_contain_text(f"Rolled the routing of Default Channel back to v{imported}.")
    expect(page.locator("#routing-chains")).to_contain_text("No fallback chains.")
    expect(versions.first).to_contain_text(f"rolled back to v{imported}")

    page.fill("#dry-run-form input[name=samples-0-alias]", "primary")
    page.fill("#dry-run-form input[name=samples-1-alias]", "nowhere")
    page.click("#dry-run-form button[type=submit]")
    results = page.locator("#dry-run-results .dry-run-result")
    expect(results).to_have_count(2)
    expect(results.first.locator("td.pick")).to_have_text(re.compile(r"^#\d+ openai:gpt-4o$"))
    expect(results.first).to_contain_text("weighted, 2 retries")
    expect(results.nth(1)).to_contain_text("The model `nowhere` does not exist")
    rows = page.locator("#routing-health-table tbody tr")  # the imported deployments, and any curated ones
    expect(rows.first).to_be_visible()
    expect(page.locator("#routing-health-table .status-ok")).to_have_count(rows.count())
    page.screenshot(path=str(tmp_path / "channel-routing.png"), full_page=True)
