"""The beat tasks of wallets and plans run their service in every instance and can run again."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.billing.models import Plan
from apps.billing.tasks import subscriptions_roll_task
from apps.orgs.models import BillingMode, Organization
from apps.orgs.services.organizations import organization_create
from apps.wallet.models import Invoice, Subscription, SubscriptionStatus, Wallet
from apps.wallet.services.subscriptions import subscription_grant, subscription_pause
from apps.wallet.tasks import invoices_issue_task, wallet_periods_roll_task

pytestmark = pytest.mark.django_db


def test_the_tasks_visit_every_instance_and_are_rerun_safe(edge, make_user):
    organization = organization_create(name="Tasks", owner=make_user(), billing_mode=BillingMode.PREPAID)
    subscription = subscription_grant(organization=organization, plan=Plan.objects.get(slug="pro"), actor=None)
    subscription_pause(subscription=subscription, days=1, actor=None)
    Subscription.objects.filter(pk=subscription.pk).update(paused_until=timezone.now() - dt.timedelta(seconds=1))
    assert subscriptions_roll_task() >= 1
    assert Subscription.objects.get(pk=subscription.pk).status == SubscriptionStatus.ACTIVE
    assert subscriptions_roll_task() == 0
    ended = timezone.now() - dt.timedelta(hours=1)
    Wallet.objects.filter(organization=organization).update(period_end=ended)
    assert wallet_periods_roll_task() >= 1
    wallet = Wallet.objects.get(organization=organization)
    assert wallet.period_start == ended and wallet.period_end > timezone.now() and wallet.plan_quota_micros == 0
    assert wallet_periods_roll_task() == 0
    invoiced = organization_create(name="Invoiced", owner=make_user(), billing_mode=BillingMode.INVOICE)
    long_ago = timezone.now() - dt.timedelta(days=70)
    Organization.objects.filter(pk=invoiced.pk).update(created_at=long_ago, invoiced_since=long_ago)
    assert invoices_issue_task() >= 2  # its two complete months (at least)
    assert Invoice.objects.filter(organization=invoiced).count() >= 2 and invoices_issue_task() == 0
