"""Quotas on the hot path: static checks from the key snapshot, then one atomic Redis script.

Layers stack (key, team, org, plan, gateway); a request must pass all of them and the error
names the layer that tripped. Requests and tokens per minute are counted in one-second buckets
over a sliding 60-second window (no 2x burst at a minute boundary). Budgets reserve the request's
worst-case cost before it is forwarded and settle to the real cost afterwards; a reservation that
is never settled (a crashed process) is released by `sweep`.
"""

import asyncio
import datetime as dt
import fnmatch
import ipaddress
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from apps.core.redis import global_key, tenant_key
from apps.gateway.asgi_io import Headers
from apps.gateway.errors import IpNotAllowed, KeyExpired, ModelNotAllowed, QuotaExceeded, QuotaUnavailable
from apps.gateway.outage import redis_outage_log
from apps.quotas.limits import TIER_CAPS, budget_period

WINDOW_S = 60
RESERVATION_TTL_S = 900  # a reservation older than this belonged to a process that died

# KEYS: per layer (rate hash, budget counter), then the reservations zset and hash.
# ARGV: now_ms, tokens, micros, request_id, expires_ms, then per layer rpm, tpm, budget, budget_ttl_s (-1: none).
# Returns {1, req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms}
#      or {0, layer_index, dimension, limit, reset_ms} or {-1, layer_index} (budget counter needs loading).
ADMIT_LUA = """
local now_ms = tonumber(ARGV[1])
local now_s = math.floor(now_ms / 1000)
local tokens = tonumber(ARGV[2])
local micros = tonumber(ARGV[3])
local layers = (#ARGV - 5) / 4
local first_live = now_s - 59
-- A rate hash keeps running totals R and T of its live buckets r:<second> and t:<second>, and o,
-- the oldest second it still counts: expiring is O(seconds elapsed), never a scan of the window.
local function live_window(key)
  local state = redis.call('HMGET', key, 'o', 'R', 'T')
  if not state[1] then return 0, 0, now_s end
  local oldest, reqs, toks = tonumber(state[1]), tonumber(state[2]) or 0, tonumber(state[3]) or 0
  if oldest >= first_live then return reqs, toks, oldest end
  if first_live - oldest > 60 then
    redis.call('DEL', key)
    return 0, 0, now_s
  end
  local fields = {}
  for sec = oldest, first_live - 1 do
    fields[#fields + 1] = 'r:' .. sec
    fields[#fields + 1] = 't:' .. sec
  end
  local values = redis.call('HMGET', key, unpack(fields))
  for j = 1, #fields, 2 do
    reqs = reqs - (tonumber(values[j]) or 0)
    toks = toks - (tonumber(values[j + 1]) or 0)
  end
  redis.call('HDEL', key, unpack(fields))
  redis.call('HSET', key, 'o', first_live, 'R', reqs, 'T', toks)
  return reqs, toks, first_live
end
local function reset_ms(oldest)
  return (oldest + 60) * 1000 - now_ms
end
local window = {}
for i = 1, layers do
  local rpm, tpm, budget = tonumber(ARGV[2 + 4 * i]), tonumber(ARGV[3 + 4 * i]), tonumber(ARGV[4 + 4 * i])
  if rpm >= 0 or tpm >= 0 then
    local reqs, toks, oldest = live_window(KEYS[2 * i - 1])
    if rpm >= 0 and reqs + 1 > rpm then return {0, i, 'rpm', rpm, reset_ms(oldest)} end
    if tpm >= 0 and toks + tokens > tpm then return {0, i, 'tpm', tpm, reset_ms(oldest)} end
    window[i] = {reqs, toks, oldest}
  end
  if budget >= 0 then
    local spent = redis.call('GET', KEYS[2 * i])
    if not spent then return {-1, i} end
    if tonumber(spent) + micros > budget then return {0, i, 'budget', budget, 0} end
  end
end
local best = {-1, -1, 60000, -1, -1, 60000}
local rates, budgets = {}, {}
for i = 1, layers do
  local rpm, tpm, budget = tonumber(ARGV[2 + 4 * i]), tonumber(ARGV[3 + 4 * i]), tonumber(ARGV[4 + 4 * i])
  if rpm >= 0 or tpm >= 0 then
    local key = KEYS[2 * i - 1]
    if redis.call('HINCRBY', key, 'r:' .. now_s, 1) == 1 then
      -- the first request of this second: the hash lives 61 s past its newest bucket
      redis.call('HSETNX', key, 'o', now_s)
      redis.call('PEXPIRE', key, 61000)
    end
    redis.call('HINCRBY', key, 't:' .. now_s, tokens)
    redis.call('HINCRBY', key, 'R', 1)
    redis.call('HINCRBY', key, 'T', tokens)
    rates[#rates + 1] = key
    local remaining = rpm - window[i][1] - 1
    if rpm >= 0 and (best[1] < 0 or remaining < best[2]) then
      best[1], best[2], best[3] = rpm, remaining, reset_ms(window[i][3])
    end
    remaining = tpm - window[i][2] - tokens
    if tpm >= 0 and (best[4] < 0 or remaining < best[5]) then
      best[4], best[5], best[6] = tpm, remaining, reset_ms(window[i][3])
    end
  end
  if budget >= 0 then
    redis.call('INCRBY', KEYS[2 * i], micros)
    budgets[#budgets + 1] = KEYS[2 * i]
  end
end
if #rates + #budgets > 0 then
  redis.call('ZADD', KEYS[#KEYS - 1], tonumber(ARGV[5]), ARGV[4])
  redis.call('HSET', KEYS[#KEYS], ARGV[4], cjson.encode({s = now_s, t = tokens, m = micros, r = rates, b = budgets}))
end
return {1, best[1], best[2], best[3], best[4], best[5], best[6], now_s}
"""

# KEYS: reservations zset, reservations hash, then the request's rate hashes and budget counters.
# ARGV: request_id, admission second, rate key count, token delta, micros delta (real minus reserved).
# Idempotent: only a reservation still held moves, once (a swept one was already given back).
SETTLE_LUA = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
local dt, dm = tonumber(ARGV[4]), tonumber(ARGV[5])
local rates = tonumber(ARGV[3])
for i = 3, #KEYS do
  if i - 2 <= rates then
    if dt ~= 0 and redis.call('HEXISTS', KEYS[i], 't:' .. ARGV[2]) == 1 then
      redis.call('HINCRBY', KEYS[i], 't:' .. ARGV[2], dt)
      redis.call('HINCRBY', KEYS[i], 'T', dt)
    end
  elseif dm ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], dm)
  end
end
return 1
"""

# KEYS: reservations zset, reservations hash. ARGV: now_ms. Releases reservations past their expiry.
SWEEP_LUA = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, id in ipairs(expired) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local held = cjson.decode(raw)
    for _, key in ipairs(held.r) do
      if redis.call('HEXISTS', key, 't:' .. held.s) == 1 then
        redis.call('HINCRBY', key, 't:' .. held.s, -held.t)
        redis.call('HINCRBY', key, 'T', -held.t)
      end
    end
    for _, key in ipairs(held.b) do
      if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, -held.m) end
    end
  end
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
return #expired
"""


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
    headers: Headers = field(default_factory=list)
    second: int = 0
    rate_keys: list[bytes] = field(default_factory=list)
    budget_keys: list[bytes] = field(default_factory=list)


def _matches(model: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


def _in_networks(ip: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in networks)


LAYER_LABEL = {"key": "key", "team": "team", "org": "organisation", "plan": "plan", "gateway": "gateway"}


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


@dataclass(frozen=True)
class GatewayDefaults:
    rpm: int | None
    tpm: int | None


def layers_for(key: dict[str, Any], *, client_ip: str, defaults: GatewayDefaults, now: dt.datetime) -> list[Layer]:
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
                rate_key=tenant_key(schema, "quota", "rate", name, ids[name]),
                budget_key=tenant_key(schema, "quota", "spent", name, ids[name], period),
                rpm=rpm,
                tpm=tpm,
                budget=budget,
                budget_ttl_s=ttl,
                budget_scope=(name, ids[name], start.isoformat()) if budget is not None else None,
            )
        )
    tier_rpm, tier_tpm = TIER_CAPS.get(key.get("tier", "free"), (None, None))
    if tier_rpm is not None or tier_tpm is not None:
        # The tier caps the whole instance; on the Shared Edge each organisation has its own plan.
        scope = f"org{key['organization_id']}" if key.get("shared_instance") else "instance"
        layers.append(Layer("plan", tenant_key(schema, "quota", "rate", "plan", scope), "", rpm=tier_rpm, tpm=tier_tpm))
    if key.get("shared_instance") and (defaults.rpm is not None or defaults.tpm is not None):
        for scope in (f"key{key['id']}", f"ip{client_ip}"):
            rate_key = tenant_key(schema, "quota", "rate", "gateway", scope)
            layers.append(Layer("gateway", rate_key, "", rpm=defaults.rpm, tpm=defaults.tpm))
    return layers


@dataclass(frozen=True)
class QuotaPlan:
    """A key's layers, with the script's KEYS and per-layer ARGV already built (reused while valid)."""

    layers: list[Layer]
    keys: list[bytes]  # encoded once: redis-py passes bytes through as they are
    argv_tail: list[bytes]
    rate_keys: list[bytes]
    budget_keys: list[bytes]


def quota_plan(layers: list[Layer], *, reservations: list[str]) -> QuotaPlan:
    keys = [name for layer in layers for name in (layer.rate_key, layer.budget_key or layer.rate_key + ":b")]
    argv_tail: list[int] = []
    for layer in layers:
        argv_tail += [_or_none(layer.rpm), _or_none(layer.tpm), _or_none(layer.budget), layer.budget_ttl_s]
    return QuotaPlan(
        layers=layers,
        keys=[name.encode() for name in [*keys, *reservations]],
        argv_tail=[str(value).encode() for value in argv_tail],
        rate_keys=[layer.rate_key.encode() for layer in layers if layer.rpm is not None or layer.tpm is not None],
        budget_keys=[layer.budget_key.encode() for layer in layers if layer.budget is not None],
    )


MAX_PLANS = 100_000


class PlanCache:
    """Plans per (key snapshot, client IP, UTC day): a new snapshot or a new day (budget period) rebuilds."""

    def __init__(self, defaults: GatewayDefaults, reservations: list[str]) -> None:
        self.defaults, self.reservations = defaults, reservations
        self._plans: dict[tuple[int, str, int], tuple[dict[str, Any], QuotaPlan]] = {}

    def plan(self, key: dict[str, Any], client_ip: str) -> QuotaPlan:
        day = int(time.time() // 86_400)
        cached = self._plans.get((id(key), client_ip, day))
        if cached is not None and cached[0] is key:
            return cached[1]
        layers = layers_for(key, client_ip=client_ip, defaults=self.defaults, now=dt.datetime.now(dt.UTC))
        plan = quota_plan(layers, reservations=self.reservations)
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[(id(key), client_ip, day)] = (key, plan)
        return plan


def _reset(ms: int) -> str:
    """OpenAI's duration format: 20ms, 1s, 6m0s."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


def _rate_headers(values: list[Any]) -> Headers:
    headers: Headers = []
    for offset, kind in ((0, "requests"), (3, "tokens")):
        limit, remaining, reset_ms = (int(values[offset + n]) for n in range(3))
        if limit >= 0:
            headers += [
                (f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()),
                (f"x-ratelimit-remaining-{kind}".encode(), str(max(remaining, 0)).encode()),
                (f"x-ratelimit-reset-{kind}".encode(), _reset(reset_ms).encode()),
            ]
    return headers


RedisKey = str | bytes
ScriptCall = tuple[AsyncScript, list[RedisKey], list[Any]]


async def run_scripts(redis: aioredis.Redis, calls: list[ScriptCall]) -> list[Any]:
    """EVALSHA each call in one pipeline; results in order (an error is returned, not raised).

    A script Redis no longer knows (restarted, flushed) is loaded and only those calls are run
    again: NOSCRIPT means they did not run.
    """
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    results = await pipe.execute(raise_on_error=False)
    missing = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for script in {id(calls[index][0]): calls[index][0] for index in missing}.values():
            await redis.script_load(script.script)
        retried = await run_scripts(redis, [calls[index] for index in missing])
        for index, result in zip(missing, retried, strict=True):
            results[index] = result
    return list(results)


class ScriptBatcher:
    """Script calls made in the same event-loop turn go to Redis as one pipeline: one round trip per burst."""

    def __init__(self, redis: aioredis.Redis, script: AsyncScript) -> None:
        self.redis, self.script = redis, script
        self.pending: list[tuple[list[RedisKey], list[Any], asyncio.Future[Any]]] = []
        self._running: set[asyncio.Task[None]] = set()  # held, so a flush is not garbage-collected mid-way

    async def __call__(self, *, keys: Sequence[RedisKey], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.pending.append((list(keys), args, future))
        if len(self.pending) == 1:
            loop.call_soon(self._flush)  # after the callbacks already due in this turn joined the batch
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        task = asyncio.create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[list[RedisKey], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            results = await run_scripts(self.redis, [(self.script, keys, args) for keys, args, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            results = [exc] * len(batch)
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class LocalLimiter:
    """Per-process sliding windows of RPM/TPM, used only while Redis is unreachable (fail-open policy).

    Each process enforces each layer's limits on its own traffic; budgets go unchecked until Redis
    returns (the ledger still records every request).
    """

    def __init__(self) -> None:
        self.windows: dict[str, deque[tuple[float, int]]] = {}

    def admit(self, plan: QuotaPlan, tokens: int) -> None:
        now = time.monotonic()
        rated = [layer for layer in plan.layers if _rated(layer)]
        for layer in rated:
            window = self.windows.setdefault(layer.rate_key, deque())
            while window and window[0][0] <= now - WINDOW_S:
                window.popleft()
            if layer.rpm is not None and len(window) + 1 > layer.rpm:
                raise Quotas._exceeded(layer, dimension="rpm", limit=layer.rpm, reset_ms=_local_reset(window, now))
            used = sum(count for _, count in window)
            if layer.tpm is not None and used + tokens > layer.tpm:
                raise Quotas._exceeded(layer, dimension="tpm", limit=layer.tpm, reset_ms=_local_reset(window, now))
        for layer in rated:
            self.windows[layer.rate_key].append((now, tokens))


def _rated(layer: Layer) -> bool:
    return layer.rpm is not None or layer.tpm is not None


def _local_reset(window: deque[tuple[float, int]], now: float) -> int:
    return int(((window[0][0] + WINDOW_S) - now) * 1000) if window else WINDOW_S * 1000


class Quotas:
    def __init__(self, redis: aioredis.Redis, load_spent: Any, *, fail_open: bool = False) -> None:
        """`load_spent(scope, id, period_start_iso, schema)` → micro-USD already spent (the ledger's sum).

        `fail_open`: while Redis is unreachable, limit RPM/TPM per process instead of answering 503.
        """
        self.redis = redis
        self.load_spent = load_spent
        self.fail_open = fail_open
        self.local = LocalLimiter()
        self._admit = ScriptBatcher(redis, redis.register_script(ADMIT_LUA))
        self._settle = redis.register_script(SETTLE_LUA)
        self._sweep = redis.register_script(SWEEP_LUA)
        self.reservations = global_key("quota", "reservations")
        self.reservation_data = global_key("quota", "reservations", "data")

    async def admit(
        self,
        key: dict[str, Any],
        plan: QuotaPlan,
        *,
        request_id: str,
        tokens: int,
        micros: int,
        now_ms: int | None = None,
    ) -> Admission:
        admission = Admission(request_id=request_id, tokens=tokens, micros=micros)
        if not plan.layers:
            return admission
        try:
            return await self._admit_shared(key, plan, admission, now_ms=now_ms)
        except (RedisError, OSError) as exc:
            consequence = "limits enforced per process" if self.fail_open else "answering 503 quota_unavailable"
            redis_outage_log("quotas", exc, consequence)
            if not self.fail_open:
                raise QuotaUnavailable() from exc
            self.local.admit(plan, admission.tokens)
            return admission  # nothing reserved in Redis, so nothing to settle

    async def _admit_shared(
        self, key: dict[str, Any], plan: QuotaPlan, admission: Admission, *, now_ms: int | None
    ) -> Admission:
        tokens, micros, request_id = admission.tokens, admission.micros, admission.request_id
        for _attempt in range(len(plan.layers) + 1):  # each budget layer's counter may need loading once
            at_ms = int(time.time() * 1000) if now_ms is None else now_ms
            argv = [at_ms, tokens, micros, request_id, at_ms + RESERVATION_TTL_S * 1000, *plan.argv_tail]
            result = await self._admit(keys=plan.keys, args=argv)
            if result[0] == 1:
                admission.headers = _rate_headers(result[1:7])
                admission.second = int(result[7])
                admission.rate_keys, admission.budget_keys = plan.rate_keys, plan.budget_keys
                return admission
            layer = plan.layers[int(result[1]) - 1]
            if result[0] == -1:
                await self._load_budget(key["schema"], layer)
                continue
            raise self._exceeded(layer, dimension=result[2].decode(), limit=int(result[3]), reset_ms=int(result[4]))
        raise RuntimeError("the budget counter could not be loaded")

    async def _load_budget(self, schema: str, layer: Layer) -> None:
        assert layer.budget_scope is not None  # noqa: S101 - only budget layers ask to be loaded
        scope, scope_id, start = layer.budget_scope
        spent = await self.load_spent(scope, scope_id, start, schema)
        ttl = layer.budget_ttl_s if layer.budget_ttl_s > 0 else None
        await self.redis.set(layer.budget_key, spent, nx=True, ex=ttl)

    @staticmethod
    def _exceeded(layer: Layer, *, dimension: str, limit: int, reset_ms: int) -> QuotaExceeded:
        label = LAYER_LABEL[layer.name]
        if dimension == "budget":
            return QuotaExceeded(
                f"The {label}'s budget of ${limit / 1_000_000:.2f} is used up for this period.",
                code="budget_exceeded",
                type_="budget_exceeded",
                headers=[],
            )
        kind = "requests" if dimension == "rpm" else "tokens"
        headers: Headers = [
            (b"retry-after", str(max(1, math.ceil(reset_ms / 1000))).encode()),
            (f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), b"0"),
            (f"x-ratelimit-reset-{kind}".encode(), _reset(reset_ms).encode()),
            (b"x-ratelimit-layer", layer.name.encode()),
        ]
        return QuotaExceeded(
            "Rate limit exceeded", code=f"{dimension}_limit", type_="rate_limit_error", headers=headers
        )

    def settlement(self, admission: Admission, *, tokens: int, micros: int) -> ScriptCall:
        """The idempotent script call that moves a held reservation to the real usage."""
        keys: list[RedisKey] = [self.reservations, self.reservation_data, *admission.rate_keys, *admission.budget_keys]
        args = [
            admission.request_id,
            admission.second,
            len(admission.rate_keys),
            tokens - admission.tokens,
            micros - admission.micros,
        ]
        return self._settle, keys, args

    async def settle(self, admission: Admission, *, tokens: int, micros: int) -> None:
        script, keys, args = self.settlement(admission, tokens=tokens, micros=micros)
        await script(keys=keys, args=args)

    async def sweep(self, *, now_ms: int | None = None) -> int:
        """Release reservations past their expiry; returns how many."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return int(await self._sweep(keys=[self.reservations, self.reservation_data], args=[now_ms]))


def _or_none(value: int | None) -> int:
    return -1 if value is None else value
