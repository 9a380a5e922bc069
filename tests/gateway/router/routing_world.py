"""Channels with routers over the mock provider's virtual providers (…/mock/<name>/…), and its faults."""

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from apps.accounts.services import user_create
from apps.channels.models import Channel, Deployment
from apps.channels.services import DeploymentSpec, channel_create, channel_model_set
from apps.channels.snapshots import channel_snapshot_publish
from apps.core.schemas import current_schema
from apps.keys.services import key_generate
from apps.orgs.models import BillingMode, Team
from apps.orgs.services.organizations import organization_create
from apps.providers.models import ProviderType
from apps.providers.services import provider_credential_create
from tests.conftest import UPSTREAM_API_KEY

SNAPSHOT_SETTLE_S = 1.3  # a changed channel reaches the gateway's process cache within a second


@dataclass(frozen=True)
class Upstream:
    """A deployment to create: which virtual provider serves it, in which wire format."""

    target: str
    provider: str = ProviderType.OPENAI_COMPATIBLE
    model: str = "mock-gpt-4o-mini"
    weight: int = 1
    rpm: int | None = None
    timeouts: dict[str, float] | None = None
    tags: tuple[str, ...] = ()
    root: str | None = None  # another server than the mock provider (e.g. hostile_upstream's)


@dataclass(frozen=True)
class RoutedChannel:
    key: str  # clear text of a key bound to the channel
    channel_id: int
    deployments: dict[str, int]  # target → deployment id


def unique(prefix: str) -> str:
    """A virtual provider's name no other test uses (its faults and counters are its own)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api_base(mock_root: str, upstream: Upstream) -> str:
    root = upstream.root or mock_root
    if upstream.provider == ProviderType.ANTHROPIC:
        return f"{root}/mock/{upstream.target}"
    return f"{root}/mock/{upstream.target}/v1"


def routed_channel(mock_root: str, aliases: dict[str, list[Upstream]], router: dict[str, Any]) -> RoutedChannel:
    """A new organisation whose channel has `aliases` and `router` (the YAML's `router:` block), and a key."""
    owner = user_create(email=f"router-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    organization = organization_create(
        name=f"Router {uuid.uuid4().hex[:6]}", owner=owner, billing_mode=BillingMode.INVOICE
    )
    credential = provider_credential_create(
        organization=None, name="mock", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    channel = channel_create(organization=organization, name=f"Routed {uuid.uuid4().hex[:6]}", actor=owner)
    deployments = {}
    for alias, upstreams in aliases.items():
        specs = [
            DeploymentSpec(u.provider, u.model, api_base(mock_root, u), credential, weight=u.weight, tags=list(u.tags))
            for u in upstreams
        ]
        channel_model_set(channel=channel, alias=alias, deployments=specs, actor=owner, platform_managed=True)
        for upstream, deployment in zip(
            upstreams,
            Deployment.objects.filter(channel_model__channel=channel, channel_model__alias=alias).order_by("id"),
            strict=True,
        ):
            Deployment.objects.filter(pk=deployment.pk).update(rpm_limit=upstream.rpm, timeouts=upstream.timeouts or {})
            deployments[upstream.target] = deployment.pk
    Channel.objects.filter(pk=channel.pk).update(router=router)
    channel_snapshot_publish(schema=current_schema(), channel_id=channel.pk)
    team = Team.objects.get(organization=organization, is_default=True)
    _, plaintext = key_generate(
        organization=organization, team=team, user=owner, name="router", actor=owner, channel=channel
    )
    return RoutedChannel(plaintext, channel.pk, deployments)


class MockControl:
    """The mock provider's faults and counters, per virtual provider."""

    def __init__(self, mock_root: str) -> None:
        self.root = mock_root

    def fail(self, target: str, **fault: Any) -> None:
        httpx.put(f"{self.root}/mock/faults/{target}", json=fault, timeout=5).raise_for_status()

    def heal(self, target: str) -> None:
        httpx.delete(f"{self.root}/mock/faults/{target}", timeout=5)

    def requests(self, target: str) -> int:
        stats = httpx.get(f"{self.root}/mock/stats", timeout=5).json()
        return int(stats.get(target, {}).get("requests", 0))


def settle() -> None:
    time.sleep(SNAPSHOT_SETTLE_S)
