"""A committed organisation with budgets, spend through the real pipeline, signatures checked as a receiver would."""

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.core.redis import redis_client
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate
from apps.notifications.services.endpoints import webhook_endpoint_create
from apps.orgs.models import BillingMode, Organization, Team
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create, team_create
from apps.spend.services.ingest import spend_stream_group_ensure
from apps.spend.stream import SPEND_STREAM, spend_stream_entry
from hydite.celery import app as celery_app
from tests.world import consume  # noqa: F401 - the alert tests import it from here


def verify_signature(*, secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does with Hydite-Signature (written here from the documented format, not our code)."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < tolerance_s


@dataclass(frozen=True)
class BudgetWorld:
    organization: Organization
    admin: User
    owner: User  # the key's owner, a developer
    team: Team
    key: VirtualKey


def _build(tag: str) -> BudgetWorld:
    admin = user_create(email=f"admin-{tag}@example.test", password=None, email_verified=True)
    owner = user_create(email=f"owner-{tag}@example.test", password=None, email_verified=True)
    organization = organization_create(name=f"Budgets {tag}", owner=admin, billing_mode=BillingMode.INVOICE)
    team = team_create(organization=organization, name=f"Research {tag}", actor=admin)
    member_add(organization=organization, team=team, user=owner, role=Role.DEVELOPER, actor=admin)
    key, _ = key_generate(organization=organization, team=team, user=owner, name=f"key-{tag}", actor=admin)
    return BudgetWorld(organization, admin, owner, team, key)


@pytest.fixture
def budget_world(committed) -> BudgetWorld:  # type: ignore[no-untyped-def]
    """A committed organisation, team and key without budgets (tests set them): the consumer must see them."""
    return committed(_build, uuid.uuid4().hex[:8])


def subscribe(committed, world: BudgetWorld, url: str, event_type: str) -> str:  # type: ignore[no-untyped-def]
    """A committed webhook endpoint of the world's organisation for one event type; its secret."""
    _, secret = committed(
        webhook_endpoint_create, organization=world.organization, url=url, events=[event_type], actor=world.admin
    )
    return secret


def spend(world: BudgetWorld, cost_micros: int, *, created_at_ms: int | None = None) -> str:
    """Put one spend event of the world's key on the Redis stream, as the gateway does; its request id."""
    request_id = f"req_alert_{uuid.uuid4().hex[:16]}"
    event = {
        "request_id": request_id,
        "created_at_ms": created_at_ms or int(time.time() * 1000),
        "schema": "edge",
        "organization_id": world.organization.pk,
        "team_id": world.team.pk,
        "key_id": world.key.pk,
        "user_id": world.owner.pk,
        "model_alias": "gpt-4o-mini",
        "status_code": 200,
        "cost_micros": cost_micros,
    }
    client = redis_client()
    spend_stream_group_ensure(client=client)
    client.xadd(SPEND_STREAM, dict([spend_stream_entry([orjson.dumps(event)])]))
    return request_id


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks run in the caller (the consumer's thread), so the locmem outbox sees the emails."""
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before
