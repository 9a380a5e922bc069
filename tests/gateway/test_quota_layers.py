"""Which layers a key's snapshot gives a request, and the Redis keys they count in."""

import datetime as dt

from apps.gateway.quota import GatewayDefaults, layers_for
from apps.quotas.limits import spent_key, window_key

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _snapshot(**extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "id": 7,
        "schema": "edge",
        "organization_id": 3,
        "team_id": 5,
        "shared_instance": True,
        "tier": "free",
        "limits": {"key": {"rpm": 10, "budget": 1000, "period": "daily"}, "team": {}, "org": {"tpm": 99}},
        **extra,
    }


def test_layer_keys_are_named_by_the_quotas_app():
    layers = layers_for(_snapshot(), client_ip="203.0.113.9", defaults=GatewayDefaults(rpm=None, tpm=None), now=NOW)
    assert [(layer.name, layer.rate_key, layer.budget_key) for layer in layers] == [
        ("key", window_key("edge", "key", 7), spent_key("edge", "key", 7, "20261201")),
        ("org", window_key("edge", "org", 3), spent_key("edge", "org", 3, "20261201")),
    ]
    assert window_key("edge", "key", 7) == "hydite:edge:quota:window:key:7"


def test_the_gateway_layer_counts_each_key_and_each_client_ip():
    layers = layers_for(_snapshot(), client_ip="::1", defaults=GatewayDefaults(rpm=60, tpm=None), now=NOW)
    assert [(layer.name, layer.rate_key, layer.rpm) for layer in layers if layer.name == "gateway"] == [
        ("gateway", window_key("edge", "gateway", "key7"), 60),
        ("gateway", window_key("edge", "gateway", "ip::1"), 60),
    ]
