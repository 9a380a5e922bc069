"""Debian's Chromium driven by Playwright, against the live server (tests/conftest.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser(live_server_url) -> Iterator[object]:  # type: ignore[no-untyped-def]
    # Function scope, and after the live server: Playwright's sync API keeps an
    # event loop running in this thread, which Django's ORM refuses to run under.
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(live_server_url, browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
