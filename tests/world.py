"""A committed world for the live /v1 and spend tests: an organisation, channels pointing at the mock provider, keys."""

import os
import time
import uuid
from dataclasses import dataclass

import pytest

from apps.accounts.services import user_create
from apps.channels.services import DeploymentSpec, channel_create, channel_default_ensure, channel_model_set
from apps.core.redis import redis_client
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate
from apps.orgs.models import BillingMode, Organization, Team
from apps.orgs.services.organizations import organization_create
from apps.providers.models import ProviderType
from apps.providers.services import provider_credential_create
from apps.spend.models import SpendLog
from apps.spend.services.ingest import spend_consume_once, spend_stream_group_ensure
from apps.spend.services.ledger import ledger_events_write
from tests.conftest import UPSTREAM_API_KEY

# alias in the default channel → model of the mock provider (None: an unreachable upstream)
ALIASES = {
    "gpt-4o-mini": "mock-gpt-4o-mini",
    "text-embedding-3-small": "mock-embedding-small",
    "rate-limited": "mock-status-429",
    "upstream-500": "mock-status-500",
    "slow": "mock-timeout",
    "broken-stream": "mock-broken-stream",
    "drip": "mock-drip-250",
    "long": "mock-gpt-4o-mini-long",
    "unreachable": None,
}


@dataclass(frozen=True)
class World:
    organization: Organization
    team: Team
    key: str  # clear text of an active key on the default channel
    other_channel_alias: str


def mock_key(mock_url: str, name: str, *, on_created=None) -> str:  # type: ignore[no-untyped-def]
    """A key of a new invoiced organisation whose channel serves `gpt-4o-mini` from the mock provider, minted in
    the current instance's schema; `on_created(organization)` runs before the key is minted."""
    owner = user_create(email=f"{name}-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    organization = organization_create(
        name=f"{name} {uuid.uuid4().hex[:6]}", owner=owner, billing_mode=BillingMode.INVOICE
    )
    credential = provider_credential_create(
        organization=None, name="mock", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    channel = channel_default_ensure(organization=organization, actor=owner)
    spec = DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "mock-gpt-4o-mini", mock_url, credential)
    channel_model_set(channel=channel, alias="gpt-4o-mini", deployments=[spec], actor=owner, platform_managed=True)
    if on_created is not None:
        on_created(organization)
    team = Team.objects.get(organization=organization, is_default=True)
    return key_generate(organization=organization, team=team, user=owner, name=name, actor=owner)[1]


def build_world(mock_url: str, billing_mode: str = BillingMode.INVOICE) -> World:
    owner = user_create(email=f"gw-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    name = f"Gateway {uuid.uuid4().hex[:6]}"
    organization = organization_create(name=name, owner=owner, billing_mode=billing_mode)
    credential = provider_credential_create(
        organization=None, name="mock", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    channel = channel_default_ensure(organization=organization, actor=owner)
    for alias, upstream in ALIASES.items():
        spec = DeploymentSpec(
            provider=ProviderType.OPENAI_COMPATIBLE,
            upstream_model=upstream or "anything",
            api_base=mock_url if upstream else "http://127.0.0.1:9/v1",
            credential=credential,
        )
        channel_model_set(channel=channel, alias=alias, deployments=[spec], actor=owner, platform_managed=True)
    channel_model_set(
        channel=channel,
        alias="no-credential",
        actor=owner,
        deployments=[DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "mock-gpt-4o-mini", mock_url)],
    )
    azure = DeploymentSpec(
        provider=ProviderType.AZURE,
        upstream_model="mock-gpt-4o-mini",
        api_base=mock_url.removesuffix("/v1"),
        credential=credential,
        api_version="2024-10-21",
    )
    channel_model_set(channel=channel, alias="azure-gpt", deployments=[azure], actor=owner, platform_managed=True)
    anthropic = DeploymentSpec(ProviderType.ANTHROPIC, "mock-gpt-4o", mock_url.removesuffix("/v1"), credential)
    channel_model_set(channel=channel, alias="claude", deployments=[anthropic], actor=owner, platform_managed=True)
    gemini = DeploymentSpec(ProviderType.GEMINI, "mock-gpt-4o-mini", mock_url, credential)
    channel_model_set(channel=channel, alias="gemini", deployments=[gemini], actor=owner, platform_managed=True)
    other = channel_create(organization=organization, name="Staging", actor=owner)
    channel_model_set(
        channel=other,
        alias="staging-only",
        actor=owner,
        platform_managed=True,
        deployments=[DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "mock-gpt-4o", mock_url, credential)],
    )
    team = Team.objects.get(organization=organization, is_default=True)
    _, plaintext = key_generate(organization=organization, team=team, user=owner, name="main", actor=owner)
    return World(organization=organization, team=team, key=plaintext, other_channel_alias="staging-only")


@pytest.fixture(scope="session")
def world(committed, mock_provider_url) -> World:  # type: ignore[no-untyped-def]
    return committed(build_world, mock_provider_url)


def new_key(world: World, name: str) -> tuple[VirtualKey, str]:
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    return key_generate(organization=world.organization, team=world.team, user=owner, name=name, actor=owner)


@pytest.fixture
def prepaid_world(committed, mock_provider_url) -> World:  # type: ignore[no-untyped-def]
    """A world of its own whose organisation pays from its wallet (empty at first)."""
    return committed(build_world, mock_provider_url, BillingMode.PREPAID)


@pytest.fixture
def own_world(committed, mock_provider_url) -> World:  # type: ignore[no-untyped-def]
    """A world of its own (invoiced), for tests that change its organisation's settings or members."""
    return committed(build_world, mock_provider_url)


@pytest.fixture
def fresh_key(committed, world):  # type: ignore[no-untyped-def]
    """A new active key of its own (committed), for tests that pause, revoke or regenerate it."""
    return committed(new_key, world, f"fresh-{uuid.uuid4().hex[:6]}")


def consume(committed, *request_ids: str, timeout_s: float = 15) -> None:  # type: ignore[no-untyped-def]
    """Run the spend consumer (its own thread and connection, so its writes commit) until the events are ledgered."""

    spend_stream_group_ensure(client=redis_client())

    def once() -> bool:
        spend_consume_once(client=redis_client(), consumer="alerts-test", block_ms=100)
        return SpendLog.objects.filter(request_id__in=request_ids).count() == len(request_ids)

    deadline = time.monotonic() + timeout_s
    while not committed(once):
        assert time.monotonic() < deadline, "the consumer did not write the events"


def ledger_rows_drained(committed, request_ids: set[str], timeout_s: float = 15) -> dict[str, SpendLog]:  # type: ignore[no-untyped-def]
    """The ledger rows of the request ids, once the consumer has written them all (or the timeout passed)."""

    def consume() -> None:
        client = redis_client()
        spend_stream_group_ensure(client=client)
        spend_consume_once(client=client, consumer=f"test-{os.getpid()}", block_ms=200)

    deadline = time.monotonic() + timeout_s
    while True:
        committed(consume)
        rows = {
            row.request_id: row for row in committed(lambda: list(SpendLog.objects.filter(request_id__in=request_ids)))
        }
        if set(rows) == request_ids or time.monotonic() > deadline:
            return rows


def ledger_rows_of_deployment(committed, deployment_id: int, settle_s: float = 1.0) -> list[SpendLog]:  # type: ignore[no-untyped-def]
    """The ledger rows of every request a deployment answered, once no new one has come for `settle_s` (for
    clients whose request ids a test cannot see, e.g. a coding agent's)."""
    count, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 15
    while True:
        ledger_rows_drained(committed, set(), timeout_s=0)  # one consumer pass
        rows = committed(lambda: list(SpendLog.objects.filter(deployment_id=deployment_id)))
        if len(rows) != count:
            count, stable_since = len(rows), time.monotonic()
        if (rows and time.monotonic() - stable_since >= settle_s) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def ledger_add(organization_id: int, **fields: object) -> str:
    """One spend event written through the consumer's own path (ledger, hour roll-ups, wallet) in this
    transaction; `fields` override a successful request's defaults. Returns its request id."""
    event = {
        "request_id": f"req_{uuid.uuid4().hex}",
        "created_at_ms": int(time.time() * 1000),
        "organization_id": organization_id,
        "model_alias": "gpt-4o-mini",
        "status_code": 200,
        **fields,
    }
    assert ledger_events_write([event]) == 1
    return str(event["request_id"])
