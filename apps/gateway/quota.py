"""Quotas on the hot path: static checks from the key snapshot, then one atomic Redis script.

Layers stack (key, team, org, plan, gateway); a request must pass all of them and the error
names the layer that tripped. Requests and tokens per minute are counted in one-second buckets
over a sliding 60-second window (no 2x burst at a minute boundary). Budgets reserve the request's
worst-case cost before it is forwarded and settle to the real cost afterwards; a reservation that
is never settled (a crashed process) is released by `sweep`. Far from every limit a request does not
wait for Redis (`Headroom`): what it reserves is charged in the same event-loop turn, summed with
the others of its plan and second (one reservation per process, plan and second, swept alike), and
corrected to the real usage when it ends.
"""

import asyncio
import datetime as dt
import fnmatch
import functools
import hashlib
import ipaddress
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from apps.core.client_ip import client_network
from apps.core.errors import HyditeError
from apps.core.redis import global_key
from apps.gateway.asgi_io import Headers
from apps.gateway.errors import (
    BudgetExceeded,
    InsufficientQuota,
    IpNotAllowed,
    KeyExpired,
    ModelNotAllowed,
    QuotaUnavailable,
    RpmLimitExceeded,
    TpmLimitExceeded,
)
from apps.gateway.outage import redis_outage_log
from apps.gateway.redis_wire import Arg, RedisWire, resp_args, resp_command, resp_header
from apps.quotas.limits import (
    TIER_CAPS,
    GatewayDefaults,
    budget_period,
    gateway_defaults_from_snapshot,
    spent_key,
    window_key,
)
from apps.quotas.windows import RING_FIELD, RING_HEAD, WINDOW_S

logger = logging.getLogger("hydite.gateway.quota")

RESERVATION_TTL_S = 900  # a reservation older than this belonged to a process that died
SWEEP_CALLS = 20  # a sweep catches up with at most this many calls of 300 s each (after a long outage)

# A layer's sliding window is one string (a "ring"; its layout and its reader: apps/quotas/windows.py):
# an admission in the newest second reads and writes the header only; once a second, when the ring
# advances, the newest second moves into its slot and the seconds that left the window are
# subtracted, so the totals are never a scan. A ring lives 61 s past its newest second.
RING_LUA = (
    f"local HEAD, SLOT, WIDTH = {RING_HEAD}, {2 * RING_FIELD}, {RING_FIELD}\n"
    + """
local function num(raw, at) return tonumber(string.sub(raw, at + 1, at + WIDTH)) end
local function digits(value) return string.format('%016d', value) end
local function slot(sec) return HEAD + (sec % 60) * SLOT end
local function zero_slots(key, from_sec, count)  -- the slots of `count` seconds from `from_sec`: two ranges at most
  local first = from_sec % 60
  local head_count = math.min(count, 60 - first)
  redis.call('SETRANGE', key, HEAD + first * SLOT, string.rep('0', head_count * SLOT))
  if count > head_count then redis.call('SETRANGE', key, HEAD, string.rep('0', (count - head_count) * SLOT)) end
end
local function head_read(state, head)
  state.newest, state.reqs, state.toks = num(head, 0), num(head, 16), num(head, 32)
  state.first, state.cur_reqs, state.cur_toks = num(head, 48), num(head, 64), num(head, 80)
end
local function head_write(state)
  redis.call('SETRANGE', state.key, 0, digits(state.newest) .. digits(state.reqs) .. digits(state.toks)
    .. digits(state.first) .. digits(state.cur_reqs) .. digits(state.cur_toks))
end
local function ring_read(key, now_s)
  local head = redis.call('GETRANGE', key, 0, HEAD - 1)
  local state = {key = key}
  if head ~= '' then head_read(state, head) end
  if head == '' or now_s - state.newest >= 60 then
    state.newest, state.reqs, state.toks, state.first, state.fresh = now_s, 0, 0, now_s, true
    state.cur_reqs, state.cur_toks = 0, 0
  elseif now_s > state.newest then
    -- the newest second takes its slot; the seconds newest-59 .. now_s-60 leave the window
    local ring = redis.call('GET', key)
    for sec = state.newest - 59, now_s - 60 do
      local at = slot(sec)
      state.reqs, state.toks = state.reqs - num(ring, at), state.toks - num(ring, at + WIDTH)
    end
    zero_slots(key, state.newest - 59, now_s - state.newest)
    redis.call('SETRANGE', key, slot(state.newest), digits(state.cur_reqs) .. digits(state.cur_toks))
    state.newest, state.cur_reqs, state.cur_toks, state.moved = now_s, 0, 0, true
  end
  -- a process whose clock lags counts in its own second while that is still in the window
  state.sec = (now_s > state.newest - 60) and now_s or state.newest
  return state
end
local function ring_add(state, sec, add_reqs, add_toks)  -- R and T are the caller's to move
  if sec == state.newest then
    state.cur_reqs, state.cur_toks = state.cur_reqs + add_reqs, state.cur_toks + add_toks
  else
    local at = slot(sec)
    local current = redis.call('GETRANGE', state.key, at, at + SLOT - 1)
    redis.call('SETRANGE', state.key, at, digits(num(current, 0) + add_reqs) .. digits(num(current, WIDTH) + add_toks))
  end
end
local function ring_write(state, add_reqs, add_toks)
  if state.fresh then
    redis.call('SET', state.key, string.rep('0', HEAD + 60 * SLOT), 'PX', 61000)
  elseif state.moved then
    redis.call('PEXPIRE', state.key, 61000)  -- 61 s past its newest second
  end
  ring_add(state, state.sec, add_reqs, add_toks)
  head_write(state)
end
"""
)


# What the admission and charge scripts share: the time (ARGV[1], ms); the plans in ARGV from index
# `count_at` (plan count, then per plan its first key's index, the key of its record, the record to
# write ("" when written recently), its layer count and per layer rpm, tpm, budget (-1: none)); and
# budget counters, read once per call.
PLANS_LUA = (
    RING_LUA
    + """
local now_ms = tonumber(ARGV[1])
local now_s = math.floor(now_ms / 1000)
local rates = {}  -- ring states by key, read once per call
local function plans_read(count_at)
  local plans, at = {}, count_at + 1
  for p = 1, tonumber(ARGV[count_at]) do
    local plan = {first = tonumber(ARGV[at]), ref = ARGV[at + 1], layers = {}, over = 0}
    if ARGV[at + 2] ~= '' then redis.call('SET', plan.ref, ARGV[at + 2], 'EX', 3600) end
    for i = 1, tonumber(ARGV[at + 3]) do
      local base = at + 4 + 3 * (i - 1)
      plan.layers[i] = {tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])}
    end
    plans[p] = plan
    at = at + 4 + 3 * #plan.layers
  end
  return plans, at
end
local budgets = {}
local function budget_state(key)  -- nil: not loaded, or its period ended (the ledger counts it)
  local state = budgets[key]
  if state then return state end
  local spent = redis.call('GET', key)
  if not spent then return nil end
  state = {spent = tonumber(spent), add = 0}
  budgets[key] = state
  return state
end
"""
)


# One call admits a batch of requests (those of one event-loop turn), reading and writing each
# layer key once however many of the batch's requests share it: Redis time is per key, not per request.
# KEYS: per plan its layers' (rate ring, budget counter) pairs.
# ARGV: now_ms, the reservations' key prefix, the plans (PLANS_LUA; a plan's record: QuotaPlan.record_key),
#       then request count and per request:
#       plan number, request_id, requests (1, or 0 for a stream's extension), tokens, micros.
# Reservations of second s are the hash <prefix><s>: request id -> "ring-second tokens micros
# plan-record-key"; the plan record ("rate keys|budget keys") lives an hour past its last write.
# Returns per request {1, req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms, second,
#         then per layer the requests, tokens and micro-USD it has used with this request (-1: not counted)}
#      or {0, layer_index, dimension, limit, reset_ms} or {-1, layer_index} (budget counter needs loading).
ADMIT_LUA = (
    PLANS_LUA
    + """
local function rate_state(key)
  local state = rates[key]
  if not state then
    state = ring_read(key, now_s)
    state.add_reqs, state.add_toks = 0, 0
    rates[key] = state
  end
  return state
end
local function reset_ms(state)
  return (math.max(state.first, now_s - 59) + 60) * 1000 - now_ms
end
local plans, at = plans_read(3)
local results, records = {}, {}
for n = 1, tonumber(ARGV[at]) do
  local base = at + 1 + 5 * (n - 1)
  local plan, request_id = plans[tonumber(ARGV[base])], ARGV[base + 1]
  local reqs, tokens, micros = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local refusal = nil
  for i, limits in ipairs(plan.layers) do
    local rpm, tpm, budget = limits[1], limits[2], limits[3]
    if rpm >= 0 or tpm >= 0 then
      local state = rate_state(KEYS[plan.first + 2 * i - 2])
      if rpm >= 0 and reqs > 0 and state.reqs + reqs > rpm then refusal = {0, i, 'rpm', rpm, reset_ms(state)} break end
      if tpm >= 0 and state.toks + tokens > tpm then refusal = {0, i, 'tpm', tpm, reset_ms(state)} break end
    end
    if budget >= 0 then
      local state = budget_state(KEYS[plan.first + 2 * i - 1])
      if not state then refusal = {-1, i} break end
      if state.spent + state.add + micros > budget then refusal = {0, i, 'budget', budget, 0} break end
    end
  end
  if refusal then
    results[n] = refusal
  else
    local best, second, holds = {-1, -1, 60000, -1, -1, 60000}, now_s, false
    local used = {}
    for i, limits in ipairs(plan.layers) do
      local rpm, tpm, budget = limits[1], limits[2], limits[3]
      if rpm >= 0 or tpm >= 0 then
        local state = rates[KEYS[plan.first + 2 * i - 2]]
        if rpm >= 0 and (best[1] < 0 or rpm - state.reqs - reqs < best[2]) then
          best[1], best[2], best[3] = rpm, rpm - state.reqs - reqs, reset_ms(state)
        end
        if tpm >= 0 and (best[4] < 0 or tpm - state.toks - tokens < best[5]) then
          best[4], best[5], best[6] = tpm, tpm - state.toks - tokens, reset_ms(state)
        end
        state.reqs, state.toks = state.reqs + reqs, state.toks + tokens
        state.add_reqs, state.add_toks = state.add_reqs + reqs, state.add_toks + tokens
        second, holds = state.sec, true
        used[#used + 1], used[#used + 2] = state.reqs, state.toks
      else
        used[#used + 1], used[#used + 2] = -1, -1
      end
      if budget >= 0 then
        local state = budgets[KEYS[plan.first + 2 * i - 1]]
        state.add, holds = state.add + micros, true
        used[#used + 1] = state.spent + state.add
      else
        used[#used + 1] = -1
      end
    end
    if holds then
      records[#records + 1] = request_id
      records[#records + 1] = second .. ' ' .. tokens .. ' ' .. micros .. ' ' .. plan.ref
    end
    local reply = {1, best[1], best[2], best[3], best[4], best[5], best[6], now_s}
    for j = 1, #used do reply[8 + j] = used[j] end
    results[n] = reply
  end
end
for _, state in pairs(rates) do
  if state.add_reqs > 0 or state.add_toks ~= 0 then
    ring_write(state, state.add_reqs, state.add_toks)
  elseif state.moved then
    head_write(state)
    redis.call('PEXPIRE', state.key, 61000)
  end
end
for key, state in pairs(budgets) do
  if state.add ~= 0 then redis.call('INCRBY', key, state.add) end
end
if #records > 0 then
  local held = ARGV[2] .. now_s
  redis.call('HSET', held, unpack(records))
  redis.call('EXPIRE', held, 4500, 'NX')  -- the sweeper's work, should every process be down that long
end
return results
"""
)

# Applies summed token corrections to rings and micro-USD corrections to budget counters; shared by
# settling and sweeping. A ring second that left the window stays out; a counter whose period ended
# stays gone.
CORRECT_LUA = (
    RING_LUA
    + """
local function held_keys(ref)
  local raw = redis.call('GET', ref)
  if not raw then return {}, {} end
  local rate_part, budget_part = string.match(raw, '^([^|]*)|(.*)$')
  local rate_keys, budget_keys = {}, {}
  for key in string.gmatch(rate_part, '%S+') do rate_keys[#rate_keys + 1] = key end
  for key in string.gmatch(budget_part, '%S+') do budget_keys[#budget_keys + 1] = key end
  return rate_keys, budget_keys
end
local tokens, micros, plan_keys = {}, {}, {}
local function correct(record, dt, dm)
  local sec, held_t, held_m, ref = string.match(record, '^(%S+) (%S+) (%S+) (%S+)')  -- a charge's: + count
  dt, dm = dt - tonumber(held_t), dm - tonumber(held_m)
  if not plan_keys[ref] then plan_keys[ref] = {held_keys(ref)} end
  local rate_keys, budget_keys = plan_keys[ref][1], plan_keys[ref][2]
  if dt ~= 0 then
    for _, key in ipairs(rate_keys) do
      tokens[key] = tokens[key] or {}
      tokens[key][sec] = (tokens[key][sec] or 0) + dt
    end
  end
  if dm ~= 0 then
    for _, key in ipairs(budget_keys) do micros[key] = (micros[key] or 0) + dm end
  end
end
local function apply()
  for key, seconds in pairs(tokens) do
    local head = redis.call('GETRANGE', key, 0, HEAD - 1)
    if head ~= '' then
      local state = {key = key}
      head_read(state, head)
      local changed = false
      for sec, delta in pairs(seconds) do
        sec = tonumber(sec)
        if delta ~= 0 and sec <= state.newest and sec > state.newest - 60 then
          ring_add(state, sec, 0, delta)
          state.toks, changed = state.toks + delta, true
        end
      end
      if changed then head_write(state) end
    end
  end
  for key, delta in pairs(micros) do
    if delta ~= 0 and redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, delta) end
  end
end
"""
)

# ARGV: the reservations' key prefix, then per request its admission second, request_id, real tokens,
# real micros. Moves each reservation still held to the request's real usage, once: a swept one was
# already given back, a settled one is gone. The corrections of a batch are summed per key first.
SETTLE_LUA = (
    CORRECT_LUA
    + """
local by_second = {}
for n = 1, (#ARGV - 1) / 4 do
  local base = 2 + 4 * (n - 1)
  local second = ARGV[base]
  by_second[second] = by_second[second] or {}
  table.insert(by_second[second], {ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])})
end
local settled = 0
for second, items in pairs(by_second) do
  local held, ids = ARGV[1] .. second, {}
  for n, item in ipairs(items) do ids[n] = item[1] end
  local raw = redis.call('HMGET', held, unpack(ids))
  local found = {}
  for n, item in ipairs(items) do
    if raw[n] then  -- usage is never below zero, whatever a caller sends
      correct(raw[n], math.max(0, item[2]), math.max(0, item[3]))
      found[#found + 1] = item[1]
    end
  end
  if #found > 0 then redis.call('HDEL', held, unpack(found)) end
  settled = settled + #found
end
apply()
return settled
"""
)

# ARGV: the reservations' key prefix, now_ms, the age in seconds past which a reservation belongs to a
# process that died. Releases them (as a settlement to zero usage), at most 300 seconds' worth a call,
# remembering in <prefix>swept the last second done. Returns {released, 1 when done up to now, else 0}.
SWEEP_LUA = (
    CORRECT_LUA
    + """
local now_s, age = math.floor(tonumber(ARGV[2]) / 1000), tonumber(ARGV[3])
local upto = now_s - age
local last = tonumber(redis.call('GET', ARGV[1] .. 'swept'))
if not last or last > upto + 3600 then last = upto - 600 end  -- first sweep, or a clock that went back
local stop = math.min(upto, last + 300)
local released = 0
for second = last + 1, stop do
  local held = ARGV[1] .. second
  local raw = redis.call('HGETALL', held)
  for n = 2, #raw, 2 do correct(raw[n], 0, 0) end
  if #raw > 0 then redis.call('DEL', held) end
  released = released + #raw / 2
end
if stop > last then redis.call('SET', ARGV[1] .. 'swept', stop) end
apply()
return {released, stop >= upto and 1 or 0}
"""
)


# Charges of requests admitted ahead of Redis (see Headroom), summed per plan and second in the gateway
# so that Redis does a layer's work once per call. A prepaid charge counts what was admitted (requests,
# reserved tokens and cost) in its admission second; a correction later moves the tokens and cost to
# the real usage. What is charged and not yet corrected is one reservation per process, plan and
# second, "second tokens micros plan-record-key count" in the same hash as ADMIT_LUA's, so the
# sweeper gives back what a process that died left; a correction that finds it gone (swept) is void.
# KEYS: as ADMIT_LUA's. ARGV: now_ms, the reservations' key prefix, the process's id, the plans
#       (PLANS_LUA), then charge count and per charge: plan number, second, requests, tokens, micros,
#       and the change of what is outstanding: tokens, micros, count (> 0: prepaid, < 0: a correction).
# Returns per plan {prepaid charges that took a layer past its limit, then per layer the requests,
#         tokens and micro-USD it has used after the call (-1: not counted)}.
CHARGE_LUA = (
    PLANS_LUA
    + """
local function rate_state(key, create)
  local state = rates[key]
  if state then return state end
  state = ring_read(key, now_s)
  if state.fresh then
    if not create then return nil end  -- a correction of a ring that expired: nothing left to correct
    redis.call('SET', key, string.rep('0', HEAD + 60 * SLOT), 'PX', 61000)
  end
  rates[key] = state
  return state
end
local function outstanding(held, field, sec, ref, raw, add_t, add_m, add_count)
  local t, m, count = 0, 0, 0
  if raw then
    local held_t, held_m, held_count = string.match(raw, '^%S+ (%S+) (%S+) %S+ (%S+)$')
    t, m, count = tonumber(held_t), tonumber(held_m), tonumber(held_count)
  end
  t, m, count = t + add_t, m + add_m, count + add_count
  if count <= 0 then
    redis.call('HDEL', held, field)
  else
    redis.call('HSET', held, field, sec .. ' ' .. t .. ' ' .. m .. ' ' .. ref .. ' ' .. count)
    redis.call('EXPIRE', held, 4500, 'NX')  -- as ADMIT_LUA's
  end
end
local plans, at = plans_read(4)
for n = 1, tonumber(ARGV[at]) do
  local base = at + 1 + 8 * (n - 1)
  local plan, sec = plans[tonumber(ARGV[base])], tonumber(ARGV[base + 1])
  local reqs, tokens, micros = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local held_t, held_m, held_count = tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6]), tonumber(ARGV[base + 7])
  local prepaid = held_count > 0
  local held, field = ARGV[2] .. sec, ARGV[3] .. '|' .. plan.ref
  local raw = redis.call('HGET', held, field)
  local layers = {}  -- a correction whose reservation is gone (swept, or never charged) changes nothing
  if prepaid or raw then
    outstanding(held, field, sec, plan.ref, raw, held_t, held_m, held_count)
    layers = plan.layers
  end
  local over = false
  for i, limits in ipairs(layers) do
    local rpm, tpm, budget = limits[1], limits[2], limits[3]
    if rpm >= 0 or tpm >= 0 then
      local state = rate_state(KEYS[plan.first + 2 * i - 2], prepaid)
      if state and sec <= state.newest and sec > state.newest - 60 then
        ring_add(state, sec, reqs, tokens)
        state.reqs, state.toks, state.touched = state.reqs + reqs, state.toks + tokens, true
        over = over or (rpm >= 0 and state.reqs > rpm) or (tpm >= 0 and state.toks > tpm)
      end
    end
    if budget >= 0 then
      local state = budget_state(KEYS[plan.first + 2 * i - 1])
      if state then
        state.add = state.add + micros
        over = over or state.spent + state.add > budget
      end
    end
  end
  if prepaid and over then plan.over = plan.over + 1 end
end
for _, state in pairs(rates) do
  if state.touched or state.moved then head_write(state) end
  if state.moved then redis.call('PEXPIRE', state.key, 61000) end
end
for key, state in pairs(budgets) do
  if state.add ~= 0 then redis.call('INCRBY', key, state.add) end
end
local results = {}
for p, plan in ipairs(plans) do
  local reply = {plan.over}
  for i, limits in ipairs(plan.layers) do
    local rate = (limits[1] >= 0 or limits[2] >= 0) and rates[KEYS[plan.first + 2 * i - 2]]
    local budget = limits[3] >= 0 and budgets[KEYS[plan.first + 2 * i - 1]]
    reply[#reply + 1] = rate and rate.reqs or -1
    reply[#reply + 1] = rate and rate.toks or -1
    reply[#reply + 1] = budget and (budget.spent + budget.add) or -1
  end
  results[p] = reply
end
return results
"""
)


@dataclass(frozen=True)
class LuaScript:
    source: str
    sha: str


def lua_script(source: str) -> LuaScript:
    return LuaScript(source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


ADMIT = lua_script(ADMIT_LUA)
SETTLE = lua_script(SETTLE_LUA)
SWEEP = lua_script(SWEEP_LUA)
CHARGE = lua_script(CHARGE_LUA)


@dataclass(frozen=True)
class Layer:
    name: str  # key, team, org, plan, gateway
    rate_key: str
    budget_key: str
    rpm: int | None = None
    tpm: int | None = None
    budget: int | None = None
    budget_ttl_s: int = -1
    budget_scope: tuple[str, int, str] | None = None  # (scope, id, period start ISO) to load the counter


@dataclass
class Admission:
    """What the script granted; settled once the real usage is known."""

    request_id: str
    tokens: int
    micros: int
    requests: int = 1
    headers: Headers = field(default_factory=list)
    second: int = 0
    held: bool = False  # something is reserved in Redis, to be settled
    plan: "QuotaPlan | None" = None  # set when admitted ahead of Redis: it is charged, then corrected


def _matches(model: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


def _in_networks(ip: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in networks)


LAYER_LABEL = {
    "key": "key",
    "team": "team",
    "org": "organisation",
    "wallet": "wallet",
    "plan": "plan",
    "gateway": "gateway",
}


def access_checks(key: dict[str, Any], *, client_ip: str, now_ms: int) -> None:
    """Expiry and the IP allow lists of every layer: for every route a key can call."""
    expires = key.get("expires_at_ms")
    if expires is not None and now_ms >= expires:
        raise KeyExpired()
    for name, limits in key.get("limits", {}).items():
        if "ips" in limits and not _in_networks(client_ip, limits["ips"]):
            raise IpNotAllowed(f"Requests from {client_ip} are not allowed by the {LAYER_LABEL[name]}'s IP allow list.")


def model_refusal(key: dict[str, Any], model: str) -> ModelNotAllowed | None:
    """Why a layer's model allow or deny list refuses `model`, or None."""
    for name, limits in key.get("limits", {}).items():
        label = LAYER_LABEL[name]
        if "blocked" in limits and _matches(model, limits["blocked"]):
            return ModelNotAllowed(f"The model `{model}` is blocked for this {label}.", param="model")
        if "models" in limits and not _matches(model, limits["models"]):
            return ModelNotAllowed(f"The model `{model}` is not in this {label}'s allowed models.", param="model")
    return None


def layers_for(key: dict[str, Any], *, client_ip: str, defaults: GatewayDefaults, now: dt.datetime) -> list[Layer]:
    """The layers a request of `key` from `client_ip` must pass.

    The gateway layer takes the instance's saved defaults from the snapshot, else `defaults` (the process's
    environment).
    """
    schema = key["schema"]
    ids = {"key": key["id"], "team": key["team_id"], "org": key["organization_id"]}
    layers = []
    for name, limits in key.get("limits", {}).items():
        rpm, tpm, budget = limits.get("rpm"), limits.get("tpm"), limits.get("budget")
        if rpm is None and tpm is None and budget is None:
            continue
        period, start, ttl = budget_period(limits.get("period", "monthly"), now)
        layers.append(
            Layer(
                name=name,
                rate_key=window_key(schema, name, ids[name]),
                budget_key=spent_key(schema, name, ids[name], period),
                rpm=rpm,
                tpm=tpm,
                budget=budget,
                budget_ttl_s=ttl,
                budget_scope=(name, ids[name], start.isoformat()) if budget is not None else None,
            )
        )
    wallet = key.get("wallet")
    if wallet is not None:
        layers.append(_wallet_layer(schema, key["organization_id"], wallet, now))
    # The plan's caps come with the snapshot; a snapshot from before they did names its instance's tier.
    caps = key["plan_caps"] if "plan_caps" in key else TIER_CAPS.get(key.get("tier", "free"))
    tier_rpm, tier_tpm = caps or (None, None)
    if tier_rpm is not None or tier_tpm is not None:
        # The tier caps the whole instance; on the Shared Edge each organisation has its own plan.
        scope = f"org{key['organization_id']}" if key.get("shared_instance") else "instance"
        layers.append(Layer("plan", window_key(schema, "plan", scope), "", rpm=tier_rpm, tpm=tier_tpm))
    if key.get("shared_instance"):
        gateway = gateway_defaults_from_snapshot(key.get("gateway_defaults")) or defaults
        scopes = [
            (f"key{key['id']}", gateway.key_rpm, gateway.key_tpm),
            # an IPv6 client is its /64: counted per address, one machine could take 2**64 windows
            (f"ip{client_network(client_ip) if ':' in client_ip else client_ip}", gateway.ip_rpm, gateway.ip_tpm),
        ]
        for scope, rpm, tpm in scopes:
            if rpm is not None or tpm is not None:
                layers.append(Layer("gateway", window_key(schema, "gateway", scope), "", rpm=rpm, tpm=tpm))
    return layers


def _wallet_layer(schema: str, organization_id: int, wallet: dict[str, Any], now: dt.datetime) -> Layer:
    """A prepaid organisation's wallet: a budget over its metering period, counted like the org's spend.

    The period comes from the snapshot, not the clock: until the platform rolls it (and republishes),
    usage keeps counting against the period the limit was computed for.
    """
    ttl = max(0, (wallet["end_ms"] - int(now.timestamp() * 1000)) // 1000) + 86_400
    return Layer(
        name="wallet",
        rate_key=window_key(schema, "wallet", organization_id),
        budget_key=spent_key(schema, "wallet", organization_id, wallet["period"]),
        budget=wallet["limit"],
        budget_ttl_s=ttl,
        budget_scope=("org", organization_id, wallet["start"]),
    )


@dataclass(frozen=True)
class QuotaPlan:
    """A key's layers, with their part of the admission script's KEYS and ARGV packed once (reused while valid)."""

    layers: list[Layer]
    keys: bytes  # per layer its rate ring and budget counter, as RESP bulk strings
    key_count: int
    limits: bytes  # layer count, then per layer rpm, tpm, budget (-1: none)
    limit_count: int
    record_key: bytes  # where the keys a reservation holds are recorded, for settling and sweeping
    record: bytes  # "rate keys|budget keys"
    # per limit: its Headroom key, dimension (1 requests, 2 tokens, 3 micros), limit, a tenth of it, and the
    # offset of its x-ratelimit values (-1: none)
    checks: tuple[tuple[str, int, int, int, int], ...] = ()
    budgeted: bool = False  # a layer has a budget: what a request reserves must bound what it can cost


def quota_plan(layers: list[Layer]) -> QuotaPlan:
    keys = [name for layer in layers for name in (layer.rate_key, layer.budget_key or layer.rate_key + ":b")]
    limits = [len(layers)]
    for layer in layers:
        limits += [_or_none(layer.rpm), _or_none(layer.tpm), _or_none(layer.budget)]
    rate_keys = " ".join(layer.rate_key for layer in layers if _rated(layer))
    budget_keys = " ".join(layer.budget_key for layer in layers if layer.budget is not None)
    record = f"{rate_keys}|{budget_keys}".encode()
    return QuotaPlan(
        layers=layers,
        keys=resp_args(keys),
        key_count=len(keys),
        limits=resp_args(limits),
        limit_count=len(limits),
        record_key=global_key("quota", "plan", hashlib.sha256(record).hexdigest()[:24]).encode(),
        record=record,
        checks=tuple(_headroom_checks(layers)),
        budgeted=any(layer.budget is not None for layer in layers),
    )


def _headroom_checks(layers: list[Layer]) -> Iterator[tuple[str, int, int, int, int]]:
    for layer in layers:
        for key, dimension, limit, offset in (
            (layer.rate_key, 1, layer.rpm, 0),
            (layer.rate_key, 2, layer.tpm, 3),
            (layer.budget_key, 3, layer.budget, -1),
        ):
            if limit is not None:
                yield key, dimension, limit, limit // HEADROOM_SHARE, offset


MAX_PLANS = 100_000


class PlanCache:
    """Plans per key and client IP, rebuilt when the key's snapshot says something new or a UTC day begins
    (a budget period may end).

    A snapshot is read again every GATEWAY_SNAPSHOT_TTL_MS as a new dict: an equal one keeps the plan (and
    the old dict is let go). A change of the instance's gateway defaults republishes every key snapshot,
    so it rebuilds too.
    """

    def __init__(self, defaults: GatewayDefaults) -> None:
        self.defaults = defaults
        self._plans: dict[tuple[str, int, str], tuple[int, dict[str, Any], QuotaPlan]] = {}

    def plan(self, key: dict[str, Any], client_ip: str) -> QuotaPlan:
        day = int(time.time() // 86_400)
        name = (key["schema"], key["id"], client_ip)
        cached = self._plans.get(name)
        if cached is not None and cached[0] == day:
            if cached[1] is key:
                return cached[2]
            if cached[1] == key:  # the same snapshot, read again
                self._plans[name] = (day, key, cached[2])
                return cached[2]
        layers = layers_for(key, client_ip=client_ip, defaults=self.defaults, now=dt.datetime.now(dt.UTC))
        plan = quota_plan(layers)
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[name] = (day, key, plan)
        return plan


@functools.lru_cache(maxsize=4096)
def _reset(ms: int) -> str:
    """OpenAI's duration format: 20ms, 1s, 6m0s."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


RATE_HEADER_NAMES: list[tuple[int, bytes, bytes, bytes]] = [
    (
        offset,
        f"x-ratelimit-limit-{kind}".encode(),
        f"x-ratelimit-remaining-{kind}".encode(),
        f"x-ratelimit-reset-{kind}".encode(),
    )
    for offset, kind in ((0, "requests"), (3, "tokens"))
]


def _rate_headers(values: list[Any]) -> Headers:
    headers: Headers = []
    for offset, limit_name, remaining_name, reset_name in RATE_HEADER_NAMES:
        limit = values[offset]
        if limit >= 0:
            headers += [
                (limit_name, b"%d" % limit),
                (remaining_name, b"%d" % max(values[offset + 1], 0)),
                (reset_name, _reset(values[offset + 2]).encode()),
            ]
    return headers


@dataclass(frozen=True)
class ScriptCall:
    """One EVALSHA of `script`, packed (RESP bytes)."""

    script: LuaScript
    command: bytes


async def run_scripts(wire: RedisWire, calls: list[ScriptCall], *, before: Sequence[bytes] = ()) -> list[Any]:
    """Send `before` (packed commands) and every call in one write; the replies of the calls, in order.

    An error reply is returned, not raised. A script Redis no longer knows (restarted, flushed) is
    loaded and only those calls are sent again: NOSCRIPT means they did not run. An error reply to a
    `before` command is raised.
    """
    replies = await wire.execute([*before, *(call.command for call in calls)])
    for reply in replies[: len(before)]:
        if isinstance(reply, Exception):
            raise reply
    results = replies[len(before) :]
    missing = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        scripts = {calls[index].script.sha: calls[index].script for index in missing}.values()
        await wire.execute([resp_command(b"SCRIPT", b"LOAD", script.source) for script in scripts])
        retried = await run_scripts(wire, [calls[index] for index in missing])
        for index, result in zip(missing, retried, strict=True):
            results[index] = result
    return results


@dataclass(frozen=True)
class Settlement:
    """A request's real usage, to replace what its admission (of `second`) reserved."""

    request_id: str
    second: int
    tokens: int
    micros: int


@dataclass(frozen=True)
class Correction:
    """A request admitted ahead of Redis: its real usage, to correct its plan's charge with (`Quotas.correct`)
    once its spend event is written, so that what it cost is always in the ledger's stream or in a charge."""

    admission: "Admission"
    tokens: int
    micros: int


# Reservations admitted in second s: the hash <HELD_PREFIX><s>, request id -> what is held (ADMIT_LUA).
HELD_PREFIX = global_key("quota", "held", "")
PLAN_RECORD_EVERY_S = 600  # a plan record lives an hour; rewritten at most this often
MAX_BATCH = 200  # requests per script call (Lua's unpack has a limit)


def held_key(second: int) -> str:
    return f"{HELD_PREFIX}{second}"


def settle_call(settlements: Sequence[Settlement]) -> ScriptCall:
    """One idempotent script call settling every reservation in `settlements`."""
    args: list[Arg] = [HELD_PREFIX]
    for item in settlements:
        args += [item.second, item.request_id, item.tokens, item.micros]
    return ScriptCall(SETTLE, resp_command(b"EVALSHA", SETTLE.sha, 0, *args))


@dataclass
class _Pending:
    plan: QuotaPlan
    request_id: str
    requests: int
    tokens: int
    micros: int
    future: "asyncio.Future[Any]"


HEADROOM_TTL_S = 0.5  # what a reply said about a layer is trusted this long
HEADROOM_SHARE = 10  # a request skips the wait only if a tenth of each limit stays free ...
HEADROOM_REQUESTS = 50  # ... and room for this many more requests like it
HEADROOM_PROCESSES = 4  # and what one process has admitted but Redis not yet confirmed stays a quarter of that


class Headroom:
    """What this process knows each layer has used, and what it has admitted since that Redis has not confirmed.

    Far from every limit, waiting for Redis decides nothing: a request that would leave each of its
    layers a tenth of its limit and room for fifty more like it is admitted at once, and what it
    reserves is charged to Redis a few milliseconds later with the others of its plan, as one sum
    (CHARGE_LUA). Near a limit, or with nothing recent known, a request waits for the admission
    script's answer, which stays exact. Another process's traffic is seen at the next reply; the
    margin covers it: what each process admits unconfirmed is at most a quarter of the margin, so up
    to four processes grabbing at once cannot pass the limit. A charge that takes a layer past its
    limit is counted (`Admitter.overruns`) and logged.
    """

    def __init__(self) -> None:
        # layer key -> [when known, used requests, tokens, micros, then the same not yet confirmed]
        self.known: dict[str, list[float]] = {}

    def take(self, plan: QuotaPlan, *, requests: int, tokens: int, micros: int) -> list[int] | None:
        """Hold the request and return its x-ratelimit values (as the script's), or None: it must wait."""
        oldest = time.monotonic() - HEADROOM_TTL_S
        known = self.known
        amounts = (0, requests, tokens, micros)
        values = [-1, -1, WINDOW_S * 1000, -1, -1, WINDOW_S * 1000]  # reset: the whole window, at the most
        held: list[tuple[list[float], int, int]] = []
        for key, dimension, limit, share, offset in plan.checks:
            state = known.get(key)
            if state is None or state[0] < oldest:
                return None
            this = amounts[dimension]
            if dimension == 1 and not this:  # a stream's extension counts no request
                continue
            unconfirmed = state[dimension + 3] + this
            left = limit - state[dimension] - unconfirmed
            margin = max(share, HEADROOM_REQUESTS * this)
            # what one process admits between two replies stays a small part of the margin others rely on too
            if left < margin or unconfirmed > margin // HEADROOM_PROCESSES:
                return None
            if offset >= 0 and (values[offset] < 0 or left < values[offset + 1]):
                values[offset], values[offset + 1] = limit, int(left)
            held.append((state, dimension + 3, this))
        for state, index, amount in held:
            state[index] += amount
        return values

    def release(self, plan: QuotaPlan, *, requests: int, tokens: int, micros: int) -> None:
        """What `take` held is confirmed (Redis counts it) or given up: no longer this process's unconfirmed share."""
        amounts = (0, requests, tokens, micros)
        for key, dimension, _limit, _share, _offset in plan.checks:
            if (state := self.known.get(key)) is not None:  # never below zero: a layer learnt again starts at 0
                state[dimension + 3] = max(0, state[dimension + 3] - amounts[dimension])

    def learn(self, plan: QuotaPlan, used: list[Any]) -> None:
        """What a script said each layer has used: per layer requests, tokens, micros (-1: not counted)."""
        now = time.monotonic()
        for index, layer in enumerate(plan.layers):
            requests, tokens, micros = used[3 * index : 3 * index + 3]
            if requests >= 0:
                self._set(layer.rate_key, now, requests, tokens, None)
            if micros >= 0:
                self._set(layer.budget_key, now, None, None, micros)

    def _set(self, key: str, now: float, requests: int | None, tokens: int | None, micros: int | None) -> None:
        state = self.known.get(key)
        if state is None:
            if len(self.known) >= MAX_PLANS:
                self.known.clear()
            state = self.known[key] = [now, 0, 0, 0, 0, 0, 0]
        state[0] = now
        if requests is not None and tokens is not None:
            state[1], state[2] = requests, tokens
        if micros is not None:
            state[3] = micros

    def forget(self, plan: QuotaPlan) -> None:
        for layer in plan.layers:
            self.known.pop(layer.rate_key, None)
            self.known.pop(layer.budget_key, None)


CORRECTION_GATHER_S = 0.005  # corrections of charges wait this long for others of their plan


@dataclass
class _Charge:
    plan: QuotaPlan
    second: int
    prepaid: bool  # what an admission reserved (released from Headroom once Redis has it); else a correction
    requests: int = 0
    tokens: int = 0
    micros: int = 0
    count: int = 0  # admissions charged (prepaid) or corrected
    held_tokens: int = 0  # what they reserved
    held_micros: int = 0


class Admitter:
    """Admissions made in the same event-loop turn go to Redis as one script call.

    The script reads and writes each layer key once per call, so the Redis time of a burst is per
    key, not per request. `now_ms` (tests with a controlled clock) is one per call. Requests admitted
    ahead of Redis (Headroom) are charged instead, summed per plan and second (CHARGE_LUA).
    """

    def __init__(self, wire: RedisWire) -> None:
        self.wire = wire
        self.headroom = Headroom()
        self.pending: dict[int | None, tuple[int, list[_Pending]]] = {}  # by now_ms override: (at_ms, batch)
        self.charges: dict[tuple[int, int, bool], _Charge] = {}  # by (plan, second, prepaid)
        self._turn_due = False  # a flush is scheduled for the end of this event-loop turn
        self._correcting: asyncio.TimerHandle | None = None
        self._recorded: dict[bytes, float] = {}  # plan record key -> when last written
        self._running: set[asyncio.Task[None]] = set()  # held, so a call is not garbage-collected mid-way
        self.process_id = uuid.uuid4().hex[:12]  # names this process's outstanding charges
        self.overruns = 0  # prepaid charges that took a layer past its limit: a margin too thin
        self.charges_lost = 0  # charges Redis may not have applied (an error or no answer), counted and logged

    async def __call__(self, plan: QuotaPlan, admission: "Admission", *, now_ms: int | None) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = self.pending.get(now_ms)
        if entry is None:
            entry = self.pending[now_ms] = (int(time.time() * 1000) if now_ms is None else now_ms, [])
            if now_ms is None:
                self._flush_this_turn()
            else:
                asyncio.get_running_loop().call_soon(self._flush, now_ms)
        entry[1].append(
            _Pending(plan, admission.request_id, admission.requests, admission.tokens, admission.micros, future)
        )
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def ahead(self, plan: QuotaPlan, admission: "Admission") -> bool:
        """Admit at once when Headroom says waiting decides nothing; what it reserves is charged shortly."""
        values = self.headroom.take(plan, requests=admission.requests, tokens=admission.tokens, micros=admission.micros)
        if values is None:
            return False
        admission.headers = _rate_headers(values)
        admission.second = int(time.time())
        admission.plan = plan
        charge = self._charge(plan, admission.second, prepaid=True)
        charge.requests += admission.requests
        charge.tokens += admission.tokens
        charge.micros += admission.micros
        return True

    def correct(self, admission: "Admission", *, tokens: int, micros: int) -> None:
        """Move what an admission ahead of Redis was charged to its real usage."""
        assert admission.plan is not None  # noqa: S101 - only admissions made ahead are corrected
        charge = self._charge(admission.plan, admission.second, prepaid=False)
        charge.tokens += tokens - admission.tokens
        charge.micros += micros - admission.micros
        charge.held_tokens += admission.tokens
        charge.held_micros += admission.micros

    def _charge(self, plan: QuotaPlan, second: int, *, prepaid: bool) -> _Charge:
        """The charge of this plan and second being gathered (counting one more admission), sent soon."""
        charge = self.charges.get((id(plan), second, prepaid))
        if charge is None:
            charge = self.charges[(id(plan), second, prepaid)] = _Charge(plan, second, prepaid)
        charge.count += 1
        if prepaid:
            # Visible to every process as soon as an admission would have been: the margins rely on it.
            self._flush_this_turn()
        elif not self._turn_due and self._correcting is None:
            self._correcting = asyncio.get_running_loop().call_later(CORRECTION_GATHER_S, self._flush, None)
        return charge

    def _flush_this_turn(self) -> None:
        if not self._turn_due:
            self._turn_due = True
            asyncio.get_running_loop().call_soon(self._flush, None)  # after this turn's callbacks joined

    async def close(self) -> None:
        """Send what is still to be charged and wait for every call on its way (shutdown)."""
        self._flush(None)
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _flush(self, now_ms: int | None) -> None:
        """Send the charges, then the admissions waiting: on one connection, so Redis counts the charges first."""
        if now_ms is None:
            self._turn_due = False
            if self._correcting is not None:
                self._correcting.cancel()
                self._correcting = None
            # prepaid first: a correction merged with one of an admission made this turn must find its record
            charges = sorted(self.charges.values(), key=lambda charge: not charge.prepaid)
            self.charges = {}
            for start in range(0, len(charges), MAX_BATCH):
                self._spawn(self._run_charges(charges[start : start + MAX_BATCH]))
        at_ms, batch = self.pending.pop(now_ms, (0, []))
        for start in range(0, len(batch), MAX_BATCH):
            self._spawn(self._run(batch[start : start + MAX_BATCH], at_ms))

    async def _run(self, batch: list[_Pending], at_ms: int) -> None:
        try:
            (replies,) = await run_scripts(self.wire, [self._call(batch, at_ms)])
            if isinstance(replies, Exception):
                raise replies
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for pending in batch:  # the plan records may not have been written: write them next time
                self._recorded.pop(pending.plan.record_key, None)
                self.headroom.forget(pending.plan)  # the next requests wait, and meet the outage policy
            replies = [exc] * len(batch)
        latest: dict[int, tuple[int, QuotaPlan, list[Any]]] = {}  # per plan, its last admitted reply
        for number, (pending, reply) in enumerate(zip(batch, replies, strict=True)):
            if not pending.future.done():
                pending.future.set_result(reply)
            if isinstance(reply, list) and reply[0] == 1:
                latest[id(pending.plan)] = (number, pending.plan, reply)
        for _, plan, reply in sorted(latest.values(), key=lambda item: item[0]):
            self.headroom.learn(plan, reply[8:])

    async def _run_charges(self, charges: list[_Charge]) -> None:
        plans = _numbered(charge.plan for charge in charges)
        try:
            (replies,) = await run_scripts(self.wire, [self._charge_call(plans, charges)])
            if isinstance(replies, Exception):
                raise replies
        except Exception as exc:  # noqa: BLE001 - a charge is not retried: it may have been applied
            self._charges_failed(plans, charges, exc)
            return
        self._release_prepaid(charges)  # Redis counts them now
        for (_, plan), reply in zip(plans.values(), replies, strict=True):
            self.headroom.learn(plan, reply[1:])
            if reply[0]:
                self.overruns += reply[0]
                logger.warning(
                    "%d charges of requests admitted ahead of Redis took a layer past its limit; %d so far",
                    reply[0],
                    self.overruns,
                )

    def _release_prepaid(self, charges: list[_Charge]) -> None:
        for charge in charges:
            if charge.prepaid:
                self.headroom.release(charge.plan, requests=charge.requests, tokens=charge.tokens, micros=charge.micros)

    def _charges_failed(self, plans: dict[int, tuple[int, QuotaPlan]], charges: list[_Charge], exc: Exception) -> None:
        self._release_prepaid(charges)
        for _, plan in plans.values():
            self._recorded.pop(plan.record_key, None)
            self.headroom.forget(plan)  # the next requests wait for Redis, and meet the outage policy
        self.charges_lost += len(charges)
        logger.warning(
            "%d quota charges may not have reached Redis (%r); %d so far", len(charges), exc, self.charges_lost
        )

    def _charge_call(self, plans: dict[int, tuple[int, QuotaPlan]], charges: list[_Charge]) -> ScriptCall:
        keys, plan_args, key_count, arg_count = self._plan_args(plans)
        items = []
        for charge in charges:
            if charge.prepaid:  # what it reserved is outstanding until corrected
                held = [charge.tokens, charge.micros, charge.count]
            else:
                held = [-charge.held_tokens, -charge.held_micros, -charge.count]
            items.append(
                resp_args(
                    [plans[id(charge.plan)][0], charge.second, charge.requests, charge.tokens, charge.micros, *held]
                )
            )
        arg_count += 4 + 8 * len(charges)
        head = resp_header(3 + key_count + arg_count) + resp_args([b"EVALSHA", CHARGE.sha, key_count])
        argv = resp_args([int(time.time() * 1000), HELD_PREFIX, self.process_id, len(plans)])
        return ScriptCall(CHARGE, b"".join([head, *keys, argv, *plan_args, _bulk_int(len(charges)), *items]))

    def _record_due(self, plan: QuotaPlan) -> bytes:
        now = time.monotonic()
        if now - self._recorded.get(plan.record_key, -PLAN_RECORD_EVERY_S) < PLAN_RECORD_EVERY_S:
            return b""
        if len(self._recorded) >= MAX_PLANS:
            self._recorded.clear()
        self._recorded[plan.record_key] = now
        return plan.record

    def _plan_args(self, plans: dict[int, tuple[int, QuotaPlan]]) -> tuple[list[bytes], list[bytes], int, int]:
        """KEYS and the plans' ARGV part (PLANS_LUA), with their counts."""
        keys: list[bytes] = []
        plan_args: list[bytes] = []
        key_count, arg_count = 0, 1
        for _, plan in plans.values():
            keys.append(plan.keys)
            plan_args.append(resp_args([key_count + 1, plan.record_key, self._record_due(plan)]))
            plan_args.append(plan.limits)
            key_count += plan.key_count
            arg_count += 3 + plan.limit_count
        return keys, plan_args, key_count, arg_count

    def _call(self, batch: list[_Pending], at_ms: int) -> ScriptCall:
        plans = _numbered(pending.plan for pending in batch)
        keys, plan_args, key_count, arg_count = self._plan_args(plans)
        requests = [
            resp_args(
                [plans[id(pending.plan)][0], pending.request_id, pending.requests, pending.tokens, pending.micros]
            )
            for pending in batch
        ]
        arg_count += 3 + 5 * len(batch)
        head = resp_header(3 + key_count + arg_count) + resp_args([b"EVALSHA", ADMIT.sha, key_count])
        argv = resp_args([at_ms, HELD_PREFIX, len(plans)])
        command = b"".join([head, *keys, argv, *plan_args, _bulk_int(len(batch)), *requests])
        return ScriptCall(ADMIT, command)


def _numbered(plans: Iterable[QuotaPlan]) -> dict[int, tuple[int, QuotaPlan]]:
    """Each distinct plan with its number (from 1), in order of first appearance."""
    numbered: dict[int, tuple[int, QuotaPlan]] = {}
    for plan in plans:
        if id(plan) not in numbered:
            numbered[id(plan)] = (len(numbered) + 1, plan)
    return numbered


def _bulk_int(value: int) -> bytes:
    return resp_args([value])


class LocalLimiter:
    """Per-process sliding windows of RPM/TPM, used only while Redis is unreachable (fail-open policy).

    Each process enforces each layer's limits on its own traffic; budgets go unchecked until Redis
    returns (the ledger still records every request).
    """

    def __init__(self) -> None:
        self.windows: dict[str, deque[tuple[float, int, int]]] = {}  # (when, requests, tokens)

    def admit(self, plan: QuotaPlan, *, requests: int, tokens: int) -> None:
        now = time.monotonic()
        rated = [layer for layer in plan.layers if _rated(layer)]
        for layer in rated:
            window = self.windows.setdefault(layer.rate_key, deque())
            while window and window[0][0] <= now - WINDOW_S:
                window.popleft()
            counted = sum(count for _, count, _ in window)
            if layer.rpm is not None and requests and counted + requests > layer.rpm:
                raise Quotas._exceeded(layer, dimension="rpm", limit=layer.rpm, reset_ms=_local_reset(window, now))
            used = sum(count for _, _, count in window)
            if layer.tpm is not None and used + tokens > layer.tpm:
                raise Quotas._exceeded(layer, dimension="tpm", limit=layer.tpm, reset_ms=_local_reset(window, now))
        for layer in rated:
            self.windows[layer.rate_key].append((now, requests, tokens))


def _rated(layer: Layer) -> bool:
    return layer.rpm is not None or layer.tpm is not None


def _local_reset(window: deque[tuple[float, int, int]], now: float) -> int:
    return int(((window[0][0] + WINDOW_S) - now) * 1000) if window else WINDOW_S * 1000


class Quotas:
    def __init__(self, wire: RedisWire, load_spent: Any, *, fail_open: bool = False) -> None:
        """`load_spent(scope, id, period_start_iso, schema)` → micro-USD already spent (the ledger's sum).

        `fail_open`: while Redis is unreachable, limit RPM/TPM per process instead of answering 503.
        """
        self.wire = wire
        self.load_spent = load_spent
        self.fail_open = fail_open
        self.local = LocalLimiter()
        self._admit = Admitter(wire)

    async def admit(
        self,
        key: dict[str, Any],
        plan: QuotaPlan,
        *,
        request_id: str,
        tokens: int,
        micros: int,
        requests: int = 1,
        now_ms: int | None = None,
    ) -> Admission:
        """Reserve on every layer; `requests=0` extends a running stream (tokens and cost only)."""
        admission = Admission(request_id=request_id, tokens=tokens, micros=micros, requests=requests)
        if not plan.layers:
            return admission
        if now_ms is None and self._admit.ahead(plan, admission):
            admission.held = True  # charged shortly; its real usage corrects the charge
            return admission
        try:
            return await self._admit_shared(key, plan, admission, now_ms=now_ms)
        except (RedisError, OSError) as exc:
            consequence = "limits enforced per process" if self.fail_open else "answering 503 quota_unavailable"
            redis_outage_log("quotas", exc, consequence)
            if not self.fail_open:
                raise QuotaUnavailable() from exc
            self.local.admit(plan, requests=requests, tokens=tokens)
            return admission  # nothing reserved in Redis, so nothing to settle

    async def _admit_shared(
        self, key: dict[str, Any], plan: QuotaPlan, admission: Admission, *, now_ms: int | None
    ) -> Admission:
        for _attempt in range(len(plan.layers) + 1):  # each budget layer's counter may need loading once
            result = await self._admit(plan, admission, now_ms=now_ms)
            if result[0] == 1:
                admission.headers = _rate_headers(result[1:7])
                admission.second = result[7]
                admission.held = True
                return admission
            layer = plan.layers[result[1] - 1]
            if result[0] == -1:
                await self._load_budget(key["schema"], layer)
                continue
            raise self._exceeded(layer, dimension=result[2].decode(), limit=result[3], reset_ms=result[4])
        raise RuntimeError("the budget counter could not be loaded")

    async def _load_budget(self, schema: str, layer: Layer) -> None:
        assert layer.budget_scope is not None  # noqa: S101 - only budget layers ask to be loaded
        scope, scope_id, start = layer.budget_scope
        spent = await self.load_spent(scope, scope_id, start, schema)
        expiry: list[Arg] = [b"EX", layer.budget_ttl_s] if layer.budget_ttl_s > 0 else []
        (reply,) = await self.wire.execute([resp_command(b"SET", layer.budget_key, spent, b"NX", *expiry)])
        if isinstance(reply, Exception):
            raise reply

    @staticmethod
    def _exceeded(layer: Layer, *, dimension: str, limit: int, reset_ms: int) -> HyditeError:
        label = LAYER_LABEL[layer.name]
        if dimension == "budget" and layer.name == "wallet":
            return InsufficientQuota()
        if dimension == "budget":
            return BudgetExceeded(f"The {label}'s budget of ${limit / 1_000_000:.2f} is used up for this period.")
        kind = "requests" if dimension == "rpm" else "tokens"
        headers: Headers = [
            (b"retry-after", str(max(1, math.ceil(reset_ms / 1000))).encode()),
            (f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), b"0"),
            (f"x-ratelimit-reset-{kind}".encode(), _reset(reset_ms).encode()),
            (b"x-ratelimit-layer", layer.name.encode()),
        ]
        refusal = RpmLimitExceeded if dimension == "rpm" else TpmLimitExceeded
        return refusal(headers=headers)

    @staticmethod
    def settlement(admission: Admission, *, tokens: int, micros: int) -> Settlement | Correction:
        """What moves the admission's reservation to the real usage: a Settlement to send in batches
        (`settle_call`), or for an admission made ahead of Redis a Correction (`correct`). Usage is never
        negative: no settlement moves a counter below what the requests before it spent."""
        tokens, micros = max(0, tokens), max(0, micros)
        if admission.plan is not None:
            return Correction(admission, tokens, micros)
        return Settlement(admission.request_id, admission.second, tokens, micros)

    def correct(self, correction: Correction) -> None:
        """Correct a charge (gathered with the others of its plan for a few ms)."""
        self._admit.correct(correction.admission, tokens=correction.tokens, micros=correction.micros)

    async def settle(self, admission: Admission, *, tokens: int, micros: int) -> None:
        """Settle one admission now (tests and tools; the gateway batches them with its spend events)."""
        settlement = self.settlement(admission, tokens=tokens, micros=micros)
        if isinstance(settlement, Correction):
            self.correct(settlement)
            await self._admit.close()
            return
        (result,) = await run_scripts(self.wire, [settle_call([settlement])])
        if isinstance(result, Exception):
            raise result

    async def close(self) -> None:
        """Send the charges still gathering (shutdown)."""
        await self._admit.close()

    async def sweep(self, *, now_ms: int | None = None) -> int:
        """Release reservations older than RESERVATION_TTL_S (their process died); returns how many."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        command = resp_command(b"EVALSHA", SWEEP.sha, 0, HELD_PREFIX, now_ms, RESERVATION_TTL_S)
        released = 0
        for _call in range(SWEEP_CALLS):  # a call covers at most 300 s, so that none keeps Redis long
            (result,) = await run_scripts(self.wire, [ScriptCall(SWEEP, command)])
            if isinstance(result, Exception):
                raise result
            released += int(result[0])
            if result[1]:
                break
        return released


def _or_none(value: int | None) -> int:
    return -1 if value is None else value
