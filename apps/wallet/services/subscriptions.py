"""An organisation's plan over time: granted without Stripe (test mode, trials) or following Stripe's events.

A plan in force gives its caps (in the key snapshots) and, each period, its bundled quota in the wallet.
Upgrades apply at once (with the bundle's difference for the rest of the period); downgrades wait for
the next period; a pause (up to 30 days) puts the organisation on Free terms until it ends.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.billing.models import Plan
from apps.orgs.models import Organization
from apps.tenancy.selectors import instance_current_is_shared
from apps.wallet.errors import InvalidPlan, SubscriptionConflict
from apps.wallet.models import EntryKind, Subscription, SubscriptionPayment, SubscriptionStatus, Wallet, WalletEntry
from apps.wallet.periods import add_month
from apps.wallet.services.ledger import keys_publish_on_commit, wallet_keys_publish_on_commit, wallet_plan_quota_grant

MAX_PAUSE_DAYS = 30


def _subscription_locked(organization: Organization, plan: Plan) -> Subscription:
    Subscription.objects.bulk_create([Subscription(organization=organization, plan=plan)], ignore_conflicts=True)
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "pending_plan")
        .get(organization=organization)
    )


def _subscribable(plan: Plan) -> None:
    if not plan.subscribable:
        raise InvalidPlan(f"{plan.name} cannot be subscribed to here.", param="plan")


def pause_days_check(days: int) -> None:
    if not 1 <= days <= MAX_PAUSE_DAYS:
        raise InvalidPlan(f"A pause lasts 1 to {MAX_PAUSE_DAYS} days.", param="days")


def _grant_bundle(sub: Subscription, plan: Plan, *, start: dt.datetime, end: dt.datetime, reference: str) -> None:
    wallet_plan_quota_grant(
        organization=sub.organization,
        amount_micros=plan.bundled_quota_micros,
        period_start=start,
        period_end=end,
        reference=reference,
        note=f"{plan.name} quota {start:%Y-%m-%d} to {end:%Y-%m-%d}",
    )


def _saved(sub: Subscription, *, actor: User | None, action: str) -> Subscription:
    sub.save()
    audit_record(
        actor=actor,
        action=action,
        target=sub,
        organization_id=sub.organization_id,
        after={
            "plan": sub.plan.slug,
            "status": sub.status,
            "pending_plan": sub.pending_plan.slug if sub.pending_plan else None,
            "test_mode": sub.test_mode,
        },
    )
    # The plan's caps travel in the key snapshots; on a Dedicated instance they cap every organisation.
    wallet_keys_publish_on_commit([sub.organization_id])
    if not instance_current_is_shared():  # no wallet of theirs is touched (locks stay the consumer's order)
        keys_publish_on_commit(Organization.objects.exclude(pk=sub.organization_id).values_list("pk", flat=True))
    return sub


@transaction.atomic
def subscription_grant(
    *, organization: Organization, plan: Plan, actor: User | None, days: int | None = None, trial: bool = False
) -> Subscription:
    """Put `plan` in force now without Stripe, for a month (renewed monthly) or, for a trial, `days`."""
    _subscribable(plan)
    sub = _subscription_locked(organization, plan)
    if sub.stripe_subscription_id and sub.in_force:
        raise SubscriptionConflict("This organisation pays for its plan through Stripe; change it on the Plans page.")
    now = timezone.now()
    end = now + dt.timedelta(days=days) if days else add_month(now)
    sub.plan, sub.pending_plan, sub.paused_until, sub.test_mode = plan, None, None, True
    sub.status = SubscriptionStatus.TRIALING if trial else SubscriptionStatus.ACTIVE
    sub.current_period_start, sub.current_period_end = now, end
    _grant_bundle(sub, plan, start=now, end=end, reference=f"plan_quota:grant:{sub.pk}:{now.isoformat()}")
    return _saved(sub, actor=actor, action="subscription.trial" if trial else "subscription.grant")


@transaction.atomic
def subscription_plan_change(*, subscription: Subscription, plan: Plan, actor: User | None) -> Subscription:
    """Upgrade at once (the bundle's difference is granted for the rest of the period); downgrade next period.

    For a Stripe subscription the caller has changed the price at Stripe first.
    """
    _subscribable(plan)
    sub = _subscription_locked(subscription.organization, plan)
    if not sub.in_force:
        raise SubscriptionConflict("There is no plan in force to change; subscribe first.")
    if plan.pk == sub.plan_id:
        sub.pending_plan = None
        return _saved(sub, actor=actor, action="subscription.keep")
    if plan.monthly_price_micros < sub.plan.monthly_price_micros:
        sub.pending_plan = plan
        return _saved(sub, actor=actor, action="subscription.downgrade")
    _upgrade(sub, plan)
    return _saved(sub, actor=actor, action="subscription.upgrade")


def _upgrade(sub: Subscription, plan: Plan) -> None:
    """The larger plan now. For a granted plan its extra quota, pro-rated to what is left of the period, is
    granted at once; a Stripe subscription's comes with the proration invoice Stripe charges for it."""
    extra = plan.bundled_quota_micros - sub.plan.bundled_quota_micros
    start, end, now = sub.current_period_start, sub.current_period_end, timezone.now()
    sub.plan, sub.pending_plan = plan, None
    if not sub.test_mode or extra <= 0 or start is None or end is None or end <= now:
        return
    wallet_plan_quota_grant(
        organization=sub.organization,
        amount_micros=_prorated(extra, remaining=end - now, period=end - start),
        period_start=start,
        period_end=end,
        reference=f"plan_quota:upgrade:{sub.pk}:{now.isoformat()}",
        note=f"Upgrade to {plan.name} (rest of the period)",
    )


def _prorated(amount: int, *, remaining: dt.timedelta, period: dt.timedelta) -> int:
    whole = max(1, int(period.total_seconds()))
    return amount * min(whole, max(0, int(remaining.total_seconds()))) // whole


@transaction.atomic
def subscription_pause(*, subscription: Subscription, days: int, actor: User | None) -> Subscription:
    pause_days_check(days)
    sub = _subscription_locked(subscription.organization, subscription.plan)
    if sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
        raise SubscriptionConflict("Only an active plan can be paused.")
    sub.status, sub.paused_until = SubscriptionStatus.PAUSED, timezone.now() + dt.timedelta(days=days)
    return _saved(sub, actor=actor, action="subscription.pause")


@transaction.atomic
def subscription_resume(*, subscription: Subscription, actor: User | None) -> Subscription:
    sub = _subscription_locked(subscription.organization, subscription.plan)
    if sub.status != SubscriptionStatus.PAUSED:
        return sub
    sub.status, sub.paused_until = SubscriptionStatus.ACTIVE, None
    return _saved(sub, actor=actor, action="subscription.resume")


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, actor: User | None) -> Subscription:
    sub = _subscription_locked(subscription.organization, subscription.plan)
    sub.status, sub.pending_plan, sub.paused_until = SubscriptionStatus.CANCELED, None, None
    return _saved(sub, actor=actor, action="subscription.cancel")


def subscriptions_roll(*, now: dt.datetime | None = None) -> int:
    """Beat, each minute: pauses that ended resume; granted plans renew (a pending downgrade applies), trials end.

    Stripe subscriptions renew through Stripe's events, not here. Rerun-safe.
    """
    now = now or timezone.now()
    rolled = 0
    local_pauses = Subscription.objects.filter(status=SubscriptionStatus.PAUSED, paused_until__lte=now).exclude(
        test_mode=False, stripe_subscription_id__isnull=False
    )  # Stripe resumes its own and says so in an event
    for sub_id in local_pauses.values_list("pk", flat=True):
        sub = Subscription.objects.get(pk=sub_id)
        subscription_resume(subscription=sub, actor=None)
        rolled += 1
    due = Subscription.objects.filter(
        test_mode=True,
        status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING),
        current_period_end__lte=now,
    )
    for sub_id in due.values_list("pk", flat=True):
        rolled += _renew_granted(sub_id, now)
    return rolled


@transaction.atomic
def _renew_granted(sub_id: int, now: dt.datetime) -> int:
    sub = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "pending_plan", "organization")
        .get(pk=sub_id)
    )
    if sub.current_period_end is None or sub.current_period_end > now or not sub.in_force:
        return 0
    if sub.status == SubscriptionStatus.TRIALING:
        sub.status = SubscriptionStatus.CANCELED
        _saved(sub, actor=None, action="subscription.trial_end")
        return 1
    start = sub.current_period_end
    end = add_month(start)
    while end <= now:
        start, end = end, add_month(end)
    if sub.pending_plan is not None:
        sub.plan, sub.pending_plan = sub.pending_plan, None
    sub.current_period_start, sub.current_period_end = start, end
    _grant_bundle(sub, sub.plan, start=start, end=end, reference=f"plan_quota:grant:{sub.pk}:{start.isoformat()}")
    _saved(sub, actor=None, action="subscription.renew")
    return 1


@dataclass(frozen=True)
class StripeSubscriptionState:
    """What a Stripe subscription object says, as we apply it."""

    subscription_id: str
    customer_id: str
    status: str  # Stripe's
    price_id: str
    item_id: str
    period_start: dt.datetime
    period_end: dt.datetime
    cancel_at_period_end: bool
    paused_until: dt.datetime | None  # pause_collection.resumes_at, when collection is paused
    paused: bool
    event_at: dt.datetime


STRIPE_STATUS = {  # anything else (unpaid after the retries, incomplete, canceled): no plan in force
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.TRIALING,
    "past_due": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAUSED,
}


def _takes_over(sub: Subscription, subscription_id: str) -> bool:
    """Whether this Stripe subscription replaces what the row holds (a trial, a grant, or an ended one)."""
    return sub.test_mode or sub.stripe_subscription_id != subscription_id


PAYING = frozenset({"active", "trialing", "past_due"})


@transaction.atomic
def subscription_stripe_sync(*, organization: Organization, state: StripeSubscriptionState, plan: Plan | None) -> str:
    """Apply a Stripe subscription event; one older than the newest applied, or for an earlier period, is
    "stale" and changes nothing; so is one for another subscription while a linked one may still bill.

    A price Stripe already bills for a pending downgrade does not lower the plan before the next period.
    A subscription replaces a trial or a grant only once it pays; until then they stay in force.
    """
    sub = _subscription_locked(organization, plan or Plan.objects.get(slug=Plan.FREE))
    same = sub.stripe_subscription_id == state.subscription_id
    if not same and sub.stripe_live and not sub.test_mode:
        return "ignored: another subscription"
    if same:
        if sub.stripe_event_at is not None and state.event_at < sub.stripe_event_at:
            return "stale"
        if sub.current_period_start and state.period_start < sub.current_period_start and not sub.test_mode:
            return "stale: an earlier period"
    takeover = _takes_over(sub, state.subscription_id)
    if (takeover and state.status not in PAYING) or (state.status == "incomplete" and sub.in_force):
        if same:  # remember what Stripe says of it (an abandoned one ends), changing nothing in force
            sub.stripe_status, sub.stripe_event_at = state.status, state.event_at
            sub.save(update_fields=["stripe_status", "stripe_event_at", "updated_at"])
        return "waiting for the first payment"
    new_period = takeover or (sub.current_period_start is not None and state.period_start > sub.current_period_start)
    if plan is not None and (plan.pk != sub.plan_id or new_period):
        downgrade_waits = not new_period and sub.pending_plan_id == plan.pk and sub.in_force
        if not downgrade_waits:
            sub.plan, sub.pending_plan = plan, None  # an upgrade's extra quota comes with its proration invoice
    if state.paused:
        sub.status = SubscriptionStatus.PAUSED
    else:
        sub.status = STRIPE_STATUS.get(state.status, SubscriptionStatus.CANCELED)
    sub.paused_until = state.paused_until if state.paused else None
    sub.test_mode, sub.stripe_status = False, state.status
    sub.stripe_subscription_id, sub.stripe_customer_id, sub.stripe_item_id = (
        state.subscription_id,
        state.customer_id,
        state.item_id,
    )
    sub.current_period_start, sub.current_period_end = state.period_start, state.period_end
    sub.cancel_at_period_end, sub.stripe_event_at = state.cancel_at_period_end, state.event_at
    _saved(sub, actor=None, action="subscription.stripe_sync")
    return "applied"


@transaction.atomic
def subscription_period_paid(
    *,
    organization: Organization,
    subscription_id: str,
    plan: Plan | None,
    invoice_id: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
) -> str:
    """A paid subscription invoice: the plan it bills is in force for its period, with that period's quota.

    It may arrive before the subscription's own events: it links the subscription (replacing a trial or a
    grant) and takes the plan from the invoiced price. A pending downgrade applies with the next period.
    """
    sub = _subscription_locked(organization, plan or Plan.objects.get(slug=Plan.FREE))
    same = sub.stripe_subscription_id == subscription_id
    if not same and sub.stripe_live and not sub.test_mode:
        return "ignored: another subscription"
    if same and sub.current_period_start is not None and period_end <= sub.current_period_start:
        return "stale: an earlier period"
    takeover = _takes_over(sub, subscription_id)
    new_period = (
        takeover or not sub.in_force or sub.current_period_end is None or period_start >= sub.current_period_end
    )
    if new_period and plan is not None:
        sub.plan, sub.pending_plan = plan, None
    elif new_period and sub.pending_plan is not None:
        sub.plan, sub.pending_plan = sub.pending_plan, None
    if sub.status != SubscriptionStatus.PAUSED:
        sub.status = SubscriptionStatus.ACTIVE
        sub.stripe_status = "active"
    sub.stripe_subscription_id, sub.test_mode = subscription_id, False
    sub.current_period_start, sub.current_period_end = period_start, period_end
    _grant_bundle(sub, sub.plan, start=period_start, end=period_end, reference=f"plan_quota:{invoice_id}")
    _saved(sub, actor=None, action="subscription.paid")
    return "period paid"


def _linked_locked(organization: Organization, subscription_id: str) -> Subscription | None:
    """The organisation's subscription, locked, if it is the Stripe subscription named (else None)."""
    sub = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "organization")
        .filter(organization=organization, stripe_subscription_id=subscription_id)
        .first()
    )
    return sub if subscription_id else None


def subscription_payment_record(
    *, organization: Organization, plan: Plan | None, invoice_id: str, amount_micros: int, paid_at: dt.datetime
) -> bool:
    """A paid subscription invoice's amount, once per invoice (Revenue reads these). True when new."""
    _, created = SubscriptionPayment.objects.get_or_create(
        invoice_id=invoice_id,
        defaults={"organization": organization, "plan": plan, "amount_micros": amount_micros, "paid_at": paid_at},
    )
    return created


@transaction.atomic
def subscription_payment_failed(*, organization: Organization, subscription_id: str) -> str:
    sub = _linked_locked(organization, subscription_id)
    if sub is None or sub.status == SubscriptionStatus.CANCELED:
        return "ignored: not the subscription in force"
    sub.status = SubscriptionStatus.PAST_DUE
    _saved(sub, actor=None, action="subscription.payment_failed")
    return "past due"


@transaction.atomic
def subscription_upgrade_paid(
    *,
    organization: Organization,
    subscription_id: str,
    invoice_id: str,
    old_plan: Plan,
    new_plan: Plan,
    remaining: dt.timedelta,
) -> str:
    """Stripe's paid proration invoice of a plan change: the extra quota of the bigger plan, pro-rated to the
    time the invoice charged for, goes to the period in progress (once per invoice)."""
    sub = _linked_locked(organization, subscription_id)
    extra = new_plan.bundled_quota_micros - old_plan.bundled_quota_micros
    if sub is None or extra <= 0 or sub.current_period_start is None or sub.current_period_end is None:
        return "ignored: no extra quota"
    wallet = Wallet.objects.filter(organization=organization).first()
    prorated = _prorated(extra, remaining=remaining, period=sub.current_period_end - sub.current_period_start)
    if wallet is not None:  # never more than the new plan's bundle for the period, whatever was billed before
        granted = (
            WalletEntry.objects.filter(
                wallet=wallet, kind=EntryKind.PLAN_QUOTA_GRANT, occurred_at__gte=wallet.period_start
            ).aggregate(total=Sum("amount_micros"))["total"]
            or 0
        )
        prorated = min(prorated, max(0, new_plan.bundled_quota_micros - granted))
    if prorated <= 0:
        return "ignored: the period's quota covers it"
    wallet_plan_quota_grant(
        organization=organization,
        amount_micros=prorated,
        period_start=wallet.period_start if wallet is not None else sub.current_period_start,
        period_end=sub.current_period_end,
        reference=f"plan_quota:{invoice_id}",
        note=f"Upgrade to {new_plan.name} (rest of the period)",
    )
    return "upgrade quota granted"


@transaction.atomic
def subscription_stripe_link(*, organization: Organization, customer_id: str, subscription_id: str = "") -> str:
    """Remember the organisation's Stripe customer (and subscription, once Checkout created one)."""
    sub = _subscription_locked(organization, Plan.objects.get(slug=Plan.FREE))
    if customer_id:
        sub.stripe_customer_id = customer_id
    if subscription_id and not sub.stripe_live:  # a subscription Stripe may still bill stays linked
        sub.stripe_subscription_id = subscription_id
    sub.save(update_fields=["stripe_customer_id", "stripe_subscription_id", "updated_at"])
    return "linked"
