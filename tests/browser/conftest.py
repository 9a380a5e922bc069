"""A live server (uvicorn over real TCP, on the test database) and Debian's Chromium."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import database_url_for_test_db
from tests.live import ROOT, free_port, stop, wait_for_http

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


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    database_url = database_url_for_test_db()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "1",
        "SECRET_KEY": "live-server-" + uuid.uuid4().hex,
        "CACHE_KEY_PREFIX": f"live-{uuid.uuid4().hex[:8]}",
    }
    log = open(tmp_path_factory.mktemp("live-server") / "uvicorn.log", "w")  # noqa: SIM115
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "hydite.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base_url}/healthz", server, Path(log.name))
        yield base_url
    finally:
        stop(server)
        log.close()


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
