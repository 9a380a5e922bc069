"""How a deployment of an alias is chosen among those that may take the request (healthy, within their
caps, carrying the requested tags): one function per strategy."""

import hashlib
import math
import random
import time
from collections.abc import Callable

from apps.channels.router_config import Strategy
from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.router.health import Health

EXPLORATION = 0.05  # latency routing tries another deployment this often, so a recovered one is found again

# A deployment's cost for this request (None: no price), for cost-based routing.
CostOf = Callable[[DeploymentSnapshot], int | None]


def weighted(candidates: list[DeploymentSnapshot]) -> DeploymentSnapshot:
    if len(candidates) == 1:
        return candidates[0]
    return random.choices(candidates, weights=[d["weight"] or 1 for d in candidates])[0]  # noqa: S311 - spreading


def lowest_latency(candidates: list[DeploymentSnapshot], health: Health, schema: str) -> DeploymentSnapshot:
    """The lowest recent p95; a deployment never measured first, and now and then any (exploration)."""
    if len(candidates) == 1:
        return candidates[0]
    if random.random() < EXPLORATION:  # noqa: S311
        return random.choice(candidates)  # noqa: S311
    now = time.monotonic()
    measured: list[tuple[float, DeploymentSnapshot]] = []
    unmeasured = []
    for deployment in candidates:
        _, p95 = health.of((schema, deployment["id"])).percentiles(now)
        if p95 is None:
            unmeasured.append(deployment)
        else:
            measured.append((p95, deployment))
    if unmeasured:
        return random.choice(unmeasured)  # noqa: S311
    return min(measured, key=lambda pair: pair[0])[1]


def cheapest(candidates: list[DeploymentSnapshot], cost_of: CostOf) -> DeploymentSnapshot:
    """The lowest cost of this request at the prices in force (unpriced deployments last); ties by weight."""
    costs = [(cost_of(deployment), deployment) for deployment in candidates]
    priced = [(cost, deployment) for cost, deployment in costs if cost is not None]
    if not priced:
        return weighted(candidates)
    lowest = min(cost for cost, _ in priced)
    return weighted([deployment for cost, deployment in priced if cost == lowest])


def least_busy(candidates: list[DeploymentSnapshot], health: Health, schema: str) -> DeploymentSnapshot:
    """The fewest requests in flight, across processes; ties by weight."""
    loads = [(health.inflight((schema, d["id"])), d) for d in candidates]
    fewest = min(load for load, _ in loads)
    return weighted([deployment for load, deployment in loads if load == fewest])


def most_headroom(candidates: list[DeploymentSnapshot], health: Health, schema: str) -> DeploymentSnapshot:
    """The furthest from its own RPM/TPM caps this minute (uncapped: all headroom); ties by weight."""
    rooms = [(headroom(d, health, schema), d) for d in candidates]
    most = max(room for room, _ in rooms)
    return weighted([deployment for room, deployment in rooms if room == most])


def headroom(deployment: DeploymentSnapshot, health: Health, schema: str) -> float:
    """What is left of the deployment's caps this minute, as the smaller fraction (0: at a cap)."""
    rpm, tpm = deployment.get("rpm"), deployment.get("tpm")
    if not rpm and not tpm:
        return 1.0
    requests, tokens = health.minute_usage((schema, deployment["id"]))
    left = 1.0
    if rpm:
        left = min(left, 1 - requests / rpm)
    if tpm:
        left = min(left, 1 - tokens / tpm)
    return max(0.0, left)


def sticky(candidates: list[DeploymentSnapshot], session: str) -> DeploymentSnapshot:
    """The same session to the same deployment while it can take it (weighted rendezvous hashing: when
    one leaves the candidates only its sessions move)."""
    if len(candidates) == 1:
        return candidates[0]

    def score(deployment: DeploymentSnapshot) -> float:
        digest = hashlib.blake2b(f"{session}\0{deployment['id']}".encode(), digest_size=8).digest()
        unit = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # in (0, 1)
        return -math.log(unit) / (deployment["weight"] or 1)

    return min(candidates, key=score)


def choose(
    strategy: Strategy,
    candidates: list[DeploymentSnapshot],
    *,
    health: Health,
    schema: str,
    cost_of: CostOf,
    session: str,
) -> DeploymentSnapshot:
    if strategy == "weighted":
        return weighted(candidates)
    if strategy == "latency":
        return lowest_latency(candidates, health, schema)
    if strategy == "cost":
        return cheapest(candidates, cost_of)
    if strategy == "least-busy":
        return least_busy(candidates, health, schema)
    if strategy == "usage":
        return most_headroom(candidates, health, schema)
    return sticky(candidates, session) if session else weighted(candidates)
