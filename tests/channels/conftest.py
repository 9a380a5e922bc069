"""Fixtures of the channel tests: an organisation's Default Channel, an Enterprise instance, a routing document."""

import pytest

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
