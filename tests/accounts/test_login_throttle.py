"""Issue 15, point 6: password guessing on both login pages meets growing waits per (account, client address),
and a wait for the attacker's address never refuses the account's owner elsewhere."""

import re
import threading
import uuid

import pytest
from django.db import connections
from django.test import Client

from tests.conftest import EDGE_HOST, PASSWORD, redis_unreachable

WRONG = "not-the-password-at-all"
WAIT_MESSAGE = "Too many failed log-ins"


@pytest.fixture
def admin_user(edge, make_user):  # type: ignore[no-untyped-def]
    user = make_user(f"root-{uuid.uuid4().hex[:8]}@example.test")
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


def _address() -> str:
    """A client address of this test's own: counters per address outlive a test."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def _admin_login(email: str, password: str, address: str) -> tuple[bool, str]:
    """(logged in?, page text) for one POST to /admin/login/ from `address`."""
    client = Client(HTTP_HOST=EDGE_HOST, REMOTE_ADDR=address)
    answer = client.post("/admin/login/?next=/admin/", {"username": email, "password": password})
    return answer.status_code == 302 and answer["Location"] == "/admin/", answer.content.decode()


def _dashboard_login(email: str, password: str, address: str) -> tuple[bool, str]:
    client = Client(HTTP_HOST=EDGE_HOST, REMOTE_ADDR=address)
    answer = client.post("/accounts/login/", {"login": email, "password": password})
    return answer.status_code == 302, answer.content.decode()


@pytest.fixture(autouse=True)
def _throttle(settings):  # type: ignore[no-untyped-def]
    """5 free failures per (account, address), 50 per address (the defaults), then waits from 60 s."""
    settings.LOGIN_THROTTLE_FREE_FAILURES = 5
    settings.LOGIN_THROTTLE_IP_FREE_FAILURES = 50
    settings.LOGIN_THROTTLE_BASE_DELAY_S = 60
    settings.LOGIN_THROTTLE_MAX_DELAY_S = 900


def test_25_wrong_admin_passwords_then_the_right_one_waits_for_the_delay(admin_user, monkeypatch):
    attacker = _address()
    answers = [_admin_login(admin_user.email, WRONG, attacker) for _ in range(25)]
    assert not any(logged_in for logged_in, _ in answers)
    assert [WAIT_MESSAGE in page for _, page in answers] == [False] * 5 + [True] * 20  # 20 never checked
    logged_in, page = _admin_login(admin_user.email, PASSWORD, attacker)
    assert not logged_in and re.search(WAIT_MESSAGE + r".*try again in (59|60) seconds", page)

    from apps.accounts import login_throttle

    now = login_throttle.clock_ms()
    monkeypatch.setattr(login_throttle, "clock_ms", lambda: now + 60_001)  # the wait is over
    assert _admin_login(admin_user.email, PASSWORD, attacker)[0]
    assert WAIT_MESSAGE not in _admin_login(admin_user.email, WRONG, attacker)[1]  # the success reset the count


@pytest.mark.parametrize("login", [_admin_login, _dashboard_login], ids=["admin", "dashboard"])
def test_an_attackers_failures_do_not_stop_the_owner_elsewhere(admin_user, login):
    attacker, owner = _address(), _address()
    for _ in range(12):
        assert not login(admin_user.email, WRONG, attacker)[0]
    assert WAIT_MESSAGE in login(admin_user.email, PASSWORD, attacker)[1]  # the right password, not checked
    assert login(admin_user.email, PASSWORD, owner)[0]  # at once, from the owner's address


def test_one_address_guessing_across_accounts_is_slowed_too(settings, edge, make_user):
    settings.LOGIN_THROTTLE_IP_FREE_FAILURES = 8
    stuffer = _address()
    answers = [_dashboard_login(f"nobody-{n}@example.test", WRONG, stuffer)[1] for n in range(10)]
    assert [WAIT_MESSAGE in page for page in answers] == [False] * 8 + [True] * 2
    someone = make_user()
    assert WAIT_MESSAGE in _dashboard_login(someone.email, PASSWORD, stuffer)[1]
    assert _dashboard_login(someone.email, PASSWORD, _address())[0]


def test_concurrent_guesses_get_no_more_checks_than_the_allowance(admin_user):
    attacker, pages = _address(), []
    start = threading.Barrier(20)

    def guess() -> None:
        try:
            start.wait()
            pages.append(_admin_login(admin_user.email, WRONG, attacker)[1])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = [page for page in pages if WAIT_MESSAGE not in page]
    assert len(pages) == 20
    assert len(checked) == 5


def test_a_dashboard_lockout_no_longer_refuses_the_right_password_from_anywhere(admin_user):
    """allauth's own limit (5 failures of an address from anywhere, then 5 minutes of refusals) is gone."""
    for _ in range(6):
        _dashboard_login(admin_user.email, WRONG, _address())
    assert _dashboard_login(admin_user.email, PASSWORD, _address())[0]


def test_an_ipv6_guesser_is_one_client_across_the_addresses_of_its_64(admin_user):
    """Any host or site gets a whole /64 (2**64 addresses): counted per address, it would never wait."""
    network = f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}:{uuid.uuid4().int % 0xFFFF:x}"
    answers = [_admin_login(admin_user.email, WRONG, f"{network}::{n + 1:x}")[1] for n in range(8)]
    assert [WAIT_MESSAGE in page for page in answers] == [False] * 5 + [True] * 3
    assert _admin_login(admin_user.email, PASSWORD, f"2001:db8:ffff:ffff::{uuid.uuid4().int % 0xFFFF:x}")[0]


@pytest.mark.parametrize("login", [_admin_login, _dashboard_login])
def test_with_redis_down_no_password_is_checked_and_the_page_says_so(admin_user, settings, login):
    """The throttle counts in Redis: without it a guesser would get unlimited checks, so none are made (no 500)."""
    with redis_unreachable(settings):
        logged_in, page = login(admin_user.email, PASSWORD, _address())
    assert not logged_in and "Signing in is unavailable for a moment" in page
    assert login(admin_user.email, PASSWORD, _address())[0]  # and once it is back, the right password works
