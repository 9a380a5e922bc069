"""What this process knows of each deployment: requests in flight, recent latencies and errors, this
minute's usage against its caps, and (from Redis, see shared.py) whether it is cooling down.

Everything here is in memory and cheap: a request touches a few counters; percentiles are recomputed
at most every RECOMPUTE_EVERY samples."""

import math
import time
from collections import deque
from dataclasses import dataclass, field

DeploymentKey = tuple[str, int]  # (instance schema, deployment id): ids are per schema

LATENCY_WINDOW_S = 300.0  # the decaying window: samples older than this no longer count
LATENCY_SAMPLES = 256
RECOMPUTE_EVERY = 16
LOCAL_COOLDOWN_GRACE_S = 2.0  # a cooldown this process set holds until Redis has surely carried it


@dataclass(slots=True)
class DeploymentStats:
    inflight: int = 0
    samples: deque[tuple[float, float, bool]] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    since_recompute: int = RECOMPUTE_EVERY
    p50_s: float | None = None
    p95_s: float | None = None
    error_rate: float = 0.0
    minute: int = 0
    minute_requests: int = 0
    minute_tokens: int = 0

    def percentiles(self, now: float) -> tuple[float | None, float | None]:
        if self.since_recompute >= RECOMPUTE_EVERY or (self.p95_s is None and self.since_recompute):
            self._recompute(now)
        return self.p50_s, self.p95_s

    def _recompute(self, now: float) -> None:
        self.since_recompute = 0
        while self.samples and now - self.samples[0][0] > LATENCY_WINDOW_S:
            self.samples.popleft()
        latencies = sorted(seconds for _, seconds, ok in self.samples if ok)
        errors = sum(1 for _, _, ok in self.samples if not ok)
        self.error_rate = errors / len(self.samples) if self.samples else 0.0
        if not latencies:
            self.p50_s = self.p95_s = None
            return
        self.p50_s = latencies[(len(latencies) - 1) // 2]
        self.p95_s = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]


@dataclass(slots=True)
class Usage:
    """Another process's (or all processes') view of a deployment this minute."""

    inflight: int = 0
    minute: int = 0
    requests: int = 0
    tokens: int = 0


class Health:
    def __init__(self) -> None:
        self.stats: dict[DeploymentKey, DeploymentStats] = {}
        self.cooling: dict[DeploymentKey, int] = {}  # until (epoch ms): shared, merged with local_cooling
        self.local_cooling: dict[DeploymentKey, tuple[int, float]] = {}  # until, set at (monotonic)
        self.others: dict[DeploymentKey, Usage] = {}  # every other process's counters, summed (see shared.py)
        # probes this process sends: the end of the cooldown probed, since (monotonic)
        self.probing: dict[DeploymentKey, tuple[int, float]] = {}

    def of(self, key: DeploymentKey) -> DeploymentStats:
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = DeploymentStats()
        return stats

    def started(self, key: DeploymentKey) -> None:
        stats = self.of(key)
        stats.inflight += 1
        minute = int(time.time()) // 60
        if stats.minute != minute:
            stats.minute, stats.minute_requests, stats.minute_tokens = minute, 0, 0
        stats.minute_requests += 1

    def answered(self, key: DeploymentKey, *, seconds: float, ok: bool) -> None:
        """A latency sample (the whole answer, or a stream's first bytes), or a failure."""
        stats = self.of(key)
        stats.samples.append((time.monotonic(), seconds, ok))
        stats.since_recompute += 1

    def done(self, key: DeploymentKey, *, tokens: int = 0) -> None:
        stats = self.of(key)
        stats.inflight = max(0, stats.inflight - 1)
        if tokens and stats.minute == int(time.time()) // 60:
            stats.minute_tokens += tokens

    def cooling_until_ms(self, key: DeploymentKey) -> int | None:
        """When the deployment's cooldown ends (it may have ended: then it waits for its probe), or None."""
        return self.cooling.get(key) if self.cooling else None

    def cool_locally(self, key: DeploymentKey, until_ms: int) -> None:
        self.local_cooling[key] = (until_ms, time.monotonic())
        self.cooling[key] = max(until_ms, self.cooling.get(key, 0))

    def recovered(self, key: DeploymentKey) -> None:
        self.cooling.pop(key, None)
        self.local_cooling.pop(key, None)
        self.probing.pop(key, None)

    def shared_cooling(self, shared: dict[DeploymentKey, int]) -> None:
        """Redis's view replaces ours, except running cooldowns this process set that Redis may not carry yet."""
        now, now_ms = time.monotonic(), int(time.time() * 1000)
        merged = dict(shared)
        for key, (until_ms, set_at) in list(self.local_cooling.items()):
            if now - set_at > LOCAL_COOLDOWN_GRACE_S or until_ms <= now_ms:
                del self.local_cooling[key]
            else:
                merged[key] = max(until_ms, merged.get(key, 0))
        self.cooling = merged

    def inflight(self, key: DeploymentKey) -> int:
        stats = self.stats.get(key)
        other = self.others.get(key)
        return (stats.inflight if stats else 0) + (other.inflight if other else 0)

    def minute_usage(self, key: DeploymentKey) -> tuple[int, int]:
        """Requests and tokens this minute, every process's."""
        minute = int(time.time()) // 60
        stats = self.stats.get(key)
        other = self.others.get(key)
        requests = tokens = 0
        if stats is not None and stats.minute == minute:
            requests, tokens = stats.minute_requests, stats.minute_tokens
        if other is not None and other.minute == minute:
            requests, tokens = requests + other.requests, tokens + other.tokens
        return requests, tokens
