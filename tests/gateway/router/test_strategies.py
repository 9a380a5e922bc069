"""Each strategy's choice among the deployments that may take a request (distributions over many picks)."""

import collections
import time

from apps.channels.router_config import NO_TIMEOUTS
from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.router.health import Health, Usage
from apps.gateway.router.strategies import choose, headroom, lowest_latency, sticky, weighted

PICKS = 6000


def deployment(number: int, *, weight: int = 1, rpm: int | None = None, tpm: int | None = None) -> DeploymentSnapshot:
    return DeploymentSnapshot(
        id=number,
        provider="openai_compatible",
        upstream_model=f"model-{number}",
        api_base="http://127.0.0.1:9/v1",
        api_version="",
        secret=None,
        weight=weight,
        price_overrides=[],
        tags=[],
        rpm=rpm,
        tpm=tpm,
        timeouts=NO_TIMEOUTS,
    )


def shares(picks: list[DeploymentSnapshot]) -> dict[int, float]:
    counted = collections.Counter(d["id"] for d in picks)
    return {number: count / len(picks) for number, count in counted.items()}


def _choose(strategy, candidates, health):  # type: ignore[no-untyped-def]
    return choose(strategy, candidates, health=health, schema="edge", cost_of=lambda d: 0, session="")


def test_weights_split_traffic_70_30():
    # 6,000 picks: a share's standard deviation is under 0.6 points; 3 points is over five of them.
    candidates = [deployment(1, weight=70), deployment(2, weight=30)]
    split = shares([weighted(candidates) for _ in range(PICKS)])
    assert abs(split[1] - 0.70) < 0.03 and abs(split[2] - 0.30) < 0.03


def test_latency_routing_prefers_the_fastest_and_still_explores():
    health = Health()
    candidates = [deployment(1), deployment(2), deployment(3)]
    for number, seconds in ((1, 0.300), (2, 0.050), (3, 0.900)):
        for _ in range(40):
            health.answered(("edge", number), seconds=seconds, ok=True)
    split = shares([lowest_latency(candidates, health, "edge") for _ in range(PICKS)])
    assert split[2] > 0.93  # 95 % exploitation plus a third of the 5 % exploration
    assert 0.005 < split.get(1, 0) < 0.04 and 0.005 < split.get(3, 0) < 0.04


def test_latency_routing_measures_a_deployment_it_never_heard_from_first():
    health = Health()
    for _ in range(40):
        health.answered(("edge", 1), seconds=0.01, ok=True)
    picks = [lowest_latency([deployment(1), deployment(2)], health, "edge") for _ in range(200)]
    assert shares(picks)[2] > 0.9


def test_latency_uses_a_decaying_window():
    health = Health()
    stats = health.of(("edge", 1))
    for _ in range(40):
        stats.samples.append((time.monotonic() - 3600, 5.0, True))  # an hour ago: slow
    for _ in range(20):
        health.answered(("edge", 1), seconds=0.02, ok=True)
    assert stats.percentiles(time.monotonic())[1] == 0.02


def test_cost_routing_picks_the_cheapest_at_the_prices_in_force():
    prices = {1: 900, 2: 300, 3: None}
    candidates = [deployment(1), deployment(2), deployment(3)]
    picks = [
        choose("cost", candidates, health=Health(), schema="edge", cost_of=lambda d: prices[d["id"]], session="")
        for _ in range(100)
    ]
    assert {d["id"] for d in picks} == {2}


def test_least_busy_counts_other_processes_too():
    health = Health()
    for _ in range(3):
        health.started(("edge", 1))
    health.others[("edge", 2)] = Usage(inflight=5)  # another gateway process's
    candidates = [deployment(1), deployment(2), deployment(3)]
    picks = {_choose("least-busy", candidates, health)["id"] for _ in range(50)}
    assert picks == {3}


def test_usage_routing_spreads_before_a_cap_and_headroom_reaches_zero_at_it():
    health = Health()
    capped = deployment(1, rpm=10)
    for _ in range(9):
        health.started(("edge", 1))
    assert 0 < headroom(capped, health, "edge") <= 0.1
    roomy = deployment(2, rpm=1000)
    picks = {_choose("usage", [capped, roomy], health)["id"] for _ in range(50)}
    assert picks == {2}
    health.started(("edge", 1))
    assert headroom(capped, health, "edge") == 0


def test_sticky_sessions_stay_and_only_the_lost_deployments_sessions_move():
    candidates = [deployment(number) for number in range(1, 5)]
    first = {f"user-{n}": sticky(candidates, f"user-{n}")["id"] for n in range(400)}
    assert first == {f"user-{n}": sticky(candidates, f"user-{n}")["id"] for n in range(400)}
    assert set(first.values()) == {1, 2, 3, 4}
    without_two = [d for d in candidates if d["id"] != 2]
    moved = {user for user, number in first.items() if sticky(without_two, user)["id"] != number}
    assert moved == {user for user, number in first.items() if number == 2}
