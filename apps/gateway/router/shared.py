"""Deployment health shared across gateway processes through Redis. A successful request reads only this
process's copy; a failure, a probe's claim and a recovery each wait for one Redis call.

- Cooldowns: one hash, field "schema:id" → the cooldown's end (epoch ms). A failure is counted and a
  cooldown set by one script (lua/failure.lua); the ended cooldown of a deployment stays until a single
  probe request (claimed with SET NX, one per cooldown) succeeds (lua/recovered.lua) or fails (a new
  cooldown, with a probe of its own). Redis keeps them across restarts.
- Load: every SYNC_INTERVAL_S each process writes its counters (in flight, this minute's requests and
  tokens, p50/p95, error rate) to a hash of its own that expires, and reads every other live process's:
  least-busy and usage-based routing count across processes, and the Channels page shows health.
A process that cannot reach Redis keeps routing on what it knows itself (see Health).
"""

import asyncio
import logging
import secrets
import time
from importlib.resources import files

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from apps.core.outage import redis_outage_log
from apps.gateway.router.health import DeploymentKey, Health, Usage

logger = logging.getLogger("hydite.gateway")

COOLDOWNS = "hydite:routing:cooldowns"
PROCESSES = "hydite:routing:processes"
SYNC_INTERVAL_S = 0.25
PROCESS_TTL_MS = 2_000  # a process not seen for this long is gone: its counters no longer count
STALE_COOLDOWN_MS = 86_400_000  # an ended cooldown nobody probed for a day: the deployment is gone


def deployment_field(key: DeploymentKey) -> str:
    """A deployment's field in the cooldowns and load hashes (ids are per schema)."""
    return f"{key[0]}:{key[1]}"


def _key(field: str) -> DeploymentKey | None:
    schema, _, number = field.rpartition(":")
    return (schema, int(number)) if schema and number.isdigit() else None


def _probe_key(key: DeploymentKey, ends: int) -> str:
    return f"hydite:routing:probe:{deployment_field(key)}:{ends}"


def load_key(process: str) -> str:
    return f"hydite:routing:load:{process}"


def _script(name: str) -> str:
    return (files("apps.gateway.router") / "lua" / f"{name}.lua").read_text()


class SharedHealth:
    def __init__(self, redis: aioredis.Redis, health: Health) -> None:
        self.redis, self.health = redis, health
        self.process = secrets.token_hex(8)
        self._failure = redis.register_script(_script("failure"))
        self._recovered = redis.register_script(_script("recovered"))

    async def failure(
        self, key: DeploymentKey, *, threshold: int, window_s: int, cooldown_s: float, force: bool
    ) -> None:
        """Count a failure; cool the deployment down at the threshold (or at once when `force`)."""
        now_ms = int(time.time() * 1000)
        field = deployment_field(key)
        try:
            ends = await self._failure(
                keys=[f"hydite:routing:fails:{field}", COOLDOWNS],
                args=[field, window_s * 1000, threshold, int(cooldown_s * 1000), int(force), now_ms],
            )
        except (RedisError, OSError) as exc:
            redis_outage_log("routing health", exc, "counting this process's failures only")
            self._failure_locally(key, threshold=threshold, window_s=window_s, cooldown_s=cooldown_s, force=force)
            return
        if ends:
            self.health.cool_locally(key, int(ends))

    def _failure_locally(
        self, key: DeploymentKey, *, threshold: int, window_s: int, cooldown_s: float, force: bool
    ) -> None:
        stats = self.health.of(key)
        now = time.monotonic()
        recent = sum(1 for at, _, ok in stats.samples if not ok and now - at <= window_s)
        if force or recent >= threshold:
            self.health.cool_locally(key, int(time.time() * 1000 + cooldown_s * 1000))

    async def recovered(self, key: DeploymentKey) -> None:
        """A deployment whose cooldown had ended answered: traffic returns to it, in every process."""
        probing = self.health.probing.get(key)
        claim = _probe_key(key, probing[0] if probing else self.health.cooling.get(key, 0))
        self.health.recovered(key)
        field = deployment_field(key)
        keys = [COOLDOWNS, claim, f"hydite:routing:fails:{field}"]
        try:
            await self._recovered(keys=keys, args=[field, int(time.time() * 1000)])
        except (RedisError, OSError) as exc:
            redis_outage_log("routing health", exc, "the deployment recovers in this process only")

    async def claim_probe(self, key: DeploymentKey, *, ttl_s: float) -> bool:
        """Whether this request is the one probe of a deployment whose cooldown ended. One per cooldown: the
        claim names the cooldown's end, so the new cooldown a failed probe starts gets a probe of its own."""
        ends = self.health.cooling.get(key, 0)
        mine = self.health.probing.get(key)
        if mine is not None and mine[0] == ends and time.monotonic() - mine[1] < ttl_s:
            return False
        try:
            claimed = await self.redis.set(_probe_key(key, ends), self.process, nx=True, px=int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            redis_outage_log("routing health", exc, "probing from this process only")
            claimed = True
        if claimed:
            self.health.probing[key] = (ends, time.monotonic())
        return bool(claimed)

    async def run(self) -> None:
        while True:
            try:
                await self.sync()
            except (RedisError, OSError) as exc:
                redis_outage_log("routing health", exc, "routing on this process's own view")
            except Exception:
                logger.exception("routing health sync failed")
            await asyncio.sleep(SYNC_INTERVAL_S)

    async def sync(self) -> None:
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        counters = self._counters()
        own = load_key(self.process)
        pipe.delete(own)
        if counters:
            pipe.hset(own, items=[part for pair in counters.items() for part in pair])
            pipe.pexpire(own, PROCESS_TTL_MS)
        pipe.zadd(PROCESSES, {self.process: now_ms})
        pipe.zremrangebyscore(PROCESSES, 0, now_ms - PROCESS_TTL_MS)
        pipe.zrange(PROCESSES, 0, -1)
        pipe.hgetall(COOLDOWNS)
        *_, processes, cooldowns = await pipe.execute()
        self.health.shared_cooling(self._cooldowns(cooldowns, now_ms))
        others = [name.decode() for name in processes if name.decode() != self.process]
        self.health.others = await self._others(others) if others else {}

    def _counters(self) -> dict[str, str]:
        counters = {}
        now = time.monotonic()
        minute = int(time.time()) // 60
        for key, stats in self.health.stats.items():
            if not stats.inflight and stats.minute != minute and not stats.samples:
                continue
            p50, p95 = stats.percentiles(now)
            counters[deployment_field(key)] = " ".join(
                str(value)
                for value in (
                    stats.inflight,
                    stats.minute,
                    stats.minute_requests,
                    stats.minute_tokens,
                    -1 if p50 is None else round(p50 * 1000, 3),
                    -1 if p95 is None else round(p95 * 1000, 3),
                    round(stats.error_rate, 4),
                    len(stats.samples),
                )
            )
        return counters

    def _cooldowns(self, raw: dict[bytes, bytes], now_ms: int) -> dict[DeploymentKey, int]:
        cooling = {}
        for field, value in raw.items():
            key = _key(field.decode())
            ends = int(value) if value.isdigit() else 0
            if key is not None and ends > now_ms - STALE_COOLDOWN_MS:
                cooling[key] = ends
        return cooling

    async def _others(self, processes: list[str]) -> dict[DeploymentKey, Usage]:
        pipe = self.redis.pipeline(transaction=False)
        for process in processes:
            pipe.hgetall(load_key(process))
        summed: dict[DeploymentKey, Usage] = {}
        for counters in await pipe.execute():
            for field, value in counters.items():
                key, parts = _key(field.decode()), value.split()
                if key is None or len(parts) < 4:
                    continue
                usage = summed.setdefault(key, Usage())
                inflight, minute, requests, tokens = (int(part) for part in parts[:4])
                usage.inflight += inflight
                if minute >= usage.minute:
                    if minute > usage.minute:
                        usage.minute, usage.requests, usage.tokens = minute, 0, 0
                    usage.requests += requests
                    usage.tokens += tokens
        return summed
