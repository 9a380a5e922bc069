"""Each deployment's health as the gateway processes share it in Redis (apps.gateway.router.shared): its cooldown,
and its load, recent latency and errors summed over the live processes. The Channels page shows it and its dry
run routes on it; None when Redis cannot be reached (the page says health is unavailable)."""

import datetime as dt
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from redis.exceptions import RedisError

from apps.channels.models import Deployment
from apps.core.outage import redis_outage_log
from apps.core.redis import redis_client
from apps.gateway.router.shared import (
    COOLDOWNS,
    PROCESS_TTL_MS,
    PROCESSES,
    STALE_COOLDOWN_MS,
    deployment_field,
    load_key,
)

LOAD_PARTS = 8  # a process's value: "inflight minute requests tokens p50_ms p95_ms error_rate samples"


@dataclass(frozen=True)
class DeploymentLoad:
    """A deployment's counters over the live gateway processes. Percentiles are each process's weighted by its
    successful samples (an approximation: percentiles do not add up); the error rate is exact."""

    inflight: int = 0
    minute: int = 0  # the epoch minute now
    requests: int = 0  # this minute's
    tokens: int = 0
    samples: int = 0  # answers and failures within the gateway's latency window
    p50_ms: float | None = None
    p95_ms: float | None = None
    error_rate: float | None = None  # None: no samples


@dataclass(frozen=True)
class RoutingHealth:
    now_ms: int
    processes: int  # live gateway processes
    cooldowns: dict[int, int]  # deployment id -> its cooldown's end (epoch ms); ended: waiting for its probe
    loads: dict[int, DeploymentLoad]


HealthState = Literal["healthy", "cooling", "probe", "disabled"]


@dataclass(frozen=True)
class DeploymentHealth:
    deployment: Deployment
    state: HealthState  # "probe": its cooldown ended, the next request to it decides
    cooling_until: dt.datetime | None
    load: DeploymentLoad | None  # None: no live process has counted it


class _Sums:
    def __init__(self) -> None:
        self.inflight = self.minute = self.requests = self.tokens = self.samples = 0
        self.errors = 0.0
        self.weighted: list[tuple[float, float, float]] = []  # (successful samples, p50_ms, p95_ms)

    def add(self, parts: list[str]) -> None:
        inflight, minute, requests, tokens = (int(part) for part in parts[:4])
        p50, p95, error_rate, samples = float(parts[4]), float(parts[5]), float(parts[6]), int(parts[7])
        self.inflight += inflight
        if minute > self.minute:
            self.minute, self.requests, self.tokens = minute, 0, 0
        if minute == self.minute:
            self.requests, self.tokens = self.requests + requests, self.tokens + tokens
        self.samples += samples
        self.errors += error_rate * samples
        if p95 >= 0 and p50 >= 0:  # -1: not measured
            self.weighted.append((max(samples * (1 - error_rate), 1.0), p50, p95))

    def load(self, now_minute: int) -> DeploymentLoad:
        weight = sum(w for w, _, _ in self.weighted)
        current = self.minute == now_minute
        return DeploymentLoad(
            inflight=self.inflight,
            minute=now_minute,
            requests=self.requests if current else 0,
            tokens=self.tokens if current else 0,
            samples=self.samples,
            p50_ms=sum(w * p50 for w, p50, _ in self.weighted) / weight if weight else None,
            p95_ms=sum(w * p95 for w, _, p95 in self.weighted) / weight if weight else None,
            error_rate=self.errors / self.samples if self.samples else None,
        )


def _loads(values: list[list[bytes | None]], deployment_ids: list[int], now_ms: int) -> dict[int, DeploymentLoad]:
    sums: dict[int, _Sums] = {}
    for process_values in values:
        for deployment_id, value in zip(deployment_ids, process_values, strict=True):
            parts = value.decode().split() if value else []
            if len(parts) < LOAD_PARTS:
                continue
            try:
                sums.setdefault(deployment_id, _Sums()).add(parts)
            except ValueError:
                continue  # not a process's counters
    return {deployment_id: summed.load(now_ms // 60_000) for deployment_id, summed in sums.items()}


def routing_health_read(*, schema: str, deployment_ids: Collection[int]) -> RoutingHealth | None:
    """The deployments' cooldowns and loads (over the processes seen within PROCESS_TTL_MS); None if Redis is
    unreachable."""
    ids = sorted(deployment_ids)
    now_ms = int(time.time() * 1000)
    if not ids:
        return RoutingHealth(now_ms=now_ms, processes=0, cooldowns={}, loads={})
    fields = [deployment_field((schema, deployment_id)) for deployment_id in ids]
    client = redis_client()
    try:
        live: list[bytes] = client.zrangebyscore(PROCESSES, now_ms - PROCESS_TTL_MS, "+inf")  # type: ignore[assignment]
        processes = [name.decode() for name in live]
        pipe = client.pipeline(transaction=False)
        pipe.hmget(COOLDOWNS, fields)
        for process in processes:
            pipe.hmget(load_key(process), fields)
        cooldown_values, *load_values = pipe.execute()
    except (RedisError, OSError) as exc:
        redis_outage_log("routing health page", exc, "the Channels page shows health unavailable")
        return None
    cooldowns = {}
    for deployment_id, value in zip(ids, cooldown_values, strict=True):
        ends = int(value) if value is not None and value.isdigit() else 0
        if ends > now_ms - STALE_COOLDOWN_MS:  # the gateway forgets older ones too
            cooldowns[deployment_id] = ends
    return RoutingHealth(
        now_ms=now_ms, processes=len(processes), cooldowns=cooldowns, loads=_loads(load_values, ids, now_ms)
    )


def _state(deployment: Deployment, health: RoutingHealth) -> tuple[HealthState, dt.datetime | None]:
    if not deployment.is_active:
        return "disabled", None
    ends = health.cooldowns.get(deployment.pk)
    if ends is None:
        return "healthy", None
    if ends <= health.now_ms:
        return "probe", None
    return "cooling", dt.datetime.fromtimestamp(ends / 1000, tz=dt.UTC)


@dataclass(frozen=True)
class DeploymentsHealth:
    rows: list[DeploymentHealth]
    processes: int  # the live gateway processes summed over


def deployments_health(*, schema: str, deployments: list[Deployment]) -> DeploymentsHealth | None:
    """Each deployment's state and load, in the given order; None if Redis is unreachable."""
    health = routing_health_read(schema=schema, deployment_ids={deployment.pk for deployment in deployments})
    if health is None:
        return None
    rows = []
    for deployment in deployments:
        state, until = _state(deployment, health)
        rows.append(DeploymentHealth(deployment, state, until, health.loads.get(deployment.pk)))
    return DeploymentsHealth(rows=rows, processes=health.processes)
