"""The failed-redemption limits hold under concurrency: a burst of guesses is evaluated no further than the
limit (real PostgreSQL, real Redis, one thread and connection per attempt), and a correct code is only held
back while the attempts in flight decide whether it is locked."""

import re
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connections
from django_tenants.utils import schema_context

from apps.accounts.services import user_create
from apps.audit.models import AuditEvent
from apps.orgs.services.organizations import organization_create
from apps.wallet.errors import RedemptionBusy, RedemptionFailed, RedemptionLocked
from apps.wallet.models import Code, CodeKind
from apps.wallet.services import codes, redemption_guard
from apps.wallet.services.codes import Redemption, code_batch_mint, code_redeem
from apps.wallet.services.redemption_guard import RedemptionGuard, Reservation
from tests.conftest import client_for, redis_unreachable

pytestmark = pytest.mark.django_db
USD = 1_000_000
WRONG = "Z" * 25


def _ip() -> str:
    return f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _burst(committed, django_db_blocker, *, users: int, ip: str) -> Counter[str]:  # type: ignore[no-untyped-def]
    """40 wrong codes at once, from `users` users behind `ip`; the audited reason of each."""

    def setup():  # type: ignore[no-untyped-def]
        owner = user_create(email=f"owner-{uuid.uuid4().hex[:10]}@example.test", password=None, email_verified=True)
        organization = organization_create(name=f"Guessers {uuid.uuid4().hex[:6]}", owner=owner)
        people = [
            user_create(email=f"guess-{uuid.uuid4().hex[:10]}@example.test", password=None, email_verified=True)
            for _ in range(users)
        ]
        return organization, people

    organization, people = committed(setup)
    barrier = threading.Barrier(40)
    errors: list[BaseException] = []

    def attempt(user) -> None:  # type: ignore[no-untyped-def]
        try:
            with schema_context("edge"):
                barrier.wait()
                code_redeem(kind=CodeKind.CREDIT, text=WRONG, organization=organization, user=user, client_ip=ip)
        except (RedemptionFailed, RedemptionLocked, RedemptionBusy):
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=attempt, args=(people[n % users],)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []

    def reasons() -> Counter[str]:
        events = AuditEvent.objects.filter(organization_id=organization.pk, action="code.redeem_failed")
        return Counter(events.values_list("after__reason", flat=True))

    return committed(reasons)  # type: ignore[no-any-return]


def test_forty_concurrent_wrong_codes_from_one_user_evaluate_at_most_five(committed, django_db_blocker):
    reasons = _burst(committed, django_db_blocker, users=1, ip=_ip())
    assert reasons == Counter({"unknown": 5, "locked": 35})


def test_forty_concurrent_wrong_codes_from_one_ip_across_users_evaluate_at_most_twenty(committed, django_db_blocker):
    reasons = _burst(committed, django_db_blocker, users=40, ip=_ip())
    assert reasons == Counter({"unknown": 20, "locked": 20})


@pytest.fixture
def holder(edge, make_user, settings):  # type: ignore[no-untyped-def]
    """A user whose correct code meets the three attempts (the limit) it holds in flight."""
    settings.REDEEM_MAX_FAILURES_PER_USER, settings.REDEEM_MAX_FAILURES_PER_IP = 3, 10
    owner, user, ip = make_user(), make_user(), _ip()
    organization = organization_create(name=f"Holders {uuid.uuid4().hex[:6]}", owner=owner)
    good = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=USD, actor=owner).codes[0]
    guard = RedemptionGuard(user=user, client_ip=ip)

    class Holder:
        def hold(self) -> list[Reservation]:
            return [guard.reserve() for _ in range(3)]

        def settle(self, held: list[Reservation], *, failed: bool) -> None:
            for reservation in held:
                guard.settle(reservation, failed=failed)

        def redeem(self) -> Redemption:
            return code_redeem(kind=CodeKind.CREDIT, text=good, organization=organization, user=user, client_ip=ip)

        def reasons(self) -> list[str]:
            events = AuditEvent.objects.filter(organization_id=organization.pk, action="code.redeem_failed")
            return list(events.values_list("after__reason", flat=True))

    return Holder()


@pytest.mark.parametrize("those_failed", [False, True])
def test_a_correct_code_waits_for_the_attempts_in_flight_and_follows_their_outcome(holder, those_failed):
    held = holder.hold()
    ending = threading.Timer(0.3, lambda: holder.settle(held, failed=those_failed))
    ending.start()
    started = time.monotonic()
    try:
        if those_failed:  # three failures: the limit is reached, the correct code is refused as locked
            with pytest.raises(RedemptionLocked, match=r"Too many failed attempts\. Try again in 15 minute"):
                holder.redeem()
        else:  # the attempts in flight did not fail: nothing blocks the correct code
            assert holder.redeem().entry.amount_micros == USD
    finally:
        ending.join()
    assert time.monotonic() - started >= 0.25  # it waited for them rather than being refused at once
    assert holder.reasons() == (["locked"] if those_failed else [])


def test_the_slots_of_attempts_that_died_free_themselves(holder, monkeypatch):
    monkeypatch.setattr(redemption_guard, "LEASE_MS", 300)
    holder.hold()  # never settled: their process died
    started = time.monotonic()
    assert holder.redeem().entry.amount_micros == USD
    assert 0.2 <= time.monotonic() - started < 3


def test_slots_held_too_long_answer_busy_and_are_audited(holder, monkeypatch):
    monkeypatch.setattr(redemption_guard, "WAIT_S", 0.2)
    held = holder.hold()
    with pytest.raises(RedemptionBusy, match="still being checked"):
        holder.redeem()
    assert holder.reasons() == ["busy"]
    holder.settle(held, failed=False)
    assert holder.redeem().entry.amount_micros == USD


def test_an_ipv6_client_is_one_ip_across_the_addresses_of_its_64(edge, make_user, settings):
    settings.REDEEM_MAX_FAILURES_PER_USER, settings.REDEEM_MAX_FAILURES_PER_IP = 5, 3
    organization = organization_create(name=f"Rotating {uuid.uuid4().hex[:6]}", owner=make_user())
    network = f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}:{uuid.uuid4().int % 0xFFFF:x}"
    outcomes = []
    for n in range(5):  # a fresh account and a fresh address of the same /64 each time
        try:
            code_redeem(
                kind=CodeKind.CREDIT,
                text=WRONG,
                organization=organization,
                user=make_user(),
                client_ip=f"{network}::{n + 1:x}",
            )
        except (RedemptionFailed, RedemptionLocked) as exc:
            outcomes.append(exc.reason)
    assert outcomes == ["unknown"] * 3 + ["locked"] * 2


def test_with_redis_down_no_code_is_looked_up_and_the_page_says_so(org_with_roles, make_user, settings):
    """The limits live in Redis: without it nothing is evaluated uncounted, and the page says why (no 500)."""
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    good = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=USD, actor=make_user()).codes[0]
    with redis_unreachable(settings):
        answer = client_for(admin).post(f"/o/{organization.slug}/credit-codes/redeem/", {"code": good})
    assert answer.status_code == 503 and "Try again in a minute" in answer.content.decode()
    assert Code.objects.get(hint=good[-4:], batch__credit_micros=USD).redeemed_at is None
    event = AuditEvent.objects.get(organization_id=organization.pk, action="code.redeem_failed")
    assert event.after["reason"] == "unavailable"


def test_redis_lost_after_a_redemption_does_not_hide_it(org_with_roles, make_user, settings, monkeypatch):
    """The activation key is shown once: a failure to free the attempt's slot (it frees itself) must not eat it."""
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    good = code_batch_mint(kind=CodeKind.ACTIVATION, count=1, credit_micros=USD, actor=make_user()).codes[0]
    redeem, lost = codes.code_redemption_apply, redis_unreachable(settings)

    def redeem_then_lose_redis(**kwargs):  # type: ignore[no-untyped-def]
        redemption = redeem(**kwargs)
        lost.__enter__()
        return redemption

    monkeypatch.setattr(codes, "code_redemption_apply", redeem_then_lose_redis)
    try:
        answer = client_for(admin).post(f"/o/{organization.slug}/activation-codes/redeem/", {"code": good})
    finally:
        lost.__exit__(None, None, None)
    assert answer.status_code == 200 and re.search(r"sk-hydite-[0-9a-f]{32}", answer.content.decode())
