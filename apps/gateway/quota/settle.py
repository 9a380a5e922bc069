"""Settling reservations to the real usage, and sweeping those a process that died left behind."""

import time

from apps.gateway.quota.admission import Settlement
from apps.gateway.quota.scripts import run_scripts, settle_call, settle_reply, sweep_call, sweep_reply
from apps.gateway.redis_wire import RedisWire

RESERVATION_TTL_S = 900  # a reservation older than this belonged to a process that died
SWEEP_CALLS = 20  # a sweep catches up with at most this many calls (after a long outage)


async def settle_now(wire: RedisWire, settlements: list[Settlement]) -> int:
    """Settle these reservations in one call of their own (the gateway sends them with its spend events)."""
    (raw,) = await run_scripts(wire, [settle_call(settlements)])
    return settle_reply(raw)


async def sweep(wire: RedisWire, *, now_ms: int | None = None) -> int:
    """Release reservations older than RESERVATION_TTL_S (their process died); returns how many."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    call = sweep_call(now_ms=now_ms, age_s=RESERVATION_TTL_S)
    released = 0
    for _call in range(SWEEP_CALLS):  # a call covers at most SWEEP_SPAN_S, so that none keeps Redis long
        (raw,) = await run_scripts(wire, [call])
        swept = sweep_reply(raw)
        released += swept.released
        if swept.done:
            break
    return released
