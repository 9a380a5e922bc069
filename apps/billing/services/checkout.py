"""Plans page actions: Stripe Checkout for subscriptions and top-ups; plan changes and pauses at Stripe, then here."""

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.billing.errors import StripeNotConfigured, StripeUnavailable
from apps.billing.models import Plan, StripeCustomerRoute
from apps.billing.stripe_api import (
    stripe_checkout_subscription,
    stripe_checkout_topup,
    stripe_configured,
    stripe_customer_create,
    stripe_draft_invoices_collect,
    stripe_required,
    stripe_subscription_pause,
    stripe_subscription_price_set,
)
from apps.core.money import MICROS_PER_CENT
from apps.core.schemas import current_schema
from apps.orgs.models import Organization
from apps.wallet.errors import InvalidAmount, InvalidPlan, SubscriptionConflict
from apps.wallet.models import Subscription
from apps.wallet.selectors import organization_seats_used, subscription_for
from apps.wallet.services.subscriptions import (
    pause_days_check,
    subscription_pause,
    subscription_plan_change,
    subscription_resume,
)
from apps.wallet.services.subscriptions_stripe import subscription_stripe_link

logger = logging.getLogger("hydite.billing")
MIN_TOPUP_CENTS, MAX_TOPUP_CENTS = 100, 1_000_000  # $1 to $10,000 per Checkout


def checkout_reference(*, schema: str, organization_id: int) -> str:
    """What a Checkout Session and a customer carry: where the money goes (client_reference_id, metadata)."""
    return f"{schema}:{organization_id}"


def _reference(organization: Organization) -> str:
    return checkout_reference(schema=current_schema(), organization_id=organization.pk)


def _customer_for(organization: Organization, user: User) -> str:
    subscription = subscription_for(organization=organization)
    if subscription is not None and subscription.stripe_customer_id:
        return subscription.stripe_customer_id
    customer_id = stripe_customer_create(email=user.email, name=organization.name, reference=_reference(organization))
    with transaction.atomic():
        StripeCustomerRoute.objects.update_or_create(
            customer_id=customer_id,
            defaults={"schema_name": current_schema(), "organization_id": organization.pk},
        )
        subscription_stripe_link(organization=organization, customer_id=customer_id)
    return customer_id


def seats_check(*, organization: Organization, plan: Plan) -> None:
    used = organization_seats_used(organization=organization)
    if plan.seats is not None and used > plan.seats:
        raise InvalidPlan(
            f"{plan.name} has {plan.seats} seat(s) and this organisation has {used} members: choose a larger plan.",
            param="plan",
        )


def plan_checkout_start(
    *, organization: Organization, plan: Plan, user: User, success_url: str, cancel_url: str
) -> str:
    """The Stripe Checkout URL that subscribes the organisation to `plan`."""
    stripe_required()
    if not plan.subscribable:
        raise InvalidPlan(f"{plan.name} cannot be subscribed to online.", param="plan")
    if not plan.stripe_price_id:
        raise InvalidPlan(f"{plan.name} has no Stripe price yet (an operator sets it in the admin).", param="plan")
    seats_check(organization=organization, plan=plan)
    current = subscription_for(organization=organization)
    if current is not None and current.stripe_live:  # paused or past due too: a second one would bill twice
        raise SubscriptionConflict("This organisation has a Stripe subscription already: change its plan instead.")
    return stripe_checkout_subscription(
        customer_id=_customer_for(organization, user),
        price_id=plan.stripe_price_id,
        reference=_reference(organization),
        plan_slug=plan.slug,
        success_url=success_url,
        cancel_url=cancel_url,
    )


def topup_checkout_start(
    *, organization: Organization, amount_micros: int, user: User, success_url: str, cancel_url: str
) -> str:
    """The Stripe Checkout URL that tops the balance up by `amount_micros` (whole cents, $1 to $10,000)."""
    stripe_required()
    cents, remainder = divmod(amount_micros, MICROS_PER_CENT)
    if remainder or not MIN_TOPUP_CENTS <= cents <= MAX_TOPUP_CENTS:
        raise InvalidAmount("A top-up is $1.00 to $10,000.00, in whole cents.", param="amount")
    return stripe_checkout_topup(
        customer_id=_customer_for(organization, user),
        amount_cents=cents,
        reference=_reference(organization),
        success_url=success_url,
        cancel_url=cancel_url,
    )


def _stripe_backed(subscription: Subscription) -> bool:
    if not subscription.stripe_subscription_id or subscription.test_mode:
        return False
    if not stripe_configured():
        raise StripeNotConfigured("This plan is billed through Stripe, which is not configured here.")
    return True


def plan_choose(
    *, organization: Organization, plan: Plan, user: User, success_url: str, cancel_url: str
) -> str | Subscription:
    """What "choose this plan" does: change a Stripe subscription at Stripe; else subscribe through Checkout
    (a trial or a granted plan is replaced once Stripe's events arrive). Only operators change a granted plan
    without paying (test mode). Returns the Checkout URL, or the changed subscription."""
    current = subscription_for(organization=organization)
    if current is not None and current.in_force:
        if _stripe_backed(current):
            return _stripe_plan_change(subscription=current, plan=plan, actor=user)
        if user.is_staff and not stripe_configured():
            seats_check(organization=organization, plan=plan)
            return subscription_plan_change(subscription=current, plan=plan, actor=user)
    return plan_checkout_start(
        organization=organization, plan=plan, user=user, success_url=success_url, cancel_url=cancel_url
    )


def _stripe_plan_change(*, subscription: Subscription, plan: Plan, actor: User) -> Subscription:
    """Upgrade now (Stripe invoices the proration at once) or downgrade from the next period."""
    if not plan.subscribable or not plan.stripe_price_id:
        raise InvalidPlan(f"{plan.name} cannot be subscribed to online.", param="plan")
    seats_check(organization=subscription.organization, plan=plan)
    changed = stripe_subscription_price_set(
        subscription_id=subscription.stripe_subscription_id or "",
        item_id=subscription.stripe_item_id,
        price_id=plan.stripe_price_id,
        prorate=plan.monthly_price_micros > subscription.plan.monthly_price_micros,
    )
    if changed.get("pending_update"):
        raise StripeUnavailable("Stripe could not charge the upgrade (the card was declined); nothing changed.")
    return subscription_plan_change(subscription=subscription, plan=plan, actor=actor)


def plan_pause(*, subscription: Subscription, days: int, actor: User) -> Subscription:
    pause_days_check(days)  # before Stripe is asked
    if _stripe_backed(subscription):
        resumes_at = timezone.now() + dt.timedelta(days=days)
        stripe_subscription_pause(
            subscription_id=subscription.stripe_subscription_id or "", resumes_at=int(resumes_at.timestamp())
        )
    return subscription_pause(subscription=subscription, days=days, actor=actor)


def plan_resume(*, subscription: Subscription, actor: User) -> Subscription:
    """Resume at Stripe too: the invoices kept as drafts during the pause are charged now."""
    if _stripe_backed(subscription):
        stripe_subscription_pause(subscription_id=subscription.stripe_subscription_id or "", resumes_at=None)
        try:
            stripe_draft_invoices_collect(subscription_id=subscription.stripe_subscription_id or "")
        except StripeUnavailable as exc:  # e.g. Stripe's own resume event finalized them first
            logger.warning(
                "draft invoices of %s not finalized here: %s", subscription.stripe_subscription_id, exc.message
            )
    return subscription_resume(subscription=subscription, actor=actor)
