"""The channel snapshot the gateway reads: deployments with tags, caps and timeouts; the router resolved."""

import orjson
import pytest

from apps.channels.models import ChannelModel
from apps.channels.router_config import DEFAULT_POLICY, default_router
from apps.channels.router_services import channel_router_set
from apps.channels.services import DeploymentSpec, channel_model_set
from apps.channels.snapshots import (
    CHANNEL_SNAPSHOT_VERSION,
    channel_snapshot_build,
    channel_snapshot_key,
    channel_snapshot_publish,
)
from apps.core.redis import redis_client
from tests.channels.conftest import PUBLIC_BASE

pytestmark = pytest.mark.django_db


def _aliases(channel, *aliases: str) -> None:  # type: ignore[no-untyped-def]
    for alias in aliases:
        channel_model_set(
            channel=channel, alias=alias, deployments=[DeploymentSpec("openai", alias, PUBLIC_BASE)], actor=None
        )


def test_deployments_carry_tags_caps_and_timeouts(channel):
    specs = [
        DeploymentSpec(
            "openai",
            "gpt-4o",
            PUBLIC_BASE,
            tags=["prod", "eu"],
            rpm_limit=4000,
            tpm_limit=2_000_000,
            timeouts={"connect_s": 5, "total_s": 600.5},
        ),
        DeploymentSpec("openai", "gpt-4o", PUBLIC_BASE + "/other"),
    ]
    channel_model_set(channel=channel, alias="gpt-4o", deployments=specs, actor=None)
    snapshot = channel_snapshot_build(channel_id=channel.pk)
    assert snapshot is not None and snapshot["version"] == CHANNEL_SNAPSHOT_VERSION == 4
    first, second = snapshot["models"]["gpt-4o"]
    assert (first["tags"], first["rpm"], first["tpm"]) == (["prod", "eu"], 4000, 2_000_000)
    assert first["timeouts"] == {"connect_s": 5.0, "first_byte_s": None, "idle_s": None, "total_s": 600.5}
    assert isinstance(first["timeouts"]["connect_s"], float)
    assert (second["tags"], second["rpm"], second["tpm"]) == ([], None, None)
    assert second["timeouts"] == {"connect_s": None, "first_byte_s": None, "idle_s": None, "total_s": None}


def test_a_channel_without_router_settings_has_the_default_router(channel):
    _aliases(channel, "a")
    snapshot = channel_snapshot_build(channel_id=channel.pk)
    assert snapshot is not None and snapshot["router"] == default_router()


def test_the_router_is_resolved_for_the_gateway(channel, enterprise):
    _aliases(channel, "sonnet", "haiku", "gpt-4o", "long")
    router = {
        "strategy": "latency",
        "backoff": {"max_ms": 8000},
        "cooldown": {"seconds": 10},
        "tags": ["prod"],
        "rules": [{"header": "X-Tier", "equals": "gold", "tags": ["gold"]}],
        "fallbacks": {"sonnet": ["haiku", "gpt-4o"]},
        "context_window_fallbacks": {"gpt-4o": ["long"]},
        "aliases": {"sonnet": {"retries": 5, "backoff": {"base_ms": 50}, "cooldown": {"failures": 1}}},
    }
    channel_router_set(channel=channel, router=router, actor=None)
    snapshot = channel_snapshot_build(channel_id=channel.pk)
    assert snapshot is not None
    resolved = snapshot["router"]
    default = {
        "strategy": "latency",
        "retries": DEFAULT_POLICY["retries"],
        "backoff": {"base_ms": 200, "max_ms": 8000},
        "retry_after_max_s": 20.0,
        "cooldown": {"failures": 3, "window_s": 60, "seconds": 10},
    }
    assert resolved["default"] == default
    assert resolved["aliases"] == {
        "sonnet": {
            "strategy": "latency",
            "retries": 5,
            "backoff": {"base_ms": 50, "max_ms": 8000},  # the alias's base over the channel's max
            "retry_after_max_s": 20.0,
            "cooldown": {"failures": 1, "window_s": 60, "seconds": 10},
        }
    }
    assert resolved["fallbacks"] == {"sonnet": ["haiku", "gpt-4o"]}
    assert resolved["context_window_fallbacks"] == {"gpt-4o": ["long"]}
    assert resolved["content_policy_fallbacks"] == {}
    assert resolved["tags"] == ["prod"]
    assert resolved["rules"] == [{"header": "x-tier", "equals": "gold", "tags": ["gold"]}]


def test_a_chain_naming_an_alias_removed_around_the_services_skips_it(channel, enterprise):
    _aliases(channel, "a", "b", "c")
    channel_router_set(
        channel=channel, router={"fallbacks": {"a": ["b", "c"], "b": ["c"]}, "aliases": {"c": {}}}, actor=None
    )
    ChannelModel.objects.filter(channel=channel, alias="c").delete()  # as the admin's inline does
    snapshot = channel_snapshot_build(channel_id=channel.pk)
    assert snapshot is not None
    assert snapshot["router"]["fallbacks"] == {"a": ["b"]} and snapshot["router"]["aliases"] == {}


def test_the_published_snapshot_is_what_was_built(channel, enterprise):
    _aliases(channel, "a", "b")
    channel_router_set(channel=channel, router={"retries": 0, "fallbacks": {"a": ["b"]}}, actor=None)
    published = channel_snapshot_publish(schema="edge", channel_id=channel.pk)
    stored = orjson.loads(redis_client().get(channel_snapshot_key(schema="edge", channel_id=channel.pk)))
    assert stored == published and stored["router"]["default"]["retries"] == 0
