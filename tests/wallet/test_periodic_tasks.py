"""The beat tasks of wallets and plans run their service in every instance and can run again."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.billing.models import Plan
from apps.billing.tasks import subscriptions_roll_task
from apps.orgs.models import BillingMode
from apps.orgs.services import organization_create
from apps.wallet.models import Subscription, SubscriptionStatus
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
    assert isinstance(wallet_periods_roll_task(), int) and isinstance(invoices_issue_task(), int)
    assert wallet_periods_roll_task() == 0
