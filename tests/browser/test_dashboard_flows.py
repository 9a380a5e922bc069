"""A person in a real browser: sign up, log out, log in, create a team, see it in the audit log."""

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.live import mailed_link

# django_db: makes pytest-django create the test database the live server runs on.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def sign_up(page, mail_dir: Path, prefix: str = "browser") -> str:  # type: ignore[no-untyped-def]
    """A new person signs up and opens the confirmation link mailed to them (a personal organisation, they
    its admin); returns the email."""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.test"
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    page.goto(mailed_link(mail_dir, email, "/accounts/confirm-email/"))
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/o/[\w-]+/$"))
    return email


def _mint_key(page, name: str) -> str:  # type: ignore[no-untyped-def]
    """Mint a key on the API Keys page; returns its clear text (shown once)."""
    page.click("nav >> text=API Keys")
    page.fill("#key-create input[name=name]", name)
    page.click("#key-create button[type=submit]")
    secret = page.locator("#new-key").inner_text()
    assert re.fullmatch(r"sk-hydite-[0-9a-f]{32}", secret)
    expect(page.locator("#keys")).to_contain_text(name)
    return secret


def test_sign_up_log_in_create_team_and_see_audit_event(page, live_server_url, live_mail_dir, tmp_path):
    email = sign_up(page, live_mail_dir)
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

    secret = _mint_key(page, "browser key")
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


def test_edit_a_key_s_rpm_limit_in_its_page(page, live_mail_dir, tmp_path):
    sign_up(page, live_mail_dir)
    _mint_key(page, "limited key")
    page.click("#keys >> text=limited key")
    expect(page.locator("#key-limits .rpm-limit")).to_have_text("—")

    page.fill("#key-limits-form input[name=rpm_limit]", "42")
    page.fill("#key-limits-form textarea[name=allowed_ips]", "not-an-ip")
    page.click("#key-limits-form button[type=submit]")
    expect(page.locator("#key-limits-form .errorlist")).to_contain_text("not an IP address or CIDR block")
    expect(page.locator("#key-limits .rpm-limit")).to_have_text("—")  # nothing saved

    page.fill("#key-limits-form textarea[name=allowed_ips]", "")
    page.click("#key-limits-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Limits saved.")
    expect(page.locator("#key-limits .rpm-limit")).to_have_text("42")
    expect(page.locator("#key-limits-form input[name=rpm_limit]")).to_have_value("42")
    expect(page.locator('.rate[data-dimension="requests"]')).to_contain_text("0 of 42")
    page.screenshot(path=str(tmp_path / "key-limits.png"), full_page=True)
