"""Fixtures of the channel tests: an organisation's Default Channel, an Enterprise instance, a routing document."""

from typing import Any

import pytest

from apps.channels import yaml_read
from apps.channels.models import Channel
from apps.channels.services import channel_default_ensure
from apps.tenancy.models import Instance, InstanceTier

PUBLIC_BASE = "https://8.8.8.8/v1"  # an address literal: no DNS

# Five aliases, their entries on lines 1-11; a `router:` block appended to it starts on line 12.
ALIASES_YAML = f"""models:
  - alias: claude-sonnet-4-5
    provider: {{name: anthropic, api_base: {PUBLIC_BASE}}}
  - alias: claude-3-7-sonnet
    provider: {{name: anthropic, api_base: {PUBLIC_BASE}}}
  - alias: gpt-4o
    provider: {{name: openai, api_base: {PUBLIC_BASE}}}
  - alias: gpt-4o-mini
    provider: {{name: openai, api_base: {PUBLIC_BASE}}}
  - alias: gpt-4o-long
    provider: {{name: openai, api_base: {PUBLIC_BASE}}}
"""
ROUTER_FIRST_LINE = 13  # of the first setting under `router:`


@pytest.fixture
def channel(org_with_roles) -> Channel:  # type: ignore[no-untyped-def]
    return channel_default_ensure(
        organization=org_with_roles["organization"], actor=org_with_roles["users"]["org_admin"]
    )


@pytest.fixture
def admin(org_with_roles):  # type: ignore[no-untyped-def]
    return org_with_roles["users"]["org_admin"]


@pytest.fixture
def enterprise(edge) -> Instance:  # type: ignore[no-untyped-def]
    """The Shared Edge on the Enterprise plan for this test (rolled back with it)."""
    Instance.objects.filter(pk=edge.pk).update(tier=InstanceTier.ENTERPRISE)
    edge.refresh_from_db()
    return edge


@pytest.fixture
def yaml_loaders(monkeypatch) -> list[Any]:  # type: ignore[no-untyped-def]
    """Every YAML loader the import makes, kept to tell how far it read before it stopped."""
    loaders: list[Any] = []
    made = yaml_read._PlainLoader.__init__

    def keep(self, stream):  # type: ignore[no-untyped-def]
        made(self, stream)
        loaders.append(self)

    monkeypatch.setattr(yaml_read._PlainLoader, "__init__", keep)
    return loaders


def stopped_early(loaders: list[Any], text: str) -> bool:
    """The loader refused at its node limit, before reading three quarters of `text` (a deterministic bound
    of the work done: pure-Python YAML reading all of it took seconds)."""
    (loader,) = loaders
    return bool(loader.nodes == yaml_read.MAX_YAML_NODES + 1 and loader.index < 0.75 * len(text))
