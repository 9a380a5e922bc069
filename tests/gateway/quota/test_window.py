"""The quota script on real Redis, with a controlled clock: sliding windows and reservations."""

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from apps.core.redis import tenant_key
from apps.gateway.app import Gateway
from apps.gateway.errors import RateLimitExceeded
from apps.gateway.quota import RESERVATION_TTL_S, Layer, Quotas, Settlement, quota_plan
from apps.gateway.redis_wire import RedisWire
from apps.gateway.spend_events import BATCH, SpendEmitter
from apps.quotas.reservations import HELD_PREFIX, HELD_SWEPT, held_key
from apps.quotas.windows import window_totals

T0 = 1_900_000_000_000  # ms; a minute boundary falls at T0 + 20 s (1_900_000_020_000 = 31,666,667 min)


def _run(scenario):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        wire = RedisWire(settings.REDIS_URL)
        name = uuid.uuid4().hex
        keys = [tenant_key("edge", "quota", "test", name, part) for part in ("rate", "spent")]
        await client.delete(f"{HELD_PREFIX}{HELD_SWEPT}")  # where an earlier test's controlled clock left the sweeper
        try:
            return await scenario(Quotas(wire), keys, client)
        finally:
            await client.delete(*keys)
            await client.aclose()
            await wire.close()

    return asyncio.run(main())


async def _admitted(quotas: Quotas, layer: Layer, at_ms: int, *, tokens: int = 1) -> bool:
    try:
        plan = quota_plan([layer])
        await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=tokens, micros=0, now_ms=at_ms)
    except RateLimitExceeded:
        return False
    return True


def test_a_full_window_stays_full_across_a_minute_boundary():
    async def scenario(quotas, keys, _client):  # type: ignore[no-untyped-def]
        layer = Layer("key", keys[0], "", rpm=10)
        burst = [await _admitted(quotas, layer, T0 + 19_500) for _ in range(10)]  # just before the boundary
        after_boundary = await _admitted(quotas, layer, T0 + 20_500)  # a fixed minute bucket would allow 10 more
        just_before_expiry = await _admitted(quotas, layer, T0 + 78_900)
        once_expired = [await _admitted(quotas, layer, T0 + 79_100) for _ in range(11)]
        return burst, after_boundary, just_before_expiry, once_expired

    burst, after_boundary, just_before_expiry, once_expired = _run(scenario)
    assert burst == [True] * 10
    assert after_boundary is False and just_before_expiry is False
    assert once_expired == [True] * 10 + [False]


def test_tokens_slide_out_second_by_second():
    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        layer = Layer("key", keys[0], "", tpm=100)
        results = [await _admitted(quotas, layer, T0 + second * 1000, tokens=30) for second in range(3)]
        results.append(await _admitted(quotas, layer, T0 + 3000, tokens=30))  # 120 > 100
        results.append(await _admitted(quotas, layer, T0 + 60_100, tokens=30))  # second 0 left the window
        return results, window_totals(await client.get(keys[0]), now_s=(T0 + 60_100) // 1000)[1]

    results, total = _run(scenario)
    assert results == [True, True, True, False, True]
    assert total == 90  # seconds 1, 2 and 60


@pytest.mark.parametrize("settled", [True, False])
def test_reservations_settle_or_expire(settled):
    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        await client.set(keys[1], 0)
        layer = Layer("key", keys[0], keys[1], tpm=10_000, budget=1_000)
        plan = quota_plan([layer])
        admission = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
        if settled:
            await quotas.settle(admission, tokens=120, micros=90)
        else:  # a crashed process: past the reservation's lifetime the sweeper gives it back
            await quotas.sweep(now_ms=admission.second * 1000 + (RESERVATION_TTL_S + 1) * 1000)
            await quotas.settle(admission, tokens=120, micros=90)  # too late: nothing left to settle
        return int(await client.get(keys[1])), window_totals(await client.get(keys[0]), now_s=admission.second)[1]

    assert _run(scenario) == ((90, 120) if settled else (0, 0))


def test_scripts_redis_forgot_are_loaded_again():
    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        layer = Layer("key", keys[0], "", rpm=5)
        first = await _admitted(quotas, layer, T0)
        await client.script_flush()  # as after a Redis restart
        second = await _admitted(quotas, layer, T0 + 1)
        return first, second, window_totals(await client.get(keys[0]), now_s=T0 // 1000)[0]

    assert _run(scenario) == (True, True, 2)


def _count_admitted(outcomes: list[object]) -> int:
    return sum(1 for outcome in outcomes if not isinstance(outcome, RateLimitExceeded))


def test_far_from_its_limits_a_request_does_not_wait_for_redis_and_is_still_counted():
    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        plan = quota_plan([Layer("key", keys[0], "", rpm=1000)])
        await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=1, micros=0)  # learns
        ahead = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=1, micros=0)
        not_sent_yet = quotas.unsent_requests
        await asyncio.sleep(0.05)
        requests, _ = window_totals(await client.get(keys[0]), now_s=ahead.second)
        return not_sent_yet, ahead.held, requests, quotas.overruns

    assert _run(scenario) == (1, True, 2, 0)


def test_an_admission_ahead_of_redis_is_charged_what_it_reserved_then_its_real_usage():
    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        await client.set(keys[1], 0)
        plan = quota_plan([Layer("key", keys[0], keys[1], rpm=10_000, tpm=10**9, budget=10**12)])
        waited = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=10, micros=20)
        await quotas.settle(waited, tokens=10, micros=20)  # nothing was known: it waited, and has a held record
        ahead = [
            await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
            for _ in range(3)
        ]
        await asyncio.sleep(0.05)  # charged: what they reserved
        reserved = int(await client.get(keys[1])), window_totals(await client.get(keys[0]), now_s=ahead[0].second)
        for admission, (tokens, micros) in zip(ahead, [(120, 90), (600, 900), (0, 0)], strict=True):
            await quotas.settle(admission, tokens=tokens, micros=micros)
        settled = int(await client.get(keys[1])), window_totals(await client.get(keys[0]), now_s=ahead[0].second)
        return [a.plan is not None for a in [waited, *ahead]], reserved, settled, quotas.overruns

    ahead, reserved, settled, overruns = _run(scenario)
    assert ahead == [False, True, True, True]
    assert reserved == (20 + 3 * 700, (4, 10 + 3 * 500))
    assert settled == (20 + 90 + 900, (4, 10 + 120 + 600))
    assert overruns == 0


async def _outstanding(client, quotas, second):  # type: ignore[no-untyped-def]
    """This process's charged and not yet corrected reservations of `second`."""
    fields = await client.hgetall(held_key(second))
    return [value for name, value in fields.items() if name.startswith(quotas.process_id.encode())]


def test_charges_ahead_of_redis_a_dead_process_never_corrected_are_given_back_by_the_sweeper():
    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        await client.set(keys[1], 0)
        plan = quota_plan([Layer("key", keys[0], keys[1], tpm=10**9, budget=10**12)])
        await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=10, micros=20)  # learns
        ahead = [
            await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
            for _ in range(2)
        ]
        await quotas.settle(ahead[0], tokens=100, micros=100)  # one ends; the other's process "dies"
        second = ahead[1].second
        outstanding = [value.split()[1:3] + value.split()[4:] for value in await _outstanding(client, quotas, second)]
        await quotas.sweep(now_ms=second * 1000 + (RESERVATION_TTL_S + 1) * 1000)
        swept = int(await client.get(keys[1])), window_totals(await client.get(keys[0]), now_s=second)[1]
        await quotas.settle(ahead[1], tokens=300, micros=300)  # too late: its reservation was given back
        late = int(await client.get(keys[1])), await _outstanding(client, quotas, second)
        return [a.plan is not None for a in ahead], outstanding, swept, late

    ahead, outstanding, swept, late = _run(scenario)
    assert ahead == [True, True]
    assert outstanding == [[b"500", b"700", b"1"]]  # the second request's reservation only
    assert swept == (100, 100)  # the admission that waited (10 tokens, 20 micros) was swept as well
    assert late == (100, [])


def test_a_request_that_ends_in_the_turn_it_was_admitted_is_charged_then_corrected():
    """Its correction merges with an earlier request's, gathering; the prepaid charge must still reach Redis first."""

    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        await client.set(keys[1], 0)
        plan = quota_plan([Layer("key", keys[0], keys[1], tpm=10**9, budget=10**12)])
        waited = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=10, micros=20)
        for _ in range(20):  # until both admissions fall in one second
            first = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
            await asyncio.sleep(0.01)  # charged
            quotas.correct(quotas.settlement(first, tokens=100, micros=100))  # its correction gathers
            second = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
            quotas.correct(quotas.settlement(second, tokens=50, micros=60))  # at once: no await since its admission
            await quotas.close()
            if first.second == second.second:
                break
        budget_after = int(await client.get(keys[1]))
        spent = budget_after - waited.micros
        return spent % 160, await _outstanding(client, quotas, second.second), first.second == second.second

    leftover, outstanding, same_second = _run(scenario)
    assert same_second
    assert leftover == 0  # every round charged exactly 100 + 60 micros: nothing reserved is left behind
    assert outstanding == []


def test_near_a_limit_every_request_waits_and_the_limit_stays_exact():
    async def scenario(quotas, keys, _client):  # type: ignore[no-untyped-def]
        plan = quota_plan([Layer("key", keys[0], "", rpm=300)])

        async def one() -> object:
            try:
                return await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=1, micros=0)
            except RateLimitExceeded as refused:
                return refused

        outcomes = [await one() for _ in range(20)]  # one by one: many of these go ahead of Redis
        outcomes += await asyncio.gather(*(one() for _ in range(400)))  # a burst: the rest waits near the limit
        return _count_admitted(outcomes), quotas.overruns

    assert _run(scenario) == (300, 0)


def test_two_processes_far_from_a_limit_together_never_pass_it():
    async def scenario(quotas, keys, _client):  # type: ignore[no-untyped-def]
        other = Quotas(RedisWire(settings.REDIS_URL))
        plan = quota_plan([Layer("key", keys[0], "", rpm=2000)])

        async def burst(gateway: Quotas, count: int) -> list[object]:
            async def one() -> object:
                try:
                    return await gateway.admit(
                        {"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=1, micros=0
                    )
                except RateLimitExceeded as refused:
                    return refused

            results = [await one() for _ in range(5)]  # both learn the layer, then grab at once
            for _ in range(30):
                results += await asyncio.gather(*(one() for _ in range(count // 30)))
            return results

        try:
            first, second = await asyncio.gather(burst(quotas, 1500), burst(other, 1500))
        finally:
            await other.wire.close()
        return _count_admitted(first) + _count_admitted(second), quotas.overruns + other.overruns

    assert _run(scenario) == (2000, 0)


def test_corrections_of_the_last_requests_reach_redis_when_the_gateway_shuts_down():
    """The last batch of spend events hands its corrections to the quotas: a shutdown must still send them."""

    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        await client.set(keys[1], 0)
        gateway = Gateway()
        gateway.quotas, gateway.wire = quotas, quotas.wire
        gateway.spend = SpendEmitter(quotas.wire, after_write=quotas.correct)
        gateway.spend.start()
        plan = quota_plan([Layer("key", keys[0], keys[1], tpm=10**9, budget=10**12)])
        waited = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=10, micros=20)
        await quotas.settle(waited, tokens=0, micros=0)  # learnt: the next one is admitted ahead of Redis
        ahead = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
        await asyncio.sleep(0.05)  # charged what it reserved
        gateway.spend.emit_settlement(quotas.settlement(ahead, tokens=100, micros=90))  # as metering does
        await gateway.shutdown()
        unsent = quotas.unsent_charges  # what a process that exits now would never send
        return (
            ahead.plan is not None,
            unsent,
            int(await client.get(keys[1])),
            await _outstanding(client, quotas, ahead.second),
        )

    admitted_ahead, unsent, spent, outstanding = _run(scenario)
    assert admitted_ahead
    assert unsent == 0
    assert (spent, outstanding) == (90, [])  # not the 700 reserved, and nothing left for the sweeper to give back


def test_a_batch_holding_only_corrections_does_not_stall_the_redis_connection():
    """A request's event can end one batch of the spend emitter and its correction start the next, alone."""

    async def scenario(quotas, keys, client):  # type: ignore[no-untyped-def]
        await client.set(keys[1], 0)
        emitter = SpendEmitter(quotas.wire, after_write=quotas.correct)
        plan = quota_plan([Layer("key", keys[0], keys[1], tpm=10**9, budget=10**12)])
        waited = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=10, micros=20)
        await quotas.settle(waited, tokens=0, micros=0)  # learnt: the next one is admitted ahead of Redis
        ahead = await quotas.admit({"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=500, micros=700)
        for _ in range(BATCH):  # a full batch: settlements of requests long gone (no-ops)
            emitter.emit_settlement(Settlement(uuid.uuid4().hex, 0, 0, 0))
        emitter.emit_settlement(quotas.settlement(ahead, tokens=100, micros=90))  # the next batch: itself alone
        emitter.start()
        await asyncio.sleep(0.2)
        started = time.monotonic()
        now_ms = int(time.time() * 1000)  # a request that waits for Redis's answer, on the same connection
        other = await quotas.admit(
            {"schema": "edge"}, plan, request_id=uuid.uuid4().hex, tokens=1, micros=1, now_ms=now_ms
        )
        waited_s = time.monotonic() - started
        await emitter.close()
        await quotas.close()
        return len(emitter.buffer), waited_s, quotas.charges_lost, int(await client.get(keys[1])) - other.micros

    left, waited_s, charges_lost, spent = _run(scenario)
    assert (left, charges_lost) == (0, 0)
    assert waited_s < 0.5  # the connection the admissions share did not hang
    assert spent == 90
