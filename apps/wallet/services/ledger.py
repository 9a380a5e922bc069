"""Money into and out of a wallet: every change is an entry, written under the wallet's row lock."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.schemas import current_schema
from apps.keys.models import VirtualKey
from apps.keys.snapshots import key_snapshot_publish, key_snapshot_stale, key_snapshots_publish_on_commit
from apps.orgs.models import BillingMode, Organization
from apps.quotas.counters import budget_counters_floor, wallet_counter
from apps.spend.selectors import spend_micros_since
from apps.wallet.errors import InvalidAmount
from apps.wallet.models import Account, EntryKind, Subscription, Wallet, WalletEntry
from apps.wallet.periods import month_bounds, period_holding

# Kinds that bring money into the balance; a refund takes it out; an adjustment is either, with a reason.
BALANCE_CREDIT_KINDS = frozenset({EntryKind.CREDIT_CODE, EntryKind.ACTIVATION_GRANT, EntryKind.STRIPE_PAYMENT})
MAX_CREDIT_MICROS = 10**15  # a billion dollars: more is a typo


def wallet_locked(*, organization_id: int) -> Wallet:
    """The organisation's wallet, created on first use, locked until the transaction ends."""
    start, end = month_bounds(timezone.now())
    Wallet.objects.bulk_create(
        [Wallet(organization_id=organization_id, period_start=start, period_end=end)], ignore_conflicts=True
    )
    return Wallet.objects.select_for_update().get(organization_id=organization_id)


def _entry(
    wallet: Wallet,
    *,
    kind: str,
    amount_micros: int,
    account: str = Account.BALANCE,
    occurred_at: dt.datetime | None = None,
    reference: str | None = None,
    note: str = "",
    actor: User | None = None,
    requests: int = 0,
    external_id: str = "",
) -> WalletEntry:
    """Append one entry and move the wallet's total with it; the caller holds the lock and saves the wallet."""
    if account == Account.BALANCE:
        wallet.balance_micros += amount_micros
        after = wallet.balance_micros
    else:
        wallet.plan_quota_micros += amount_micros
        after = wallet.plan_quota_micros
    return WalletEntry.objects.create(
        wallet=wallet,
        kind=kind,
        account=account,
        amount_micros=amount_micros,
        balance_after_micros=after,
        occurred_at=occurred_at or timezone.now(),
        reference=reference,
        note=note[:500],
        actor=actor,
        requests=requests,
        external_id=external_id,
    )


def wallet_keys_publish_on_commit(organization_ids: Iterable[int]) -> None:
    """The gateway reads a wallet's limit (and the plan's caps) from the key snapshots: republish the
    organisations' keys after commit, and mark the wallets for `wallet_snapshots_heal` to check."""
    ids = list(organization_ids)
    Wallet.objects.filter(organization_id__in=ids).update(limit_changed_at=timezone.now())
    keys_publish_on_commit(ids)


def keys_publish_on_commit(organization_ids: Iterable[int]) -> None:
    key_snapshots_publish_on_commit(keys=VirtualKey.objects.filter(organization_id__in=list(organization_ids)))


HEAL_WINDOW = dt.timedelta(minutes=10)


def wallet_snapshots_heal(*, now: dt.datetime | None = None) -> int:
    """Beat, each minute: the keys of wallets whose limit changed lately get their snapshot rebuilt where Redis
    holds another one (a publish lost to a Redis outage, or overtaken by an older one). Returns how many."""
    since = (now or timezone.now()) - HEAL_WINDOW
    changed = Wallet.objects.filter(limit_changed_at__gte=since).values_list("organization_id", flat=True)
    healed = 0
    for key in VirtualKey.objects.filter(organization_id__in=list(changed)).only("key_hash"):
        if key_snapshot_stale(key_hash=key.key_hash):
            key_snapshot_publish(key_hash=key.key_hash)
            healed += 1
    return healed


@transaction.atomic
def wallet_credit(
    *,
    organization: Organization,
    amount_micros: int,
    kind: str,
    actor: User | None,
    reference: str | None = None,
    note: str = "",
    external_id: str = "",
) -> WalletEntry | None:
    """Add money to the balance. A reference already in the ledger adds nothing and returns None (replays)."""
    if kind not in BALANCE_CREDIT_KINDS:
        raise ValueError(f"{kind} is not a balance credit")
    if not 0 < amount_micros <= MAX_CREDIT_MICROS:
        raise InvalidAmount("A credit must be more than $0 and at most $1,000,000,000.", param="amount")
    wallet = wallet_locked(organization_id=organization.pk)
    if reference is not None and WalletEntry.objects.filter(reference=reference).exists():
        return None
    entry = _entry(
        wallet,
        kind=kind,
        amount_micros=amount_micros,
        reference=reference,
        note=note,
        actor=actor,
        external_id=external_id,
    )
    wallet.save(update_fields=["balance_micros", "updated_at"])
    wallet_keys_publish_on_commit([organization.pk])
    return entry


@transaction.atomic
def wallet_adjust(
    *, organization: Organization, amount_micros: int, reason: str, actor: User, kind: str = EntryKind.ADJUSTMENT
) -> WalletEntry:
    """Staff move the balance by hand (an adjustment either way, or a refund out), always with a reason."""
    reason = reason.strip()
    if not reason:
        raise InvalidAmount("An adjustment needs a reason.", param="reason")
    if kind not in (EntryKind.ADJUSTMENT, EntryKind.REFUND):
        raise ValueError(f"{kind} is not a manual entry")
    if amount_micros == 0 or abs(amount_micros) > MAX_CREDIT_MICROS or (kind == EntryKind.REFUND and amount_micros > 0):
        raise InvalidAmount("The amount must not be zero (a refund takes money out).", param="amount")
    wallet = wallet_locked(organization_id=organization.pk)
    entry = _entry(wallet, kind=kind, amount_micros=amount_micros, note=reason, actor=actor)
    wallet.save(update_fields=["balance_micros", "updated_at"])
    audit_record(
        actor=actor,
        action=f"wallet.{kind}",
        target=entry,
        organization_id=organization.pk,
        after={"amount_micros": amount_micros, "reason": reason, "balance_micros": wallet.balance_micros},
    )
    wallet_keys_publish_on_commit([organization.pk])
    return entry


@transaction.atomic
def wallet_stripe_refund(
    *, organization: Organization, payment_id: str, charge_id: str, refunded_total_micros: int
) -> WalletEntry | None:
    """Stripe refunded (part of) a top-up: the balance gives back what it has not given back yet, never more
    than the top-up credited. Only payments that credited this wallet count (`payment_id`: the payment intent).

    Stripe reports the charge's refunded total; each total is applied once, so replays change nothing.
    """
    if not payment_id:
        return None
    wallet = wallet_locked(organization_id=organization.pk)
    payments = WalletEntry.objects.filter(wallet=wallet, kind=EntryKind.STRIPE_PAYMENT)
    credited = payments.filter(
        Q(external_id=payment_id)
        | Q(external_id="", note=f"Stripe Checkout {payment_id}")  # older entries: in the note
    ).first()
    if credited is None:
        return None
    prefix = f"stripe_refund:{charge_id}:"
    given_back = -sum(
        WalletEntry.objects.filter(wallet=wallet, reference__startswith=prefix).values_list("amount_micros", flat=True)
    )
    owed = min(refunded_total_micros, credited.amount_micros) - given_back
    if owed <= 0:
        return None
    entry = _entry(
        wallet,
        kind=EntryKind.REFUND,
        amount_micros=-owed,
        reference=f"{prefix}{refunded_total_micros}",
        note=f"Stripe refund of charge {charge_id}",
        external_id=payment_id,
    )
    wallet.save(update_fields=["balance_micros", "updated_at"])
    wallet_keys_publish_on_commit([organization.pk])
    return entry


def _period_start(wallet: Wallet, start: dt.datetime, end: dt.datetime) -> None:
    """Begin the period [start, end): what is left of the plan quota expires.

    The period's usage is what the ledger already holds since `start` (all of it debited, in the same
    transactions as its rows): the gateway counts from there too, so the limit stays plan quota + balance.
    """
    if wallet.plan_quota_micros:
        _entry(
            wallet,
            kind=EntryKind.PLAN_QUOTA_EXPIRY,
            account=Account.PLAN_QUOTA,
            amount_micros=-wallet.plan_quota_micros,
            occurred_at=min(start, timezone.now()),
        )
    usage = spend_micros_since(schema=current_schema(), scope="org", scope_id=wallet.organization_id, since=start)
    wallet.period_start, wallet.period_end, wallet.period_usage_micros = start, end, usage


def _period_roll(wallet: Wallet, *, now: dt.datetime) -> None:
    """Move on to the period holding `now`, a month at a time from where the last one ended."""
    _period_start(wallet, *period_holding(wallet.period_end, now))


ROLL_GRACE = dt.timedelta(minutes=2)  # usage of a period's last moments may still be on its way to the ledger
RENEWAL_GRACE = dt.timedelta(days=3)  # a Stripe renewal is paid about an hour after its period starts


def _roll_due(wallet: Wallet, at: dt.datetime) -> bool:
    """Whether the period is over at `at`. A Stripe plan's period ends when its renewal is paid (which starts
    the next one), or after RENEWAL_GRACE: until then its quota is not taken away."""
    subscription = Subscription.objects.filter(organization_id=wallet.organization_id).first()
    renewing = (
        subscription is not None and subscription.in_force and subscription.stripe_live and not subscription.test_mode
    )
    return at >= wallet.period_end + (RENEWAL_GRACE if renewing else ROLL_GRACE)


@transaction.atomic
def wallet_plan_quota_grant(
    *,
    organization: Organization,
    amount_micros: int,
    period_start: dt.datetime,
    period_end: dt.datetime,
    reference: str,
    note: str = "",
    actor: User | None = None,
) -> WalletEntry | None:
    """A plan's bundled quota for one billing period, consumed before the balance; once per reference.

    The wallet's metering period becomes the plan's (what the previous period left of its quota expires);
    metering never moves back to an earlier period.
    """
    if not 0 <= amount_micros <= MAX_CREDIT_MICROS or period_end <= period_start:
        raise InvalidAmount("A plan quota needs an amount from $0 and a period that ends after it starts.")
    wallet = wallet_locked(organization_id=organization.pk)
    if WalletEntry.objects.filter(reference=reference).exists() or period_end <= timezone.now():
        return None  # granted already, or a period that is over (a late event)
    if period_start > wallet.period_start:
        _period_start(wallet, period_start, period_end)
    elif period_start == wallet.period_start:
        wallet.period_end = period_end  # the same period, its end as the plan says
    # (a period that began before the wallet's: its quota goes to the period in progress)
    entry = _entry(
        wallet,
        kind=EntryKind.PLAN_QUOTA_GRANT,
        account=Account.PLAN_QUOTA,
        amount_micros=amount_micros,
        reference=reference,
        note=note,
        actor=actor,
    )
    wallet.save()
    wallet_keys_publish_on_commit([organization.pk])
    return entry


@dataclass(frozen=True)
class Usage:
    """Ledger rows just committed, as the wallet needs them."""

    organization_id: int
    cost_micros: int
    occurred_at: dt.datetime


def wallet_usage_debit(*, usages: Iterable[Usage]) -> None:
    """Debit newly written spend rows from prepaid wallets, plan quota first; call it in the rows' transaction.

    One entry per account and wallet for the batch (two when it crosses the period's end). Rows from before
    the wallet's period (written after it rolled) are taken from the balance only.
    """
    by_org: dict[int, list[Usage]] = defaultdict(list)
    for usage in usages:
        if usage.cost_micros:
            by_org[usage.organization_id].append(usage)
    if not by_org:
        return
    prepaid = Organization.objects.filter(pk__in=list(by_org), billing_mode=BillingMode.PREPAID)
    changed, floors = [], {}
    for organization_id in sorted(prepaid.values_list("pk", flat=True)):  # one lock order: no deadlocks
        wallet = wallet_locked(organization_id=organization_id)
        if _debit(wallet, by_org[organization_id]):
            changed.append(organization_id)
        # the gateway's counter of this period can never hold less than the ledger's usage debited in it
        floors[wallet_counter(current_schema(), organization_id, wallet.period_start).key] = wallet.period_usage_micros
    if changed:
        wallet_keys_publish_on_commit(changed)
    transaction.on_commit(partial(budget_counters_floor, floors=floors), robust=True)


def _debit(wallet: Wallet, rows: list[Usage]) -> bool:
    """Debit one wallet; True when its gateway limit changed (a roll, or late rows).

    When the batch ends the period, its rows from before the end are debited first, against the period
    they belong to (its quota included); then the period rolls and the rest is debited from the new one.
    """
    latest = max(row.occurred_at for row in rows)
    if not _roll_due(wallet, latest):
        late = _debit_in_period(wallet, rows, count_usage=True)
        wallet.save()
        return late
    ended = wallet.period_end
    before = [row for row in rows if row.occurred_at < ended]
    if before:
        _debit_in_period(wallet, before, count_usage=True)
    _period_roll(wallet, now=latest)  # its usage is read from the ledger: the rows after `ended` included
    after = [row for row in rows if row.occurred_at >= ended]
    if after:
        _debit_in_period(wallet, after, count_usage=False)
    wallet.save()
    return True  # a new period: its limit is published again


def _debit_in_period(wallet: Wallet, rows: list[Usage], *, count_usage: bool) -> bool:
    """Debit rows in the wallet's current period, plan quota first; True if some came from before it.

    The caller saves the wallet."""
    in_period = sum(row.cost_micros for row in rows if row.occurred_at >= wallet.period_start)
    total = sum(row.cost_micros for row in rows)
    from_quota = min(in_period, max(wallet.plan_quota_micros, 0))
    at, requests = max(row.occurred_at for row in rows), len(rows)
    if from_quota:
        _entry(
            wallet,
            kind=EntryKind.USAGE,
            account=Account.PLAN_QUOTA,
            amount_micros=-from_quota,
            occurred_at=at,
            requests=requests,
        )
    if total - from_quota:
        _entry(wallet, kind=EntryKind.USAGE, amount_micros=from_quota - total, occurred_at=at, requests=requests)
    if count_usage:
        wallet.period_usage_micros += in_period
    return in_period != total


def wallet_periods_roll(*, now: dt.datetime | None = None) -> int:
    """Roll every wallet whose period is over (beat runs it each minute; rerunning is harmless)."""
    now = now or timezone.now()
    rolled = 0
    due = Wallet.objects.filter(period_end__lte=now - ROLL_GRACE).values_list("organization_id", flat=True)
    for organization_id in due:
        with transaction.atomic():
            wallet = wallet_locked(organization_id=organization_id)
            if not _roll_due(wallet, now):
                continue  # rolled meanwhile, or a Stripe renewal still to be paid
            _period_roll(wallet, now=now)
            wallet.save()
            wallet_keys_publish_on_commit([organization_id])
            rolled += 1
    return rolled
