"""Budget alerts from spend that went through the real pipeline: Redis stream → consumer → ledger → alert."""

import datetime as dt
import threading
import uuid

import httpx
import orjson
import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.keys.services import key_generate, key_update_limits
from apps.notifications.models import AlertKind, AlertScope, BudgetAlert, WebhookDelivery
from apps.notifications.services.alerts import (
    BudgetHolder,
    TouchedHolders,
    budget_alert_create,
    budget_alerts_check,
)
from apps.notifications.tasks import webhook_deliver_task
from apps.quotas.limits import budget_period
from apps.quotas.services import quota_limits_update
from apps.spend.models import SpendLog
from tests.notifications.conftest import BudgetWorld, consume, spend, subscribe, verify_signature

pytestmark = pytest.mark.django_db

USD = 1_000_000


def _alerts(committed, world: BudgetWorld) -> list[BudgetAlert]:  # type: ignore[no-untyped-def]
    return committed(lambda: list(BudgetAlert.objects.filter(organization=world.organization).order_by("pk")))


def _emails_about(name: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if name in message.subject]


def test_key_passing_80_percent_of_its_budget_alerts_once_by_email_and_signed_webhook(
    committed, budget_world, receiver, eager_tasks
):
    world = budget_world
    committed(key_update_limits, key=world.key, actor=world.admin, max_budget_micros=10 * USD)
    secret = subscribe(committed, world, f"{receiver.url}/hook", "budget.threshold_80")

    consume(committed, spend(world, 7_900_000))
    assert _alerts(committed, world) == [] and receiver.posts() == []

    consume(committed, spend(world, 200_000))  # $8.10 of $10: past 80 %
    [alert] = _alerts(committed, world)
    assert (alert.scope, alert.scope_id, alert.kind) == (AlertScope.KEY, world.key.pk, AlertKind.HARD_80)
    assert (alert.threshold_micros, alert.budget_micros, alert.spent_micros) == (8 * USD, 10 * USD, 8_100_000)
    assert alert.period_id == budget_period("monthly", timezone.now())[0]

    [email] = _emails_about(world.key.name)
    assert sorted(email.to) == sorted([world.admin.email, world.owner.email])
    assert email.subject == f'[Hydite] Key "{world.key.name}" has used 81 % of its monthly budget ($8.10 of $10.00)'
    assert world.organization.name in email.body and "80 % of the hard budget" in email.body
    assert secret not in email.body

    [post] = receiver.posts()
    assert verify_signature(secret=secret, header=post.headers["hydite-signature"], body=post.body)
    assert not verify_signature(secret="whsec_wrong", header=post.headers["hydite-signature"], body=post.body)
    event = orjson.loads(post.body)
    assert post.headers["hydite-event-id"] == event["id"] == alert.event_id
    assert event["type"] == "budget.threshold_80" and event["organization"]["slug"] == world.organization.slug
    assert event["data"]["spent_micros"] == 8_100_000 and event["data"]["layer"] == "key"
    assert event["data"]["period"]["id"] == alert.period_id
    assert set(event) == {"id", "type", "created", "organization", "data"}

    consume(committed, spend(world, 500_000))  # more spend in the same period: nothing new
    assert len(_alerts(committed, world)) == 1
    assert len(_emails_about(world.key.name)) == 1 and len(receiver.posts()) == 1

    # The delivery task run again for the same alert and endpoint does not POST again.
    endpoint_id = committed(lambda: WebhookDelivery.objects.get(alert_id=alert.pk).endpoint_id)
    rerun = webhook_deliver_task.apply(kwargs={"schema": "edge", "alert_id": alert.pk, "endpoint_id": endpoint_id})
    assert rerun.get() == "skipped" and len(receiver.posts()) == 1


def test_a_new_period_alerts_again(committed, budget_world, eager_tasks):
    world = budget_world
    committed(key_update_limits, key=world.key, actor=world.admin, max_budget_micros=10 * USD)
    consume(committed, spend(world, 9 * USD))
    [first] = _alerts(committed, world)

    _, this_start, _ = budget_period("monthly", timezone.now())
    next_start = (this_start + dt.timedelta(days=32)).replace(day=1)
    next_ms = int((next_start + dt.timedelta(hours=1)).timestamp() * 1000)
    consume(committed, spend(world, 8_500_000, created_at_ms=next_ms))  # a row of next month's period
    assert len(_alerts(committed, world)) == 1  # this period has its alert already

    touched = TouchedHolders()
    touched.add(key_id=world.key.pk, team_id=world.team.pk, organization_id=world.organization.pk, cost_micros=0)
    later = next_start + dt.timedelta(hours=2)
    created = committed(lambda: budget_alerts_check(schema="edge", touched=touched, now=later))
    assert [alert.period_id for alert in created] == [next_start.strftime("%Y%m%d")]
    assert created[0].spent_micros == 8_500_000  # only next period's spend counts
    assert {alert.period_id for alert in _alerts(committed, world)} == {first.period_id, created[0].period_id}
    assert budget_period("monthly", next_start - dt.timedelta(microseconds=1))[0] == first.period_id


def test_team_soft_budget_alerts_the_org_admins(committed, budget_world, eager_tasks):
    world = budget_world
    committed(quota_limits_update, holder=world.team, actor=world.admin, soft_budget_micros=5 * USD)
    consume(committed, spend(world, 3 * USD), spend(world, 2 * USD))
    [alert] = _alerts(committed, world)
    assert (alert.scope, alert.scope_id, alert.kind, alert.team_id) == (
        "team",
        world.team.pk,
        "soft_budget",
        world.team.pk,
    )
    assert alert.spent_micros == 5 * USD and alert.name == world.team.name
    [email] = _emails_about(world.team.name)
    assert email.to == [world.admin.email]  # the key's owner hears of key alerts only
    assert f"Team {world.team.name} has reached its monthly soft budget ($5.00 of $5.00)" in email.subject


def test_organisation_soft_and_hard_budgets_alert_separately(committed, budget_world, eager_tasks):
    world = budget_world
    committed(
        quota_limits_update,
        holder=world.organization,
        actor=world.admin,
        soft_budget_micros=2 * USD,
        max_budget_micros=5 * USD,
        budget_duration="daily",
    )
    consume(committed, spend(world, 2_500_000))
    assert [(a.scope, a.kind) for a in _alerts(committed, world)] == [("org", "soft_budget")]
    consume(committed, spend(world, 1_500_000))  # $4.00 of $5.00: 80 %
    alerts = _alerts(committed, world)
    assert [(a.scope, a.kind, a.spent_micros) for a in alerts] == [
        ("org", "soft_budget", 2_500_000),
        ("org", "hard_80", 4 * USD),
    ]
    assert alerts[1].period_id == budget_period("daily", timezone.now())[0] and alerts[1].team_id is None


def test_the_unique_constraint_makes_a_concurrent_second_insert_lose(committed, budget_world, django_db_blocker):
    """Two transactions insert the same alert: the second waits on the unique index and gets None."""
    world = budget_world
    holder = BudgetHolder("key", world.key.pk, world.organization.pk, world.team.pk, "k", None, 10 * USD, "monthly")
    period = budget_period("monthly", timezone.now())
    inserted, results = threading.Event(), {}

    def create(name: str, hold: bool) -> None:
        try:
            with schema_context("edge"), transaction.atomic():
                results[name] = budget_alert_create(
                    holder=holder, kind="hard_80", period=period, threshold=8 * USD, budget=10 * USD, spent=9 * USD
                )
                if hold:
                    inserted.set()
                    threading.Event().wait(0.5)  # the other transaction is now blocked on our uncommitted row
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        first = threading.Thread(target=create, args=("first", True))
        first.start()
        assert inserted.wait(10)
        second = threading.Thread(target=create, args=("second", False))
        second.start()
        first.join()
        second.join()
    assert results["first"] is not None and results["second"] is None
    assert len(_alerts(committed, world)) == 1


def test_two_concurrent_checks_create_one_alert(committed, budget_world, django_db_blocker):
    world = budget_world
    committed(key_update_limits, key=world.key, actor=world.admin, soft_budget_micros=1 * USD)
    committed(
        lambda: SpendLog.objects.create(
            request_id=f"req_{uuid.uuid4().hex}",
            created_at=timezone.now(),
            organization_id=world.organization.pk,
            team_id=world.team.pk,
            key_id=world.key.pk,
            model_alias="m",
            status_code=200,
            cost_micros=2 * USD,
        )
    )
    touched = TouchedHolders()
    touched.add(key_id=world.key.pk, team_id=None, organization_id=world.organization.pk, cost_micros=2 * USD)
    start, created = threading.Barrier(2), []

    def check() -> None:
        try:
            start.wait(10)
            created.extend(budget_alerts_check(schema="edge", touched=touched))
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=check) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(created) == 1
    assert [(a.scope, a.kind) for a in _alerts(committed, world)] == [("key", "soft_budget")]


def test_batches_far_below_a_threshold_do_not_sum_the_ledger(org_with_roles):
    """The estimate in Redis answers; the ledger is summed again only near a threshold."""
    organization, team = org_with_roles["organization"], org_with_roles["platform"]
    quota_limits_update(holder=team, actor=org_with_roles["users"]["org_admin"], max_budget_micros=100 * USD)
    touched = TouchedHolders()
    touched.add(key_id=None, team_id=team.pk, organization_id=organization.pk, cost_micros=1 * USD)

    def ledger_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert budget_alerts_check(schema="edge", touched=touched) == []
        return sum("spend_spendlog" in query["sql"] for query in queries.captured_queries)

    assert ledger_queries() == 1  # a new estimate is verified against the ledger once
    assert [ledger_queries() for _ in range(5)] == [0] * 5
    big = TouchedHolders()
    big.add(key_id=None, team_id=team.pk, organization_id=organization.pk, cost_micros=80 * USD)
    with CaptureQueriesContext(connection) as queries:
        assert budget_alerts_check(schema="edge", touched=big) == []  # estimate $85 ≥ $80, the ledger says $0
    assert sum("spend_spendlog" in query["sql"] for query in queries.captured_queries) == 1
    assert ledger_queries() == 0  # corrected to the ledger's figure: far below again


def test_a_soft_budget_passed_through_v1_lets_requests_through_and_alerts_once(
    committed, world, live_server_url, eager_tasks
):
    def soft_key() -> tuple[int, str]:
        owner = world.organization.memberships.filter(team__isnull=True).first().user
        key, plaintext = key_generate(
            organization=world.organization,
            team=world.team,
            user=owner,
            name=f"soft-{uuid.uuid4().hex[:6]}",
            actor=owner,
        )
        key_update_limits(key=key, actor=owner, soft_budget_micros=1)  # the first request passes it
        return key.pk, plaintext

    key_id, plaintext = committed(soft_key)
    answers = [
        httpx.post(
            f"{live_server_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {plaintext}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
            timeout=20,
        )
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [200, 200]  # soft: nothing is refused
    assert all(answer.json()["object"] == "chat.completion" for answer in answers)
    consume(committed, *(answer.headers["x-request-id"] for answer in answers))
    alerts = committed(lambda: list(BudgetAlert.objects.filter(scope=AlertScope.KEY, scope_id=key_id)))
    assert [alert.kind for alert in alerts] == [AlertKind.SOFT_BUDGET]
