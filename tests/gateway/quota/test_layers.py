"""Which layers a key's snapshot gives a request; the gateway layer's limits come from the snapshot when saved."""

import datetime as dt

from apps.gateway.quota import PlanCache, layers_for
from apps.quotas.limits import GatewayDefaults, spent_key, window_key

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
ENV = GatewayDefaults(key_rpm=60, key_tpm=1_000_000, ip_rpm=60, ip_tpm=1_000_000)


def _snapshot(**extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "id": 7,
        "schema": "edge",
        "organization_id": 3,
        "team_id": 5,
        "shared_instance": True,
        "plan_caps": None,  # no plan layer
        "limits": {"key": {"rpm": 10, "budget": 1000, "period": "daily"}, "team": {}, "org": {"tpm": 99}},
        **extra,
    }


def _gateway(layers):  # type: ignore[no-untyped-def]
    return [(layer.rate_key, layer.rpm, layer.tpm) for layer in layers if layer.name == "gateway"]


def test_layer_keys_are_named_by_the_quotas_app():
    layers = layers_for(_snapshot(), client_ip="203.0.113.9", defaults=GatewayDefaults(), now=NOW)
    assert [(layer.name, layer.rate_key, layer.budget_key) for layer in layers] == [
        ("key", window_key("edge", "key", 7), spent_key("edge", "key", 7, "20261201")),
        ("org", window_key("edge", "org", 3), spent_key("edge", "org", 3, "20261201")),
    ]
    assert window_key("edge", "key", 7) == "hydite:edge:quota:window:key:7"


def test_without_saved_defaults_the_process_environment_applies():
    layers = layers_for(_snapshot(), client_ip="203.0.113.9", defaults=ENV, now=NOW)
    assert _gateway(layers) == [
        (window_key("edge", "gateway", "key7"), 60, 1_000_000),
        (window_key("edge", "gateway", "ip203.0.113.9"), 60, 1_000_000),
    ]


def test_saved_defaults_in_the_snapshot_win_and_none_is_off():
    saved = {"key_rpm": 2, "key_tpm": None, "ip_rpm": None, "ip_tpm": 5000}
    layers = layers_for(_snapshot(gateway_defaults=saved), client_ip="::1", defaults=ENV, now=NOW)
    assert _gateway(layers) == [
        (window_key("edge", "gateway", "key7"), 2, None),
        (window_key("edge", "gateway", "ip::/64"), None, 5000),  # an IPv6 client: its /64
    ]
    all_off = dict.fromkeys(saved)
    assert _gateway(layers_for(_snapshot(gateway_defaults=all_off), client_ip="::1", defaults=ENV, now=NOW)) == []


def test_a_dedicated_instance_has_no_gateway_layer():
    snapshot = _snapshot(shared_instance=False, gateway_defaults={"key_rpm": 2})
    assert _gateway(layers_for(snapshot, client_ip="::1", defaults=ENV, now=NOW)) == []


def test_a_republished_snapshot_gets_a_new_plan():
    plans = PlanCache(ENV)
    before = _snapshot()
    assert plans.plan(before, "::1") is plans.plan(before, "::1")
    after = _snapshot(gateway_defaults={"key_rpm": 1})
    assert [layer.rpm for layer in plans.plan(after, "::1").layers if layer.name == "gateway"] == [1]


def test_a_snapshot_read_again_keeps_its_plan_and_the_cache_does_not_grow():
    plans = PlanCache(ENV)
    first = plans.plan(_snapshot(), "::1")
    again = [plans.plan(_snapshot(), "::1") for _ in range(50)]  # a fresh, equal dict every TTL
    assert all(plan is first for plan in again)
    assert len(plans) == 1


def test_an_ipv6_client_is_one_window_across_the_addresses_of_its_64():
    windows = {
        _gateway(layers_for(_snapshot(), client_ip=address, defaults=ENV, now=NOW))[1][0]
        for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::7", "2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    }
    assert windows == {window_key("edge", "gateway", "ip2001:db8:1:2::/64")}
    other = _gateway(layers_for(_snapshot(), client_ip="2001:db8:1:3::1", defaults=ENV, now=NOW))[1][0]
    assert other not in windows
