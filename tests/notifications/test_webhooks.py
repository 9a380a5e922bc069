"""Webhook endpoints: URL safety at save and send time, retries by a real Celery worker, redirects, secrecy."""

import logging
import os
import re
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.keys.services import key_update_limits
from apps.notifications.models import AlertKind, BudgetAlert, WebhookDelivery, WebhookEndpoint
from apps.notifications.services.alerts import BudgetHolder, budget_alert_create
from apps.notifications.services.delivery import Delivery, webhook_deliver
from apps.notifications.services.endpoints import webhook_endpoint_create
from apps.notifications.tasks import webhook_deliver_task
from apps.quotas.limits import budget_period
from tests.conftest import client_for, database_url_for_test_db
from tests.live import ROOT, stop
from tests.notifications.conftest import consume, spend, subscribe, verify_signature

pytestmark = pytest.mark.django_db

USD = 1_000_000


def _settings_url(organization) -> str:  # type: ignore[no-untyped-def]
    return f"/o/{organization.slug}/settings/notifications/"


def _create(client, organization, url: str):  # type: ignore[no-untyped-def]
    data = {"url": url, "events": ["budget.soft_exceeded", "budget.threshold_80"]}
    return client.post(f"{_settings_url(organization)}endpoints/+create/", data)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", "non-public address"),
        ("https://metadata.google.internal/computeMetadata/v1/", "cloud metadata endpoint"),
        ("https://10.1.2.3/hook", "non-public address"),
        ("https://[::ffff:127.0.0.2]/hook", "non-public address"),
        ("https://user:pass@example.com/hook", "must not carry credentials"),
        ("ftp://example.com/hook", "must be an http(s) URL"),
        ("http://example.com/hook", "must use https"),
    ],
)
def test_unsafe_urls_are_refused_when_saved(org_with_roles, url, reason, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    admin = org_with_roles["users"]["org_admin"]
    response = _create(client_for(admin), org_with_roles["organization"], url)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not WebhookEndpoint.objects.filter(organization=org_with_roles["organization"]).exists()


def test_loopback_needs_the_operator_allow_list(org_with_roles, receiver, settings):
    admin, organization = org_with_roles["users"]["org_admin"], org_with_roles["organization"]
    settings.WEBHOOK_ALLOWLIST = []
    assert _create(client_for(admin), organization, f"{receiver.url}/hook").status_code == 400
    settings.WEBHOOK_ALLOWLIST = ["127.0.0.1"]
    response = _create(client_for(admin), organization, f"{receiver.url}/hook")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert re.search(r"whsec_[0-9a-f]{48}", response.content.decode())


def test_only_org_admins_manage_endpoints(org_with_roles, receiver):
    organization = org_with_roles["organization"]
    for role in ("team_lead", "developer", "viewer"):
        client = client_for(org_with_roles["users"][role])
        assert client.get(_settings_url(organization)).status_code == 403
        assert _create(client, organization, f"{receiver.url}/hook").status_code == 403


def test_endpoint_changes_are_audited_and_the_secret_never_shown_again(org_with_roles, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    admin, organization = org_with_roles["users"]["org_admin"], org_with_roles["organization"]
    client = client_for(admin)
    created = _create(client, organization, f"{receiver.url}/hook")
    secret = re.search(r"whsec_[0-9a-f]{48}", created.content.decode()).group(0)
    endpoint = WebhookEndpoint.objects.get(organization=organization)
    assert secret not in endpoint.secret_encrypted and endpoint.secret_hint == "…" + secret[-4:]

    page = client.get(_settings_url(organization)).content.decode()
    assert f"{receiver.url}/hook" in page and secret not in page and "whsec_…" + secret[-4:] in page
    base = f"{_settings_url(organization)}endpoints/{endpoint.pk}"
    assert client.post(f"{base}/toggle/", {}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert client.post(f"{base}/toggle/", {"enabled": "on"}).status_code == 302
    assert client.post(f"{base}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()

    events = AuditEvent.objects.filter(organization_id=organization.pk, target_type="notifications.webhookendpoint")
    assert [e.action for e in events.order_by("id")] == [
        "webhook_endpoint.create",
        "webhook_endpoint.update",
        "webhook_endpoint.update",
        "webhook_endpoint.delete",
    ]
    assert all(secret not in str(e.before) + str(e.after) for e in events)
    assert secret not in caplog.text


def _alert(organization, team_id: int | None = None) -> BudgetAlert:  # type: ignore[no-untyped-def]
    holder = BudgetHolder("team", team_id or 0, organization.pk, team_id, "Research", 5 * USD, None, "monthly")
    period = budget_period("monthly", timezone.now())
    return budget_alert_create(
        holder=holder, kind=AlertKind.SOFT_BUDGET, period=period, threshold=5 * USD, budget=5 * USD, spent=6 * USD
    )


def _soft_endpoint(world, receiver) -> tuple[WebhookEndpoint, str]:  # type: ignore[no-untyped-def]
    return webhook_endpoint_create(
        organization=world["organization"],
        url=f"{receiver.url}/hook",
        events=["budget.soft_exceeded"],
        actor=world["users"]["org_admin"],
    )


def _deliver(alert: BudgetAlert, endpoint: WebhookEndpoint) -> str:
    return webhook_deliver_task.apply(kwargs={"schema": "edge", "alert_id": alert.pk, "endpoint_id": endpoint.pk}).get()


def test_a_redirect_is_recorded_and_not_followed(org_with_roles, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    organization = org_with_roles["organization"]
    endpoint, secret = _soft_endpoint(org_with_roles, receiver)
    receiver.script = [(302, {"Location": f"{receiver.url}/elsewhere"}, b"moved")]
    alert = _alert(organization, org_with_roles["research"].pk)
    assert _deliver(alert, endpoint) == "failed"  # not retried: a redirect is the receiver's configuration
    assert [r.path for r in receiver.requests] == ["/hook"]
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert (delivery.status_code, delivery.succeeded, delivery.error) == (302, False, "redirect not followed")
    assert delivery.response_excerpt == "moved"
    assert secret not in caplog.text and "302" in caplog.text


def test_the_send_time_check_refuses_an_address_no_longer_allowed(org_with_roles, receiver, settings):
    organization = org_with_roles["organization"]
    endpoint, _ = _soft_endpoint(org_with_roles, receiver)
    settings.WEBHOOK_ALLOWLIST = []  # the operator closed loopback after the endpoint was saved
    assert _deliver(_alert(organization, org_with_roles["research"].pk), endpoint) == "failed"
    assert receiver.requests == []
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.status_code is None and delivery.error.startswith("refused:")


def test_long_responses_are_kept_as_a_short_excerpt(org_with_roles, receiver):
    organization = org_with_roles["organization"]
    endpoint, _ = _soft_endpoint(org_with_roles, receiver)
    receiver.script = [(200, {}, b"x" * 100_000)]
    assert _deliver(_alert(organization, org_with_roles["research"].pk), endpoint) == "delivered"
    assert WebhookDelivery.objects.get(endpoint=endpoint).response_excerpt == "x" * 200


def test_a_receiver_slower_than_the_timeout_is_retried(org_with_roles, receiver, settings):
    settings.WEBHOOK_TIMEOUT_S = 1
    receiver.delay_s = 1.5
    endpoint, _ = _soft_endpoint(org_with_roles, receiver)
    alert = _alert(org_with_roles["organization"], org_with_roles["research"].pk)
    assert webhook_deliver(alert_id=alert.pk, endpoint_id=endpoint.pk, attempt=1) is Delivery.RETRY
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert (delivery.status_code, delivery.error) == (None, "timeout after 1 s")
    assert 1000 <= delivery.duration_ms < 1500


@pytest.mark.slow
def test_a_real_worker_retries_a_500_and_logs_every_attempt(committed, budget_world, receiver, tmp_path):
    world = budget_world
    committed(key_update_limits, key=world.key, actor=world.admin, soft_budget_micros=1 * USD)
    secret = subscribe(committed, world, f"{receiver.url}/hook", "budget.soft_exceeded")
    receiver.script = [(500, {}, b"upstream trouble")]
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_test_db(),
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "WEBHOOK_ALLOWLIST": "127.0.0.1",
        "WEBHOOK_RETRY_BASE_S": "1",
        "LOG_LEVEL": "DEBUG",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(  # noqa: S603
            [
                *[sys.executable, "-m", "celery", "-A", "hydite", "worker", "--pool", "solo"],
                *["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "DEBUG"],
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            consume(committed, spend(world, 1_500_000))  # the alert's tasks are queued when it commits
            posts = receiver.wait_for(2)
            deadline = time.monotonic() + 30
            while f'Key "{world.key.name}" has reached' not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop(worker)
    assert len(posts) == 2
    assert posts[0].body == posts[1].body and posts[0].headers["hydite-event-id"] == posts[1].headers["hydite-event-id"]
    assert all(verify_signature(secret=secret, header=p.headers["hydite-signature"], body=p.body) for p in posts)
    deliveries = committed(
        lambda: list(
            WebhookDelivery.objects.filter(endpoint__organization=world.organization)
            .order_by("attempt")
            .values_list("attempt", "status_code", "succeeded", "error", "response_excerpt")
        )
    )
    assert deliveries == [(1, 500, False, "HTTP 500", "upstream trouble"), (2, 200, True, "", '{"ok": true}')]
    worker_log = log_path.read_text()
    assert f'Key "{world.key.name}" has reached its monthly soft budget ($1.50 of $1.00).' in worker_log  # the email
    assert world.owner.email in worker_log
    assert secret not in worker_log
