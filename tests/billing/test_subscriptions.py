"""Plans over time without Stripe (test mode): grants, upgrades, downgrades, pauses, renewals, caps."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.billing.models import Plan
from apps.keys.services import key_generate
from apps.keys.snapshots import key_snapshot_build
from apps.orgs.models import BillingMode, Team
from apps.orgs.services.organizations import organization_create
from apps.tenancy.models import Instance
from apps.wallet.errors import InvalidPlan, SubscriptionConflict
from apps.wallet.models import Account, EntryKind, Subscription, SubscriptionStatus, Wallet, WalletEntry
from apps.wallet.selectors import plan_in_force
from apps.wallet.services.ledger import Usage, wallet_usage_debit
from apps.wallet.services.subscriptions import (
    subscription_grant,
    subscription_pause,
    subscription_plan_change,
    subscriptions_roll,
)

pytestmark = pytest.mark.django_db
USD = 1_000_000


@pytest.fixture
def org(edge, make_user):  # type: ignore[no-untyped-def]
    return organization_create(name="Subscriber", owner=make_user(), billing_mode=BillingMode.PREPAID)


def plan(slug: str) -> Plan:
    return Plan.objects.get(slug=slug)


def _key_snapshot(org):  # type: ignore[no-untyped-def]
    owner = org.memberships.first().user
    team = Team.objects.get(organization=org, is_default=True)
    key, _ = key_generate(organization=org, team=team, user=owner, name="k", actor=owner)
    return key_snapshot_build(key_hash=key.key_hash)


def test_a_granted_plan_brings_its_caps_and_its_bundled_quota(org):
    assert _key_snapshot(org)["plan_caps"] is None  # Free: no plan layer
    sub = subscription_grant(organization=org, plan=plan("pro"), actor=None)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.test_mode
    assert _key_snapshot(org)["plan_caps"] == [600, 5_000_000]
    wallet = Wallet.objects.get(organization=org)
    assert wallet.plan_quota_micros == 20 * USD and wallet.period_start == sub.current_period_start
    assert _key_snapshot(org)["wallet"]["limit"] == 20 * USD  # the gateway may spend the bundle


def test_free_and_enterprise_cannot_be_granted(org):
    for slug in ("free", "enterprise"):
        with pytest.raises(InvalidPlan):
            subscription_grant(organization=org, plan=plan(slug), actor=None)


def test_an_upgrade_applies_now_with_the_bigger_bundle_pro_rated_to_the_rest_of_the_period(org):
    sub = subscription_grant(organization=org, plan=plan("pro"), actor=None)
    wallet_usage_debit(usages=[Usage(org.pk, 5 * USD, timezone.now())])
    halfway = sub.current_period_start + (sub.current_period_end - sub.current_period_start) / 2
    Subscription.objects.filter(pk=sub.pk).update(
        current_period_start=sub.current_period_start - (halfway - sub.current_period_start),
        current_period_end=sub.current_period_end - (halfway - sub.current_period_start),
    )
    sub.refresh_from_db()
    sub = subscription_plan_change(subscription=sub, plan=plan("team"), actor=None)
    assert sub.plan.slug == "team" and sub.pending_plan is None
    assert plan_in_force(organization=org).slug == "team"
    extra = Wallet.objects.get(organization=org).plan_quota_micros - (20 - 5) * USD
    assert 64 * USD < extra <= 65 * USD  # half of the 130 more that Team bundles: half the period is left


def test_a_downgrade_waits_for_the_next_period(org):
    sub = subscription_grant(organization=org, plan=plan("team"), actor=None)
    sub = subscription_plan_change(subscription=sub, plan=plan("pro"), actor=None)
    assert (sub.plan.slug, sub.pending_plan.slug) == ("team", "pro")
    subscriptions_roll(now=sub.current_period_end - dt.timedelta(seconds=1))  # other tests' rows may roll
    sub.refresh_from_db()
    assert (sub.plan.slug, sub.pending_plan.slug) == ("team", "pro")
    subscriptions_roll(now=sub.current_period_end + dt.timedelta(seconds=1))
    sub.refresh_from_db()
    assert (sub.plan.slug, sub.pending_plan) == ("pro", None)
    wallet = Wallet.objects.get(organization=org)
    assert wallet.plan_quota_micros == 20 * USD  # the old period's 150 expired, Pro's 20 granted
    expired = WalletEntry.objects.get(wallet=wallet, kind=EntryKind.PLAN_QUOTA_EXPIRY)
    assert expired.amount_micros == -150 * USD and expired.account == Account.PLAN_QUOTA


def test_a_pause_puts_free_terms_in_force_until_it_ends(org):
    sub = subscription_grant(organization=org, plan=plan("pro"), actor=None)
    with pytest.raises(InvalidPlan):
        subscription_pause(subscription=sub, days=31, actor=None)
    sub = subscription_pause(subscription=sub, days=3, actor=None)
    assert plan_in_force(organization=org).slug == "free" and _key_snapshot(org)["plan_caps"] is None
    subscriptions_roll(now=timezone.now() + dt.timedelta(days=3, seconds=1))
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE and plan_in_force(organization=org).slug == "pro"


def test_a_trial_ends_on_its_day(org):
    sub = subscription_grant(organization=org, plan=plan("team"), actor=None, days=7, trial=True)
    assert sub.status == SubscriptionStatus.TRIALING and plan_in_force(organization=org).slug == "team"
    subscriptions_roll(now=timezone.now() + dt.timedelta(days=7, seconds=1))
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELED and plan_in_force(organization=org).slug == "free"


def test_changing_a_plan_needs_one_in_force(org):
    sub = subscription_grant(organization=org, plan=plan("pro"), actor=None, days=1, trial=True)
    subscriptions_roll(now=timezone.now() + dt.timedelta(days=2))
    sub.refresh_from_db()
    with pytest.raises(SubscriptionConflict):
        subscription_plan_change(subscription=sub, plan=plan("team"), actor=None)


def test_a_dedicated_instance_is_capped_by_its_tier(acme, make_user):
    org = organization_create(name="Acme unit", owner=make_user())
    assert _key_snapshot(org)["plan_caps"] == [600, 5_000_000]  # acme is a Pro instance


def test_a_plan_with_seats_refuses_members_beyond_them(org, make_user):
    from apps.orgs.errors import SeatsExhausted
    from apps.orgs.roles import Role
    from apps.orgs.services.invitations import invitation_create
    from apps.orgs.services.joining import member_add

    admin = org.memberships.first().user
    subscription_grant(organization=org, plan=plan("pro"), actor=None)  # Pro: 1 seat, the owner's
    with pytest.raises(SeatsExhausted, match="1 seat"):
        member_add(organization=org, team=None, user=make_user(), role=Role.VIEWER, actor=admin)
    with pytest.raises(SeatsExhausted):
        invitation_create(
            organization=org, team=None, email="new@example.test", role=Role.VIEWER, actor=admin, accept_url_base="x"
        )
    subscription_grant(organization=org, plan=plan("team"), actor=None)
    member_add(organization=org, team=None, user=make_user(), role=Role.VIEWER, actor=admin)
    Plan.objects.filter(slug="team").update(seats=4)  # 2 members now: 2 seats left
    for email in ("one@example.test", "two@example.test"):
        invitation_create(organization=org, team=None, email=email, role=Role.VIEWER, actor=admin, accept_url_base="x")
    with pytest.raises(SeatsExhausted):  # the pending invitations hold the last seats
        invitation_create(
            organization=org, team=None, email="three@example.test", role=Role.VIEWER, actor=admin, accept_url_base="x"
        )


def test_a_dedicated_instance_is_raised_by_the_plan_it_pays_for_never_lowered(acme, make_user):
    customer = organization_create(name="Acme billing", owner=make_user())
    other = organization_create(name="Acme research", owner=make_user())
    subscription_grant(organization=customer, plan=plan("business"), actor=None)
    assert _key_snapshot(other)["plan_caps"] == [10_000, None]  # the instance's plan, for every organisation
    Instance.objects.filter(schema_name="acme").update(tier="business")
    Subscription.objects.filter(organization=customer).update(plan=plan("pro"))  # a cheaper plan in force
    assert _key_snapshot(other)["plan_caps"] == [10_000, None]  # the provisioned tier stays the floor
