"""A person in a real browser: sign up, log out, log in, create a team, see it in the audit log."""

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

# django_db: makes pytest-django create the test database the live server runs on.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_sign_up_log_in_create_team_and_see_audit_event(page, live_server_url, tmp_path):
    email = f"browser-{uuid.uuid4().hex[:8]}@example.test"

    page.goto("/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/o/[\w-]+/$"))
    expect(page.locator("h1")).to_have_text(re.compile("organisation"))

    page.click("text=Log out")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/o/[\w-]+/$"))

    page.click("nav >> text=Teams")
    page.fill("#team-create input[name=name]", "Research Ops")
    page.click("#team-create button[type=submit]")
    expect(page.locator("h1")).to_have_text("Research Ops")
    expect(page.locator("#team-members")).to_contain_text("No members yet.")

    page.click("nav >> text=Audit log")
    row = page.locator("#audit-events tr", has_text="team.create")
    expect(row).to_contain_text("Research Ops")
    expect(row).to_contain_text(email)
    page.fill("#audit-filters input[name=action]", "team.")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#audit-events tbody tr")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "audit-log.png"), full_page=True)

    page.click("nav >> text=API Keys")
    page.fill("#key-create input[name=name]", "browser key")
    page.click("#key-create button[type=submit]")
    secret = page.locator("#new-key").inner_text()
    assert re.fullmatch(r"sk-hydite-[0-9a-f]{32}", secret)
    expect(page.locator("#keys")).to_contain_text("browser key")
    page.click("nav >> text=API Keys")
    expect(page.locator("#keys")).to_contain_text("browser key")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once
    models = httpx.get(f"{live_server_url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert models.status_code == 200 and models.json()["object"] == "list"


def test_wrong_password_is_refused(page):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "nobody@example.test")
    page.fill("input[name=password]", "wrong-password-123")
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator("form")).to_contain_text("not correct")
