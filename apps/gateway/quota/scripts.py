"""The Redis scripts: loaded once from lua/, each with one argument packer and one typed reply.

A script's source is a prelude of constants defined in Python (the window layout of apps/quotas/windows.py,
the reservations' of apps/quotas/reservations.py, the dimensions and reply statuses below) followed by
its lua/ files; its SHA is computed once, at import. `run_scripts` sends calls as EVALSHA and loads a
script Redis does not know (NOSCRIPT) before sending those calls again.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from importlib.resources import files
from typing import Any, NamedTuple, Protocol

from redis.exceptions import NoScriptError

from apps.gateway.quota.admission import Settlement
from apps.gateway.quota.headers import RateValues
from apps.gateway.quota.layers import Dimension
from apps.gateway.quota.plans import QuotaPlan
from apps.gateway.redis_wire import Arg, RedisWire, resp_args, resp_command, resp_header
from apps.quotas.reservations import HELD_PREFIX, HELD_SWEPT, HELD_TTL_S, PLAN_RECORD_TTL_S
from apps.quotas.windows import RING_FIELD, RING_HEAD, RING_TTL_MS, WINDOW_S

SWEEP_SPAN_S = 300  # a sweep call releases at most this many seconds of reservations, so that none keeps Redis long
SWEEP_FIRST_S = 600  # the first sweep starts this far before the reservations' lifetime ...
SWEEP_CLOCK_BACK_S = 3600  # ... and so does one whose mark is this far ahead (a clock that went back)


class AdmitStatus(IntEnum):
    """The first value of each of the admission script's replies."""

    UNLOADED = -1  # a budget counter needs loading from the ledger
    REFUSED = 0
    ADMITTED = 1


def _prelude() -> str:
    constants = {
        "HEAD": RING_HEAD,
        "WIDTH": RING_FIELD,
        "SLOT": 2 * RING_FIELD,
        "WINDOW": WINDOW_S,
        "RING_TTL_MS": RING_TTL_MS,
        "DIGITS": f"'%0{RING_FIELD}d'",
        "PLAN_RECORD_TTL_S": PLAN_RECORD_TTL_S,
        "HELD_TTL_S": HELD_TTL_S,
        "HELD_SWEPT": f"'{HELD_SWEPT}'",
        "SWEEP_SPAN_S": SWEEP_SPAN_S,
        "SWEEP_FIRST_S": SWEEP_FIRST_S,
        "SWEEP_CLOCK_BACK_S": SWEEP_CLOCK_BACK_S,
        **{status.name: int(status) for status in AdmitStatus},
        **{dimension.name: int(dimension) for dimension in Dimension},
    }
    return "".join(f"local {name} = {value}\n" for name, value in constants.items())


@dataclass(frozen=True)
class LuaScript:
    source: str
    sha: str


def lua_script(*parts: str) -> LuaScript:
    """The prelude, then lua/<part>.lua of each part in order."""
    folder = files("apps.gateway.quota") / "lua"
    source = _prelude() + "".join((folder / f"{part}.lua").read_text() for part in parts)
    return LuaScript(source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


ADMIT = lua_script("ring", "plans", "admit")
CHARGE = lua_script("ring", "plans", "charge")
SETTLE = lua_script("ring", "correct", "settle")
SWEEP = lua_script("ring", "correct", "sweep")


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


class PlanSet:
    """The distinct plans of one call, numbered from 1 in order of first appearance (the scripts' plan numbers)."""

    __slots__ = ("numbers", "plans")

    def __init__(self, plans: Iterable[QuotaPlan]) -> None:
        self.numbers: dict[int, int] = {}  # by id(plan)
        self.plans: list[QuotaPlan] = []
        for plan in plans:
            if id(plan) not in self.numbers:
                self.plans.append(plan)
                self.numbers[id(plan)] = len(self.plans)


class AdmitItem(Protocol):
    """One request of an admission call."""

    plan: QuotaPlan
    request_id: str
    requests: int  # 1, or 0 for a stream's extension
    tokens: int
    micros: int


class ChargeItem(Protocol):
    """One charge of a charge call: admissions made ahead of Redis (prepaid), or their corrections."""

    plan: QuotaPlan
    second: int
    prepaid: bool
    requests: int
    tokens: int
    micros: int
    count: int  # admissions charged or corrected
    held_tokens: int  # what the corrected admissions reserved
    held_micros: int


def _plans_part(plans: PlanSet, records: Sequence[bytes]) -> tuple[list[bytes], list[bytes], int, int]:
    """KEYS and the plans' ARGV part (plans.lua), with their counts; `records`: each plan's record to write
    (b"": written recently)."""
    keys: list[bytes] = []
    plan_args: list[bytes] = []
    key_count, arg_count = 0, 1
    for plan, record in zip(plans.plans, records, strict=True):
        keys.append(plan.keys)
        plan_args.append(resp_args([key_count + 1, plan.record_key, record]))
        plan_args.append(plan.limits)
        key_count += plan.key_count
        arg_count += 3 + plan.limit_count
    return keys, plan_args, key_count, arg_count


def admit_call(plans: PlanSet, records: Sequence[bytes], batch: Sequence[AdmitItem], *, now_ms: int) -> ScriptCall:
    """One call of the admission script (admit.lua) for `batch`, whose plans are `plans`."""
    keys, plan_args, key_count, arg_count = _plans_part(plans, records)
    numbers = plans.numbers
    requests = [
        resp_args([numbers[id(item.plan)], item.request_id, item.requests, item.tokens, item.micros]) for item in batch
    ]
    arg_count += 3 + 5 * len(batch)
    head = resp_header(3 + key_count + arg_count) + resp_args([b"EVALSHA", ADMIT.sha, key_count])
    argv = resp_args([now_ms, HELD_PREFIX, len(plans.plans)])
    return ScriptCall(ADMIT, b"".join([head, *keys, argv, *plan_args, resp_args([len(batch)]), *requests]))


def _charge_args(number: int, charge: ChargeItem) -> bytes:
    if charge.prepaid:  # what it reserved is outstanding until corrected
        held = [charge.tokens, charge.micros, charge.count]
    else:
        held = [-charge.held_tokens, -charge.held_micros, -charge.count]
    return resp_args([number, charge.second, charge.requests, charge.tokens, charge.micros, *held])


def charge_call(
    plans: PlanSet, records: Sequence[bytes], charges: Sequence[ChargeItem], *, now_ms: int, process_id: str
) -> ScriptCall:
    """One call of the charge script (charge.lua) for `charges`, whose plans are `plans`."""
    keys, plan_args, key_count, arg_count = _plans_part(plans, records)
    items = [_charge_args(plans.numbers[id(charge.plan)], charge) for charge in charges]
    arg_count += 4 + 8 * len(charges)
    head = resp_header(3 + key_count + arg_count) + resp_args([b"EVALSHA", CHARGE.sha, key_count])
    argv = resp_args([now_ms, HELD_PREFIX, process_id, len(plans.plans)])
    return ScriptCall(CHARGE, b"".join([head, *keys, argv, *plan_args, resp_args([len(charges)]), *items]))


def settle_call(settlements: Sequence[Settlement]) -> ScriptCall:
    """One idempotent call of the settle script (settle.lua) settling every reservation in `settlements`."""
    args: list[Arg] = [HELD_PREFIX]
    for item in settlements:
        args += [item.second, item.request_id, item.tokens, item.micros]
    return ScriptCall(SETTLE, resp_command(b"EVALSHA", SETTLE.sha, 0, *args))


def sweep_call(*, now_ms: int, age_s: int) -> ScriptCall:
    """One call of the sweep script (sweep.lua): release reservations older than `age_s`."""
    return ScriptCall(SWEEP, resp_command(b"EVALSHA", SWEEP.sha, 0, HELD_PREFIX, now_ms, age_s))


class LayerUsage(NamedTuple):
    """What a layer has used after a script's call (-1: the layer does not count it)."""

    requests: int
    tokens: int
    micros: int


def _layer_usage(raw: list[int], start: int) -> list[LayerUsage]:
    return [LayerUsage(*raw[at : at + 3]) for at in range(start, len(raw), 3)]


def _checked(raw: Any) -> Any:
    if isinstance(raw, Exception):
        raise raw
    return raw


class Admitted:
    """An admission script's reply to a request it admitted."""

    __slots__ = ("_raw", "rates", "second")

    def __init__(self, raw: list[int]) -> None:
        self.rates = RateValues._make(raw[1:7])
        self.second: int = raw[7]  # where its reservation is held
        self._raw = raw

    def used(self) -> list[LayerUsage]:
        """Per layer of its plan, what it has used with this request."""
        return _layer_usage(self._raw, 8)


class Refused(NamedTuple):
    layer: int  # the index of the layer in its plan
    dimension: Dimension
    limit: int
    reset_ms: int


class Unloaded(NamedTuple):
    """The budget counter of a layer is not in Redis: it must be loaded from the ledger, then asked again."""

    layer: int


AdmitReply = Admitted | Refused | Unloaded
_ADMITTED, _UNLOADED = int(AdmitStatus.ADMITTED), int(AdmitStatus.UNLOADED)  # plain ints: compared per request


def admit_reply(raw: Any) -> AdmitReply:
    """The reply of the admission script to one request (an error reply is raised)."""
    status = _checked(raw)[0]
    if status == _ADMITTED:
        return Admitted(raw)
    if status == _UNLOADED:
        return Unloaded(raw[1] - 1)
    return Refused(raw[1] - 1, Dimension(raw[2]), raw[3], raw[4])


class Charged:
    """The charge script's reply about one plan."""

    __slots__ = ("_raw", "overruns")

    def __init__(self, raw: list[int]) -> None:
        self.overruns: int = raw[0]  # prepaid charges that took a layer past its limit
        self._raw = raw

    def used(self) -> list[LayerUsage]:
        """Per layer of the plan, what it has used after the call."""
        return _layer_usage(self._raw, 1)


def charge_reply(raw: Any) -> list[Charged]:
    """Per plan of the call, in order (an error reply is raised)."""
    return [Charged(plan) for plan in _checked(raw)]


def settle_reply(raw: Any) -> int:
    """How many reservations were settled (an error reply is raised)."""
    return int(_checked(raw))


class Swept(NamedTuple):
    released: int
    done: bool  # every reservation old enough is released, else the next call goes on


def sweep_reply(raw: Any) -> Swept:
    released, done = _checked(raw)
    return Swept(int(released), bool(done))
