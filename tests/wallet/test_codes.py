"""Credit and activation codes: minting, each failure's own message, lockout, audit, and one winner under a race."""

import datetime as dt
import hashlib
import threading
import uuid

import pytest
from django.db import connections
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.services import user_create
from apps.audit.models import AuditEvent
from apps.keys.models import VirtualKey
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create
from apps.wallet.codes import ALPHABET, CODE_LENGTH, code_normalise
from apps.wallet.errors import (
    CodeDisabled,
    CodeExpired,
    CodeUnknown,
    CodeUsed,
    CodeWrongPage,
    InvalidBatch,
    RedemptionLocked,
)
from apps.wallet.models import Code, CodeKind, EntryKind, Subscription, Wallet, WalletEntry
from apps.wallet.services.codes import code_batch_disable, code_batch_mint, code_disable, code_redeem

pytestmark = pytest.mark.django_db
USD = 1_000_000


@pytest.fixture
def org(edge, make_user):  # type: ignore[no-untyped-def]
    return organization_create(name=f"Redeemers {uuid.uuid4().hex[:6]}", owner=make_user())


def _mint(staff, kind=CodeKind.CREDIT, count=1, credit=5 * USD, **extra):  # type: ignore[no-untyped-def]
    return code_batch_mint(kind=kind, count=count, credit_micros=credit, actor=staff, **extra)


def _redeem(org, user, text, kind=CodeKind.CREDIT, ip="198.51.100.7"):  # type: ignore[no-untyped-def]
    return code_redeem(kind=kind, text=text, organization=org, user=user, client_ip=ip)


def test_codes_carry_over_100_bits_are_stored_hashed_and_match_however_typed(org, make_user):
    staff, user = make_user(), make_user()
    minted = _mint(staff, count=3)
    assert len(ALPHABET) ** CODE_LENGTH >= 2**125
    text = minted.codes[0]
    assert len(text.split("-")) == 5 and all(len(group) == 5 for group in text.split("-"))
    stored = list(Code.objects.filter(batch=minted.batch).values_list("code_hash", "hint"))
    expected = {hashlib.sha256(code.replace("-", "").encode()).hexdigest(): code[-4:] for code in minted.codes}
    assert dict(stored) == expected  # only each code's SHA-256 and last four characters are kept
    typed = text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    redemption = _redeem(org, user, typed)
    assert redemption.entry is not None and redemption.entry.amount_micros == 5 * USD
    assert Wallet.objects.get(organization=org).balance_micros == 5 * USD


def test_each_reason_a_code_fails_has_its_own_message(org, make_user):
    staff, user = make_user(), make_user()
    used, disabled, in_disabled_batch = _mint(staff, count=3).codes
    _redeem(org, user, used)
    code_disable(code=_code(disabled), actor=staff)
    batch = _mint(staff, count=1)
    code_batch_disable(batch=batch.batch, actor=staff)
    expired = _mint(staff, expires_at=timezone.now() + dt.timedelta(seconds=1))
    expired.batch.expires_at = timezone.now() - dt.timedelta(seconds=1)
    expired.batch.save(update_fields=["expires_at"])
    activation = _mint(staff, kind=CodeKind.ACTIVATION, credit=0)
    cases = [
        (used, CodeUsed, "already been redeemed"),
        (disabled, CodeDisabled, "disabled"),
        (batch.codes[0], CodeDisabled, "disabled"),
        (expired.codes[0], CodeExpired, "expired"),
        ("X" * 25, CodeUnknown, "does not exist"),
        ("not a code", CodeUnknown, "does not exist"),
        (activation.codes[0], CodeWrongPage, "Activation Codes page"),
    ]
    for text, error, message in cases:
        with pytest.raises(error, match=message):
            _redeem(org, make_user(), text)  # a new user each time: the lockout is tested on its own
    reasons = list(
        AuditEvent.objects.filter(organization_id=org.pk, action="code.redeem_failed").values_list(
            "after__reason", flat=True
        )
    )
    assert sorted(reasons) == sorted(["used", "disabled", "disabled", "expired", "unknown", "unknown", "wrong_kind"])
    assert WalletEntry.objects.filter(wallet__organization=org).count() == 1  # only the one success credited
    assert in_disabled_batch  # the third code of the first batch is untouched, still redeemable
    _redeem(org, user, in_disabled_batch)


def _code(text: str) -> Code:
    from apps.wallet.codes import code_hash

    return Code.objects.get(code_hash=code_hash(code_normalise(text) or ""))


def test_repeated_failures_lock_the_user_and_then_the_ip(org, make_user, settings):
    settings.REDEEM_MAX_FAILURES_PER_USER, settings.REDEEM_MAX_FAILURES_PER_IP = 3, 5
    staff, guesser = make_user(), make_user()
    good = _mint(staff).codes[0]
    ip = f"203.0.113.{uuid.uuid4().int % 250}"
    for _ in range(3):
        with pytest.raises(CodeUnknown):
            _redeem(org, guesser, "Z" * 25, ip=ip)
    with pytest.raises(RedemptionLocked, match="Too many failed attempts"):
        _redeem(org, guesser, good, ip=f"{ip}0")  # locked even with a valid code, from elsewhere
    other = make_user()
    for _ in range(2):
        with pytest.raises(CodeUnknown):
            _redeem(org, other, "Z" * 25, ip=ip)
    with pytest.raises(RedemptionLocked):
        _redeem(org, make_user(), good, ip=ip)  # the IP has had 5 failures: a fresh user there is locked too
    assert _redeem(org, make_user(), good, ip="192.0.2.99").entry is not None
    reasons = AuditEvent.objects.filter(organization_id=org.pk, action="code.redeem_failed")
    assert list(reasons.values_list("after__reason", flat=True)).count("locked") == 2  # locked attempts are audited


def test_an_activation_code_creates_a_first_key_grants_credit_and_records_its_distributor(org, make_user):
    staff, newcomer = make_user(), org.memberships.get(team=None).user  # the page needs an org admin
    minted = _mint(staff, kind=CodeKind.ACTIVATION, credit=USD // 2, distributor="partner-acme", campaign="launch")
    redemption = _redeem(org, newcomer, minted.codes[0], kind=CodeKind.ACTIVATION)
    assert redemption.key is not None and redemption.key_plaintext.startswith("sk-hydite-")
    key = VirtualKey.objects.get(pk=redemption.key.pk)
    assert key.user == newcomer and key.organization == org
    assert redemption.entry is not None and redemption.entry.kind == EntryKind.ACTIVATION_GRANT
    event = AuditEvent.objects.get(organization_id=org.pk, action="code.redeem")
    assert event.after["distributor"] == "partner-acme" and event.after["key_id"] == key.pk


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"count": 0}, "count"),
        ({"count": 10_001}, "count"),
        ({"credit": 0}, "amount"),
        ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "expires_at"),
    ],
)
def test_minting_refuses_bad_batches(make_user, edge, arguments, param):
    with pytest.raises(InvalidBatch) as caught:
        _mint(make_user(), **arguments)
    assert caught.value.param == param


def test_fifty_concurrent_redemptions_of_one_code_give_exactly_one_success(committed, django_db_blocker):
    def setup():  # type: ignore[no-untyped-def]
        staff = user_create(email=f"staff-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
        organization = organization_create(
            name=f"Race {uuid.uuid4().hex[:6]}", owner=staff, billing_mode=BillingMode.PREPAID
        )
        users = [user_create(email=f"racer-{uuid.uuid4().hex[:10]}@example.test", password=None) for _ in range(50)]
        return organization, users, _mint(staff, credit=3 * USD).codes[0]

    organization, users, text = committed(setup)
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def attempt(user) -> None:  # type: ignore[no-untyped-def]
        try:
            with schema_context("edge"):
                barrier.wait()
                _redeem(organization, user, text, ip=None)
                outcomes.append("ok")
        except CodeUsed:
            outcomes.append("used")
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=attempt, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == ["ok"] + ["used"] * 49

    def ledger():  # type: ignore[no-untyped-def]
        wallet = Wallet.objects.get(organization=organization)
        return wallet.balance_micros, WalletEntry.objects.filter(wallet=wallet).count()

    assert committed(ledger) == (3 * USD, 1)

    def actions() -> list[str]:
        return list(AuditEvent.objects.filter(organization_id=organization.pk).values_list("action", flat=True))

    audited = committed(actions)
    assert audited.count("code.redeem_failed") == 49 and audited.count("code.redeem") == 1


def test_an_activation_code_can_start_a_plan_trial(org, make_user):
    from apps.wallet.selectors import plan_in_force

    minted = _mint(make_user(), kind=CodeKind.ACTIVATION, credit=0, trial_plan="team", trial_days=14)
    _redeem(org, org.memberships.get(team=None).user, minted.codes[0], kind=CodeKind.ACTIVATION)
    assert plan_in_force(organization=org).slug == "team"
    subscription = Subscription.objects.get(organization=org)
    assert subscription.status == "trialing"
    assert (subscription.current_period_end - subscription.current_period_start).days == 14
    with pytest.raises(InvalidBatch):
        _mint(make_user(), kind=CodeKind.CREDIT, trial_plan="team", trial_days=14)
    with pytest.raises(InvalidBatch):
        _mint(make_user(), kind=CodeKind.ACTIVATION, trial_plan="enterprise", trial_days=14)
