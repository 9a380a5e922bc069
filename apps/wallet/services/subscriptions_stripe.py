"""An organisation's plan following Stripe: its subscription's state, paid periods and upgrades, failed payments."""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from apps.billing.models import Plan
from apps.orgs.models import Organization
from apps.wallet.models import EntryKind, Subscription, SubscriptionPayment, SubscriptionStatus, Wallet, WalletEntry
from apps.wallet.services.ledger import wallet_plan_quota_grant
from apps.wallet.services.subscriptions import (
    prorated_micros,
    subscription_bundle_grant,
    subscription_locked,
    subscription_saved,
)


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
    sub = subscription_locked(organization, plan or Plan.objects.get(slug=Plan.FREE))
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
    subscription_saved(sub, actor=None, action="subscription.stripe_sync")
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
    sub = subscription_locked(organization, plan or Plan.objects.get(slug=Plan.FREE))
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
    subscription_bundle_grant(sub, sub.plan, start=period_start, end=period_end, reference=f"plan_quota:{invoice_id}")
    subscription_saved(sub, actor=None, action="subscription.paid")
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
    subscription_saved(sub, actor=None, action="subscription.payment_failed")
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
    prorated = prorated_micros(extra, remaining=remaining, period=sub.current_period_end - sub.current_period_start)
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
    sub = subscription_locked(organization, Plan.objects.get(slug=Plan.FREE))
    if customer_id:
        sub.stripe_customer_id = customer_id
    if subscription_id and not sub.stripe_live:  # a subscription Stripe may still bill stays linked
        sub.stripe_subscription_id = subscription_id
    sub.save(update_fields=["stripe_customer_id", "stripe_subscription_id", "updated_at"])
    return "linked"
