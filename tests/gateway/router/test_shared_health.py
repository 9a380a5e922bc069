"""Cooldowns and load shared between gateway processes through real Redis (two SharedHealth: two processes)."""

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from apps.gateway.router.health import Health
from apps.gateway.router.shared import COOLDOWNS, SharedHealth


@pytest.fixture
def schema() -> str:
    return f"test_{uuid.uuid4().hex[:10]}"  # keys of its own: tests do not see each other's deployments


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


async def _processes(count: int) -> list[SharedHealth]:
    return [SharedHealth(aioredis.Redis.from_url(settings.REDIS_URL), Health()) for _ in range(count)]


def test_three_failures_in_the_window_cool_a_deployment_down_in_every_process(schema):
    async def run() -> tuple[bool, bool, int]:
        one, two = await _processes(2)
        key = (schema, 7)
        for _ in range(2):
            await one.failure(key, threshold=3, window_s=60, cooldown_s=30, force=False)
        before = key in one.health.cooling
        await two.failure(key, threshold=3, window_s=60, cooldown_s=30, force=False)  # the third, elsewhere
        await one.sync()
        ends = one.health.cooling.get(key, 0)
        await one.redis.aclose()
        await two.redis.aclose()
        return before, key in two.health.cooling, ends

    before, cooled_where_counted, ends = _run(run())
    assert not before and cooled_where_counted
    assert 28_000 < ends - time.time() * 1000 <= 30_000


def test_a_forced_failure_cools_at_once_and_an_ended_cooldown_lets_one_probe_through(schema):
    async def run() -> tuple[bool, bool, bool, bool]:
        one, two = await _processes(2)
        key = (schema, 8)
        await one.failure(key, threshold=3, window_s=60, cooldown_s=0.05, force=True)  # a 429
        await asyncio.sleep(0.1)
        await two.sync()
        ended = two.health.cooling[key] <= time.time() * 1000
        first = await two.claim_probe(key, ttl_s=5)
        second = await one.claim_probe(key, ttl_s=5)
        await two.recovered(key)
        await one.sync()
        recovered_everywhere = key not in one.health.cooling and not await one.redis.hexists(COOLDOWNS, f"{schema}:8")
        await one.redis.aclose()
        await two.redis.aclose()
        return ended, first, second, recovered_everywhere

    ended, first, second, recovered = _run(run())
    assert ended and first and not second and recovered


def test_a_cooldown_survives_a_process_restart(schema):
    async def run() -> bool:
        (one,) = await _processes(1)
        await one.failure((schema, 9), threshold=1, window_s=60, cooldown_s=30, force=False)
        await one.redis.aclose()
        (restarted,) = await _processes(1)
        await restarted.sync()
        await restarted.redis.aclose()
        return (schema, 9) in restarted.health.cooling

    assert _run(run())


def test_in_flight_requests_and_minute_usage_are_summed_across_processes(schema):
    async def run() -> tuple[int, tuple[int, int]]:
        one, two = await _processes(2)
        key = (schema, 10)
        for _ in range(4):
            one.health.started(key)
        one.health.done(key, tokens=120)
        await one.sync()
        await two.sync()
        result = two.health.inflight(key), two.health.minute_usage(key)
        await one.redis.aclose()
        await two.redis.aclose()
        return result

    inflight, (requests, tokens) = _run(run())
    assert inflight == 3 and requests == 4 and tokens == 120


def test_without_redis_a_process_counts_its_own_failures(schema):
    async def run() -> bool:
        unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        alone = SharedHealth(unreachable, Health())
        key = (schema, 11)
        for _ in range(3):
            alone.health.answered(key, seconds=0.0, ok=False)
            await alone.failure(key, threshold=3, window_s=60, cooldown_s=30, force=False)
        probe = await alone.claim_probe(key, ttl_s=5)
        return key in alone.health.cooling and probe

    assert _run(run())


def test_a_failed_probe_s_new_cooldown_gets_one_probe_of_its_own_across_processes(schema):
    async def run() -> list[bool]:
        one, two = await _processes(2)
        key = (schema, 12)
        await one.failure(key, threshold=1, window_s=60, cooldown_s=0.05, force=True)
        await asyncio.sleep(0.1)
        await one.sync()
        await two.sync()
        claims = [await one.claim_probe(key, ttl_s=5), await two.claim_probe(key, ttl_s=5)]
        await one.failure(key, threshold=1, window_s=60, cooldown_s=0.05, force=True)  # the probe failed
        claims.append(await two.claim_probe(key, ttl_s=5))  # `two` has not seen the new cooldown yet
        await asyncio.sleep(0.1)  # the new cooldown ended
        await one.sync()
        await two.sync()
        claims += [await two.claim_probe(key, ttl_s=5), await one.claim_probe(key, ttl_s=5)]
        await one.redis.aclose()
        await two.redis.aclose()
        return claims

    assert _run(run()) == [True, False, False, True, False]
