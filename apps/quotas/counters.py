"""Budget counters agree with the ledger: never below it, and healed when they drift.

A budget counter in Redis (a key's, team's or organisation's budget, or a prepaid organisation's wallet, for
one period) holds what the period's requests cost: the ledger's rows, the spend events on their way to it
(the spend stream), and the reservations of requests still running. Those three are read in the order money
moves through them (reservations, then the stream, then the ledger, each request counted at least once), so
their sum is never below the truth, and equals it once the requests in flight are done:

- `budget_counters_floor` raises counters found below the ledger (the spend consumer and the budget alerts
  compare them as they go: a mismatch is healed the moment it is seen);
- `budget_counters_heal` (a beat task, every minute) sets each counter to that sum: up when it is below
  (safe: a counter too high refuses early, it never lets spend through), down when it is above only if the
  whole stream and every reservation could be read, and only to a sum that also counts the requests dated
  after the counter was read (a gateway's clock may run ahead of the worker's).
"""

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import orjson
import redis
from django.utils import timezone

from apps.core.redis import redis_client
from apps.core.schemas import current_schema
from apps.keys.models import VirtualKey
from apps.orgs.models import BillingMode, Organization, Team
from apps.quotas.limits import budget_period, spent_key
from apps.quotas.reservations import HELD_PREFIX, HELD_SWEPT, HELD_TTL_S
from apps.spend.selectors import spend_micros_since_by_holder
from apps.spend.stream import SPEND_STREAM, spend_stream_events
from apps.wallet.models import Wallet
from apps.wallet.periods import month_bounds

logger = logging.getLogger("hydite.quotas.counters")

CHUNK = 500  # counters per Redis script call
STREAM_READ_MAX = 2_000  # stream entries read; a longer backlog leaves counters above the ledger alone

# KEYS: counters; ARGV: floors. Raises each existing counter below its floor to it; returns the raised ones' indexes.
FLOOR_LUA = """
local raised = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and tonumber(value) < tonumber(ARGV[i]) then
    redis.call('INCRBY', key, tonumber(ARGV[i]) - tonumber(value))
    raised[#raised + 1] = i
  end
end
return raised
"""

# KEYS: counters; ARGV: the reservations' prefix, the newest second, the oldest second, the name of the sweeper's
# mark (apps/quotas/reservations.py). Per counter its value
# (nil: none) and the micro-USD its requests in flight hold, then 1 if every reservation's plan was known.
HELD_LUA = """
local wanted, held, known = {}, {}, 1
for i, key in ipairs(KEYS) do wanted[key], held[i] = i, 0 end
local plans = {}
local function budget_keys(ref)
  if plans[ref] then return plans[ref] end
  local keys, raw = {}, redis.call('GET', ref)
  if raw then
    for key in string.gmatch(string.match(raw, '|(.*)$') or '', '%S+') do keys[#keys + 1] = key end
  else
    known = 0
  end
  plans[ref] = keys
  return keys
end
local from = tonumber(ARGV[3])
local swept = tonumber(redis.call('GET', ARGV[1] .. ARGV[4]))
if swept and swept + 1 > from then from = swept + 1 end
for second = from, tonumber(ARGV[2]) do
  local raw = redis.call('HGETALL', ARGV[1] .. second)
  for n = 2, #raw, 2 do
    local micros, ref = string.match(raw[n], '^%S+ %S+ (%S+) (%S+)')
    for _, key in ipairs(budget_keys(ref)) do
      local i = wanted[key]
      if i then held[i] = held[i] + tonumber(micros) end
    end
  end
end
local result = {}
for i, key in ipairs(KEYS) do result[i] = {redis.call('GET', key) or false, held[i]} end
result[#KEYS + 1] = known
return result
"""

# KEYS: counters; ARGV: deltas. Moves each counter that still exists by its delta.
MOVE_LUA = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[i]) end
end
return #KEYS
"""


@dataclass(frozen=True)
class BudgetCounter:
    key: str  # the Redis counter
    scope: str  # the ledger's: key, team or org (a wallet counts its organisation's spend)
    holder_id: int
    since: dt.datetime  # its period's start


def budget_counters(*, now: dt.datetime | None = None) -> Iterator[BudgetCounter]:
    """The current instance's budget counters of the current periods (whether Redis holds them or not)."""
    schema, now = current_schema(), now or timezone.now()
    for scope, holders in (
        ("key", VirtualKey.objects.all()),
        ("team", Team.objects.all()),
        ("org", Organization.objects.all()),
    ):
        budgeted = holders.filter(max_budget_micros__isnull=False).values_list("pk", "budget_duration")
        for holder_id, duration in budgeted.iterator():
            period, start, _ = budget_period(duration, now)
            yield BudgetCounter(spent_key(schema, scope, holder_id, period), scope, holder_id, start)
    prepaid = Organization.objects.filter(billing_mode=BillingMode.PREPAID).values_list("pk", flat=True)
    starts = dict(Wallet.objects.filter(organization_id__in=prepaid).values_list("organization_id", "period_start"))
    for organization_id in prepaid.iterator():
        start = starts.get(organization_id) or month_bounds(now)[0]
        yield wallet_counter(schema, organization_id, start)


def wallet_counter(schema: str, organization_id: int, period_start: dt.datetime) -> BudgetCounter:
    """A prepaid organisation's wallet counter (its period named as the key snapshot names it)."""
    period = period_start.strftime("%Y%m%d%H%M%S")
    return BudgetCounter(spent_key(schema, "wallet", organization_id, period), "org", organization_id, period_start)


def budget_counters_floor(*, floors: dict[str, int], client: redis.Redis | None = None) -> list[str]:
    """Raise each counter Redis holds that is below its floor (what the ledger holds) to it; the raised ones."""
    if not floors:
        return []
    client = client or redis_client()
    keys = list(floors)
    raised = [keys[int(index) - 1] for index in client.eval(FLOOR_LUA, len(keys), *keys, *floors.values())]
    for key in raised:
        logger.warning("budget counter %s was below the ledger (%d micro-USD): raised to it", key, floors[key])
    return raised


def budget_counters_heal(*, now: dt.datetime | None = None) -> int:
    """Set the current instance's counters to what the ledger, the stream and the requests in flight hold
    (rerun-safe); how many were moved."""
    moved = 0
    counters = budget_counters(now=now)
    while chunk := list(islice(counters, CHUNK)):
        moved += _heal(chunk, redis_client())
    return moved


def _heal(counters: list[BudgetCounter], client: redis.Redis) -> int:
    keys = [counter.key for counter in counters]
    read_at = time.time()
    now_s = int(read_at)
    oldest = now_s - HELD_TTL_S
    *read, held_known = client.eval(HELD_LUA, len(keys), *keys, HELD_PREFIX, now_s + 5, oldest, HELD_SWEPT)
    present = [(counter, int(value), int(held)) for counter, (value, held) in zip(counters, read, strict=True) if value]
    if not present:
        return 0
    in_stream, stream_read = _stream_spend(client, current_schema())
    before_ms = int(read_at * 1000)
    until = dt.datetime.fromtimestamp(read_at, tz=dt.UTC)
    ledger = _ledger_spend([counter for counter, _, _ in present], until=until)
    moves, above = {}, []
    for counter, value, held in present:
        target = ledger[counter.key] + _streamed_since(in_stream, counter, before_ms=before_ms) + held
        if target > value:
            moves[counter.key] = target - value
        elif target < value and stream_read and held_known:
            above.append((counter, value, held))
    # Lowered only to what holds every request, however late a gateway's clock dated it: never below the truth.
    ledger = _ledger_spend([counter for counter, _, _ in above], until=None)
    for counter, value, held in above:
        target = ledger[counter.key] + _streamed_since(in_stream, counter) + held
        if target < value:
            moves[counter.key] = target - value
    for key, delta in moves.items():
        logger.warning("budget counter %s was %+d micro-USD off the ledger: healed", key, -delta)
    if moves:
        client.eval(MOVE_LUA, len(moves), *moves, *moves.values())
    return len(moves)


@dataclass(frozen=True)
class _Streamed:
    """A spend event still in the stream: whose it is, when it was made, what it cost."""

    schema: str
    created_at_ms: int
    cost_micros: int
    holders: tuple[tuple[str, int], ...]  # (scope, id) of its key, team and organisation


def _streamed_since(
    in_stream: defaultdict[tuple[str, int], list[tuple[int, int]]],
    counter: BudgetCounter,
    *,
    before_ms: int | None = None,
) -> int:
    """What the stream holds for a counter's period (made before `before_ms`, when given)."""
    since_ms = int(counter.since.timestamp() * 1000)
    return sum(
        micros
        for at_ms, micros in in_stream[(counter.scope, counter.holder_id)]
        if at_ms >= since_ms and (before_ms is None or at_ms < before_ms)
    )


def _stream_spend(client: redis.Redis, schema: str) -> tuple[defaultdict[tuple[str, int], list[tuple[int, int]]], bool]:
    """(when, cost) of the spend events still in the stream, per holder of this instance; and whether the
    whole stream was read."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(SPEND_STREAM, count=STREAM_READ_MAX + 1)  # type: ignore[assignment]
    found: defaultdict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for _, fields in entries[:STREAM_READ_MAX]:
        for payload in spend_stream_events(fields):
            event = _streamed(payload)
            if event is None or event.schema != schema:
                continue
            for holder in event.holders:
                found[holder].append((event.created_at_ms, event.cost_micros))
    return found, len(entries) <= STREAM_READ_MAX


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _streamed(payload: bytes) -> _Streamed | None:
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    created, cost = _integer(event.get("created_at_ms")), _integer(event.get("cost_micros"))
    if created is None or cost is None:
        return None
    holders = tuple(
        (scope, holder_id)
        for scope, column in (("key", "key_id"), ("team", "team_id"), ("org", "organization_id"))
        if (holder_id := _integer(event.get(column))) is not None
    )
    return _Streamed(str(event.get("schema")), created, cost, holders)


def _ledger_spend(counters: Iterable[BudgetCounter], *, until: dt.datetime | None) -> dict[str, int]:
    """What the ledger holds for each counter's holder since its period began, by counter."""
    rounds: list[dict[tuple[str, int], BudgetCounter]] = []
    for counter in counters:  # an organisation's budget and its wallet may start apart: not in one query
        free = next((batch for batch in rounds if (counter.scope, counter.holder_id) not in batch), None)
        if free is None:
            free = {}
            rounds.append(free)
        free[(counter.scope, counter.holder_id)] = counter
    spent = {}
    for batch in rounds:
        for scope in {scope for scope, _ in batch}:
            of_scope = [counter for (each, _), counter in batch.items() if each == scope]
            since_by_id = {counter.holder_id: counter.since for counter in of_scope}
            totals = spend_micros_since_by_holder(
                schema=current_schema(), scope=scope, since_by_id=since_by_id, until=until
            )
            spent.update({counter.key: totals[counter.holder_id] for counter in of_scope})
    return spent
