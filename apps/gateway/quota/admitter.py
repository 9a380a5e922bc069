"""Admissions of one event-loop turn go to Redis as one script call; those made ahead of Redis are charged."""

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from apps.gateway.quota.admission import Admission
from apps.gateway.quota.headroom import Headroom
from apps.gateway.quota.plans import MAX_PLANS, QuotaPlan
from apps.gateway.quota.scripts import (
    AdmitReply,
    Admitted,
    PlanSet,
    admit_call,
    admit_reply,
    charge_call,
    charge_reply,
    run_scripts,
)
from apps.gateway.redis_wire import RedisWire

logger = logging.getLogger("hydite.gateway.quota")

CORRECTION_GATHER_S = 0.005  # corrections of charges wait this long for others of their plan
PLAN_RECORD_EVERY_S = 600  # a plan record lives an hour; rewritten at most this often
MAX_BATCH = 200  # requests per script call (Lua's unpack has a limit)


@dataclass
class _Pending:
    plan: QuotaPlan
    request_id: str
    requests: int
    tokens: int
    micros: int
    future: "asyncio.Future[AdmitReply | Exception]"


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
    ahead of Redis (Headroom) are charged instead, summed per plan and second (charge.lua).
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

    async def __call__(self, plan: QuotaPlan, admission: Admission, *, now_ms: int | None) -> AdmitReply:
        future: asyncio.Future[AdmitReply | Exception] = asyncio.get_running_loop().create_future()
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

    def ahead(self, plan: QuotaPlan, admission: Admission) -> bool:
        """Admit at once when Headroom says waiting decides nothing; what it reserves is charged shortly."""
        requests, tokens, micros = admission.requests, admission.tokens, admission.micros
        headers = self.headroom.take(plan, requests=requests, tokens=tokens, micros=micros)
        if headers is None:
            return False
        admission.headers = headers
        admission.second = int(time.time())
        admission.plan = plan
        charge = self._charge(plan, admission.second, prepaid=True)
        charge.requests += admission.requests
        charge.tokens += admission.tokens
        charge.micros += admission.micros
        return True

    def correct(self, admission: Admission, *, tokens: int, micros: int) -> None:
        """Move what an admission ahead of Redis was charged to its real usage."""
        assert admission.plan is not None  # noqa: S101 - only admissions made ahead are corrected
        charge = self._charge(admission.plan, admission.second, prepaid=False)
        charge.tokens += tokens - admission.tokens
        charge.micros += micros - admission.micros
        charge.held_tokens += admission.tokens
        charge.held_micros += admission.micros

    @property
    def unsent_charges(self) -> int:
        """Charges gathering, not sent to Redis yet."""
        return len(self.charges)

    @property
    def unsent_requests(self) -> int:
        """Requests admitted ahead of Redis whose charges are not sent yet."""
        return sum(charge.requests for charge in self.charges.values())

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

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
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
        plans = PlanSet(pending.plan for pending in batch)
        replies: list[AdmitReply] | list[Exception]
        try:
            (raw,) = await run_scripts(self.wire, [admit_call(plans, self._records(plans), batch, now_ms=at_ms)])
            if isinstance(raw, Exception):
                raise raw
            replies = [admit_reply(reply) for reply in raw]
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for plan in plans.plans:  # the plan records may not have been written: write them next time
                self._recorded.pop(plan.record_key, None)
                self.headroom.forget(plan)  # the next requests wait, and meet the outage policy
            replies = [exc] * len(batch)
        latest: dict[int, tuple[int, QuotaPlan, Admitted]] = {}  # per plan, its last admitted reply
        for number, (pending, reply) in enumerate(zip(batch, replies, strict=True)):
            if not pending.future.done():
                pending.future.set_result(reply)
            if isinstance(reply, Admitted):
                latest[id(pending.plan)] = (number, pending.plan, reply)
        for _, plan, admitted in sorted(latest.values(), key=lambda item: item[0]):
            self.headroom.learn(plan, admitted.used())

    async def _run_charges(self, charges: list[_Charge]) -> None:
        plans = PlanSet(charge.plan for charge in charges)
        try:
            now_ms = int(time.time() * 1000)
            call = charge_call(plans, self._records(plans), charges, now_ms=now_ms, process_id=self.process_id)
            (raw,) = await run_scripts(self.wire, [call])
            replies = charge_reply(raw)
        except Exception as exc:  # noqa: BLE001 - a charge is not retried: it may have been applied
            self._charges_failed(plans, charges, exc)
            return
        self._release_prepaid(charges)  # Redis counts them now
        for plan, reply in zip(plans.plans, replies, strict=True):
            self.headroom.learn(plan, reply.used())
            if reply.overruns:
                self.overruns += reply.overruns
                logger.warning(
                    "%d charges of requests admitted ahead of Redis took a layer past its limit; %d so far",
                    reply.overruns,
                    self.overruns,
                )

    def _release_prepaid(self, charges: list[_Charge]) -> None:
        for charge in charges:
            if charge.prepaid:
                self.headroom.release(charge.plan, requests=charge.requests, tokens=charge.tokens, micros=charge.micros)

    def _charges_failed(self, plans: PlanSet, charges: list[_Charge], exc: Exception) -> None:
        self._release_prepaid(charges)
        for plan in plans.plans:
            self._recorded.pop(plan.record_key, None)
            self.headroom.forget(plan)  # the next requests wait for Redis, and meet the outage policy
        self.charges_lost += len(charges)
        logger.warning(
            "%d quota charges may not have reached Redis (%r); %d so far", len(charges), exc, self.charges_lost
        )

    def _records(self, plans: PlanSet) -> list[bytes]:
        """Each plan's record to write with the call: b"" when it was written recently."""
        return [self._record_due(plan) for plan in plans.plans]

    def _record_due(self, plan: QuotaPlan) -> bytes:
        now = time.monotonic()
        if now - self._recorded.get(plan.record_key, -PLAN_RECORD_EVERY_S) < PLAN_RECORD_EVERY_S:
            return b""
        if len(self._recorded) >= MAX_PLANS:
            self._recorded.clear()
        self._recorded[plan.record_key] = now
        return plan.record
