"""The wallet's ledger: entries are the truth, totals follow them, usage takes the plan quota first."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.keys.snapshots import key_snapshot_build
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create
from apps.wallet.errors import InvalidAmount
from apps.wallet.models import Account, EntryKind, Wallet, WalletEntry
from apps.wallet.periods import add_month, month_bounds, period_holding
from apps.wallet.selectors import wallet_gateway_snapshot, wallet_ledger_sums
from apps.wallet.services.ledger import (
    Usage,
    wallet_adjust,
    wallet_credit,
    wallet_periods_roll,
    wallet_plan_quota_grant,
    wallet_usage_debit,
)

pytestmark = pytest.mark.django_db
USD = 1_000_000


@pytest.fixture
def prepaid(edge, make_user):  # type: ignore[no-untyped-def]
    return organization_create(name="Prepaid", owner=make_user(), billing_mode=BillingMode.PREPAID)


def _totals_match_entries(organization) -> None:  # type: ignore[no-untyped-def]
    wallet = Wallet.objects.get(organization=organization)
    sums = wallet_ledger_sums(organization=organization)
    assert wallet.balance_micros == sums.get(Account.BALANCE, 0)
    period_quota = WalletEntry.objects.filter(wallet=wallet, account=Account.PLAN_QUOTA).values_list(
        "amount_micros", flat=True
    )
    assert wallet.plan_quota_micros == sum(period_quota)
    last = WalletEntry.objects.filter(wallet=wallet, account=Account.BALANCE).order_by("-id").first()
    assert last is None or last.balance_after_micros == wallet.balance_micros


def test_organisations_default_to_prepaid_on_the_shared_edge_and_invoiced_on_dedicated(edge, make_user):
    assert organization_create(name="Edge", owner=make_user()).billing_mode == BillingMode.PREPAID
    connection.set_schema_to_public()
    from apps.tenancy.models import Instance

    connection.set_tenant(Instance.objects.get(schema_name="acme"))
    assert organization_create(name="Acme team", owner=make_user()).billing_mode == BillingMode.INVOICE


def test_credits_add_up_exactly_and_a_reference_credits_once(prepaid, make_user):
    staff = make_user()
    assert wallet_credit(organization=prepaid, amount_micros=1, kind=EntryKind.CREDIT_CODE, actor=staff, reference="r1")
    assert (
        wallet_credit(organization=prepaid, amount_micros=1, kind=EntryKind.CREDIT_CODE, actor=staff, reference="r1")
        is None
    )
    wallet_credit(organization=prepaid, amount_micros=2_500_001, kind=EntryKind.STRIPE_PAYMENT, actor=None)
    assert Wallet.objects.get(organization=prepaid).balance_micros == 2_500_002
    _totals_match_entries(prepaid)


@pytest.mark.parametrize("amount", [0, -5, 10**15 + 1])
def test_a_credit_must_be_positive_and_sane(prepaid, amount):
    with pytest.raises(InvalidAmount):
        wallet_credit(organization=prepaid, amount_micros=amount, kind=EntryKind.CREDIT_CODE, actor=None)


def test_staff_adjustments_need_a_reason_and_are_audited(prepaid, make_user):
    from apps.audit.models import AuditEvent

    staff = make_user()
    with pytest.raises(InvalidAmount):
        wallet_adjust(organization=prepaid, amount_micros=5, reason="  ", actor=staff)
    wallet_adjust(organization=prepaid, amount_micros=-3 * USD, reason="chargeback", actor=staff)
    wallet_adjust(
        organization=prepaid, amount_micros=-USD, reason="refund of top-up", actor=staff, kind=EntryKind.REFUND
    )
    assert Wallet.objects.get(organization=prepaid).balance_micros == -4 * USD
    assert AuditEvent.objects.filter(organization_id=prepaid.pk, action__startswith="wallet.").count() == 2
    _totals_match_entries(prepaid)


def test_entries_cannot_be_changed_or_deleted(prepaid):
    entry = wallet_credit(organization=prepaid, amount_micros=USD, kind=EntryKind.CREDIT_CODE, actor=None)
    assert entry is not None
    for change in (lambda: WalletEntry.objects.filter(pk=entry.pk).update(amount_micros=10**9), entry.delete):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()


def test_usage_takes_the_plan_quota_first_then_the_balance(prepaid):
    start, end = month_bounds(timezone.now())
    wallet_credit(organization=prepaid, amount_micros=10 * USD, kind=EntryKind.CREDIT_CODE, actor=None)
    wallet_plan_quota_grant(
        organization=prepaid, amount_micros=3 * USD, period_start=start, period_end=end, reference="plan:1"
    )
    limit_before = Wallet.objects.get(organization=prepaid).gateway_limit_micros
    now = timezone.now()
    wallet_usage_debit(usages=[Usage(prepaid.pk, 2 * USD, now), Usage(prepaid.pk, 2 * USD + 1, now)])
    wallet = Wallet.objects.get(organization=prepaid)
    assert (wallet.plan_quota_micros, wallet.balance_micros) == (0, 10 * USD - USD - 1)
    assert wallet.period_usage_micros == 4 * USD + 1
    assert wallet.gateway_limit_micros == limit_before == 13 * USD  # usage does not move what the gateway enforces
    usage = WalletEntry.objects.filter(wallet=wallet, kind=EntryKind.USAGE).order_by("id")
    assert [(entry.account, entry.amount_micros, entry.requests) for entry in usage] == [
        (Account.PLAN_QUOTA, -3 * USD, 2),
        (Account.BALANCE, -USD - 1, 2),
    ]
    _totals_match_entries(prepaid)


def test_invoiced_organisations_are_not_debited_and_have_no_wallet_stop(edge, make_user):
    invoiced = organization_create(name="Invoiced", owner=make_user(), billing_mode=BillingMode.INVOICE)
    wallet_usage_debit(usages=[Usage(invoiced.pk, USD, timezone.now())])
    assert not Wallet.objects.filter(organization=invoiced).exists()
    assert wallet_gateway_snapshot(organization=invoiced) is None


def test_a_prepaid_organisation_without_a_wallet_may_spend_nothing(prepaid):
    snapshot = wallet_gateway_snapshot(organization=prepaid)
    assert snapshot is not None and snapshot["limit"] == 0


def test_key_snapshots_carry_the_wallet_limit(prepaid, make_user):
    from apps.keys.services import key_generate
    from apps.orgs.models import Team

    owner = prepaid.memberships.first().user
    key, _ = key_generate(
        organization=prepaid,
        team=Team.objects.get(organization=prepaid, is_default=True),
        user=owner,
        name="k",
        actor=owner,
    )
    wallet_credit(organization=prepaid, amount_micros=7 * USD, kind=EntryKind.CREDIT_CODE, actor=None)
    snapshot = key_snapshot_build(key_hash=key.key_hash)
    assert snapshot is not None and snapshot["wallet"]["limit"] == 7 * USD


def test_a_period_roll_expires_the_quota_left_and_restarts_usage(prepaid):
    start, end = month_bounds(timezone.now())
    wallet_plan_quota_grant(organization=prepaid, amount_micros=USD, period_start=start, period_end=end, reference="p")
    wallet_usage_debit(usages=[Usage(prepaid.pk, 400_000, timezone.now())])
    wallet_periods_roll(now=end - dt.timedelta(seconds=1))
    assert Wallet.objects.get(organization=prepaid).period_end == end  # not ended: not rolled
    assert wallet_periods_roll(now=end + dt.timedelta(days=40)) >= 1  # this one and any other test's
    wallet = Wallet.objects.get(organization=prepaid)
    assert (wallet.period_start, wallet.period_end) == period_holding(end, end + dt.timedelta(days=40))
    assert (wallet.plan_quota_micros, wallet.period_usage_micros) == (0, 0)
    expiry = WalletEntry.objects.get(wallet=wallet, kind=EntryKind.PLAN_QUOTA_EXPIRY)
    assert expiry.amount_micros == -600_000
    assert wallet_periods_roll(now=end + dt.timedelta(days=40)) == 0  # rerun-safe
    _totals_match_entries(prepaid)


def test_rows_from_before_the_period_are_taken_from_the_balance_only(prepaid):
    start, end = month_bounds(timezone.now())
    wallet_credit(organization=prepaid, amount_micros=USD, kind=EntryKind.CREDIT_CODE, actor=None)
    wallet_plan_quota_grant(organization=prepaid, amount_micros=USD, period_start=start, period_end=end, reference="q")
    wallet_usage_debit(usages=[Usage(prepaid.pk, 1000, start - dt.timedelta(seconds=1))])
    wallet = Wallet.objects.get(organization=prepaid)
    assert (wallet.plan_quota_micros, wallet.balance_micros, wallet.period_usage_micros) == (USD, USD - 1000, 0)


def test_periods_step_a_month_from_their_anchor():
    jan31 = dt.datetime(2027, 1, 31, 10, tzinfo=dt.UTC)
    assert add_month(jan31) == dt.datetime(2027, 2, 28, 10, tzinfo=dt.UTC)
    start = dt.datetime(2026, 12, 20, tzinfo=dt.UTC)
    assert period_holding(start, dt.datetime(2027, 2, 25, tzinfo=dt.UTC)) == (
        dt.datetime(2027, 2, 20, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 20, tzinfo=dt.UTC),
    )


def test_a_new_period_counts_the_usage_the_ledger_already_holds_since_it_began(prepaid):
    """The gateway reloads its counter from the ledger since the period's start: the wallet must agree."""
    from apps.spend.models import SpendLog

    wallet_credit(organization=prepaid, amount_micros=10 * USD, kind=EntryKind.CREDIT_CODE, actor=None)
    now = timezone.now()
    start = max(now - dt.timedelta(hours=1), month_bounds(now)[0] + dt.timedelta(microseconds=1))
    at = start + (now - start) / 2
    SpendLog.objects.create(
        request_id=f"req_{start.timestamp()}",
        created_at=at,
        organization_id=prepaid.pk,
        model_alias="m",
        cost_micros=700_000,
        status_code=200,
    )
    wallet_usage_debit(usages=[Usage(prepaid.pk, 700_000, at)])
    Wallet.objects.filter(organization=prepaid).update(period_usage_micros=0)  # forget it: the grant must find it
    wallet_plan_quota_grant(
        organization=prepaid,
        amount_micros=USD,
        period_start=start,
        period_end=start + dt.timedelta(days=30),
        reference="late-invoice",
    )
    wallet = Wallet.objects.get(organization=prepaid)
    assert wallet.period_start == start and wallet.period_usage_micros == 700_000  # read from the ledger


def test_a_batch_across_the_end_debits_each_row_in_its_own_period(prepaid):
    start, end = month_bounds(timezone.now())
    wallet_credit(organization=prepaid, amount_micros=USD, kind=EntryKind.CREDIT_CODE, actor=None)
    wallet_plan_quota_grant(organization=prepaid, amount_micros=500, period_start=start, period_end=end, reference="x")
    wallet_usage_debit(
        usages=[
            Usage(prepaid.pk, 400, end - dt.timedelta(seconds=5)),
            Usage(prepaid.pk, 300, end + dt.timedelta(minutes=5)),
        ]
    )
    wallet = Wallet.objects.get(organization=prepaid)
    assert wallet.period_start == end  # rolled
    expired = WalletEntry.objects.get(wallet=wallet, kind=EntryKind.PLAN_QUOTA_EXPIRY)
    assert expired.amount_micros == -100  # the old row took 400 of the old quota first; 100 expired
    assert wallet.balance_micros == USD - 300  # the new period's row, from the balance (no quota yet)


def test_metering_never_moves_back_and_an_ended_period_grants_nothing(prepaid):
    start, end = month_bounds(timezone.now())
    wallet_plan_quota_grant(organization=prepaid, amount_micros=USD, period_start=start, period_end=end, reference="a")
    earlier = start - dt.timedelta(days=10)
    wallet_plan_quota_grant(
        organization=prepaid,
        amount_micros=USD,
        period_start=earlier,
        period_end=end - dt.timedelta(days=1),
        reference="b",
    )
    wallet = Wallet.objects.get(organization=prepaid)
    assert (wallet.period_start, wallet.plan_quota_micros) == (start, 2 * USD)  # granted into the current period
    ended = wallet_plan_quota_grant(
        organization=prepaid, amount_micros=USD, period_start=earlier, period_end=start, reference="c"
    )
    assert ended is None and Wallet.objects.get(organization=prepaid).plan_quota_micros == 2 * USD


def test_a_period_rolls_only_after_a_grace_for_usage_still_on_its_way(prepaid):
    start, end = month_bounds(timezone.now())
    wallet_plan_quota_grant(organization=prepaid, amount_micros=USD, period_start=start, period_end=end, reference="g")
    wallet_usage_debit(usages=[Usage(prepaid.pk, 100, end + dt.timedelta(seconds=30))])  # a request just after the end
    wallet = Wallet.objects.get(organization=prepaid)
    assert wallet.period_start == start and wallet.plan_quota_micros == USD - 100  # the old quota still serves it
    wallet_usage_debit(usages=[Usage(prepaid.pk, 100, end + dt.timedelta(minutes=3))])
    assert Wallet.objects.get(organization=prepaid).period_start == end  # past the grace: the new period


def test_a_stripe_plan_keeps_its_quota_until_its_renewal_is_paid(prepaid):
    from apps.billing.models import Plan
    from apps.wallet.models import Subscription, SubscriptionStatus

    start, end = month_bounds(timezone.now())
    Subscription.objects.create(
        organization=prepaid,
        plan=Plan.objects.get(slug="pro"),
        status=SubscriptionStatus.ACTIVE,
        stripe_subscription_id="sub_renewing",
        current_period_start=start,
        current_period_end=end,
    )
    wallet_plan_quota_grant(organization=prepaid, amount_micros=USD, period_start=start, period_end=end, reference="s")
    wallet_periods_roll(now=end + dt.timedelta(hours=1))
    assert Wallet.objects.get(organization=prepaid).plan_quota_micros == USD  # not expired while Stripe renews
    wallet_periods_roll(now=end + dt.timedelta(days=4))
    assert Wallet.objects.get(organization=prepaid).plan_quota_micros == 0  # a renewal that never came


def test_a_lost_snapshot_publish_is_healed_within_the_minute(prepaid):
    """Publishing happens after commit; here it never does (the test's transaction does not commit), as when
    Redis was down at that moment: the beat finds Redis stale and publishes again."""
    import orjson

    from apps.core.redis import redis_client
    from apps.keys.services import key_generate
    from apps.keys.snapshots import key_snapshot_key, key_snapshot_publish, key_snapshot_stale
    from apps.orgs.models import Team
    from apps.wallet.services.ledger import wallet_snapshots_heal

    owner = prepaid.memberships.first().user
    key, _ = key_generate(
        organization=prepaid,
        team=Team.objects.get(organization=prepaid, is_default=True),
        user=owner,
        name="k",
        actor=owner,
    )
    key_snapshot_publish(key_hash=key.key_hash)
    wallet_credit(organization=prepaid, amount_micros=3 * USD, kind=EntryKind.CREDIT_CODE, actor=None)
    assert key_snapshot_stale(key_hash=key.key_hash)
    assert wallet_snapshots_heal() >= 1
    stored = orjson.loads(redis_client().get(key_snapshot_key(key_hash=key.key_hash)))
    assert stored["wallet"]["limit"] == 3 * USD and not key_snapshot_stale(key_hash=key.key_hash)
    assert wallet_snapshots_heal(now=timezone.now() + dt.timedelta(minutes=11)) == 0  # only lately changed ones
