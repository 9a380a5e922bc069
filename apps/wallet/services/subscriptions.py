"""An organisation's plan over time: granted without Stripe (test mode, trials) or following Stripe's events.

A plan in force gives its caps (in the key snapshots) and, each period, its bundled quota in the wallet.
Upgrades apply at once (with the bundle's difference for the rest of the period); downgrades wait for
the next period; a pause (up to 30 days) puts the organisation on Free terms until it ends.
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.billing.models import Plan
from apps.orgs.models import Organization
from apps.tenancy.selectors import instance_current_is_shared
from apps.wallet.errors import InvalidPlan, SubscriptionConflict
from apps.wallet.models import Subscription, SubscriptionStatus
from apps.wallet.periods import add_month
from apps.wallet.services.ledger import keys_publish_on_commit, wallet_keys_publish_on_commit, wallet_plan_quota_grant

MAX_PAUSE_DAYS = 30


def subscription_locked(organization: Organization, plan: Plan) -> Subscription:
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


def subscription_bundle_grant(
    sub: Subscription, plan: Plan, *, start: dt.datetime, end: dt.datetime, reference: str
) -> None:
    wallet_plan_quota_grant(
        organization=sub.organization,
        amount_micros=plan.bundled_quota_micros,
        period_start=start,
        period_end=end,
        reference=reference,
        note=f"{plan.name} quota {start:%Y-%m-%d} to {end:%Y-%m-%d}",
    )


def subscription_saved(sub: Subscription, *, actor: User | None, action: str) -> Subscription:
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
    sub = subscription_locked(organization, plan)
    if sub.stripe_subscription_id and sub.in_force:
        raise SubscriptionConflict("This organisation pays for its plan through Stripe; change it on the Plans page.")
    now = timezone.now()
    end = now + dt.timedelta(days=days) if days else add_month(now)
    sub.plan, sub.pending_plan, sub.paused_until, sub.test_mode = plan, None, None, True
    sub.status = SubscriptionStatus.TRIALING if trial else SubscriptionStatus.ACTIVE
    sub.current_period_start, sub.current_period_end = now, end
    subscription_bundle_grant(sub, plan, start=now, end=end, reference=f"plan_quota:grant:{sub.pk}:{now.isoformat()}")
    return subscription_saved(sub, actor=actor, action="subscription.trial" if trial else "subscription.grant")


@transaction.atomic
def subscription_plan_change(*, subscription: Subscription, plan: Plan, actor: User | None) -> Subscription:
    """Upgrade at once (the bundle's difference is granted for the rest of the period); downgrade next period.

    For a Stripe subscription the caller has changed the price at Stripe first.
    """
    _subscribable(plan)
    sub = subscription_locked(subscription.organization, plan)
    if not sub.in_force:
        raise SubscriptionConflict("There is no plan in force to change; subscribe first.")
    if plan.pk == sub.plan_id:
        sub.pending_plan = None
        return subscription_saved(sub, actor=actor, action="subscription.keep")
    if plan.monthly_price_micros < sub.plan.monthly_price_micros:
        sub.pending_plan = plan
        return subscription_saved(sub, actor=actor, action="subscription.downgrade")
    _upgrade(sub, plan)
    return subscription_saved(sub, actor=actor, action="subscription.upgrade")


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
        amount_micros=prorated_micros(extra, remaining=end - now, period=end - start),
        period_start=start,
        period_end=end,
        reference=f"plan_quota:upgrade:{sub.pk}:{now.isoformat()}",
        note=f"Upgrade to {plan.name} (rest of the period)",
    )


def prorated_micros(amount: int, *, remaining: dt.timedelta, period: dt.timedelta) -> int:
    whole = max(1, int(period.total_seconds()))
    return amount * min(whole, max(0, int(remaining.total_seconds()))) // whole


@transaction.atomic
def subscription_pause(*, subscription: Subscription, days: int, actor: User | None) -> Subscription:
    pause_days_check(days)
    sub = subscription_locked(subscription.organization, subscription.plan)
    if sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
        raise SubscriptionConflict("Only an active plan can be paused.")
    sub.status, sub.paused_until = SubscriptionStatus.PAUSED, timezone.now() + dt.timedelta(days=days)
    return subscription_saved(sub, actor=actor, action="subscription.pause")


@transaction.atomic
def subscription_resume(*, subscription: Subscription, actor: User | None) -> Subscription:
    sub = subscription_locked(subscription.organization, subscription.plan)
    if sub.status != SubscriptionStatus.PAUSED:
        return sub
    sub.status, sub.paused_until = SubscriptionStatus.ACTIVE, None
    return subscription_saved(sub, actor=actor, action="subscription.resume")


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, actor: User | None) -> Subscription:
    sub = subscription_locked(subscription.organization, subscription.plan)
    sub.status, sub.pending_plan, sub.paused_until = SubscriptionStatus.CANCELED, None, None
    return subscription_saved(sub, actor=actor, action="subscription.cancel")


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
        subscription_saved(sub, actor=None, action="subscription.trial_end")
        return 1
    start = sub.current_period_end
    end = add_month(start)
    while end <= now:
        start, end = end, add_month(end)
    if sub.pending_plan is not None:
        sub.plan, sub.pending_plan = sub.pending_plan, None
    sub.current_period_start, sub.current_period_end = start, end
    subscription_bundle_grant(
        sub, sub.plan, start=start, end=end, reference=f"plan_quota:grant:{sub.pk}:{start.isoformat()}"
    )
    subscription_saved(sub, actor=None, action="subscription.renew")
    return 1
