"""The quotas as the gateway calls them: admit, settle or correct, sweep, close."""

from redis.exceptions import RedisError

from apps.core.outage import redis_outage_log
from apps.gateway.database import database_call
from apps.gateway.errors import QuotaUnavailable
from apps.gateway.quota.admission import Admission, Correction, Settlement, settlement
from apps.gateway.quota.admitter import Admitter
from apps.gateway.quota.headers import rate_headers, refusal
from apps.gateway.quota.layers import Layer
from apps.gateway.quota.local import LocalLimiter
from apps.gateway.quota.plans import QuotaPlan
from apps.gateway.quota.scripts import Admitted, Unloaded
from apps.gateway.quota.settle import settle_now, sweep
from apps.gateway.redis_wire import Arg, RedisWire, resp_command
from apps.keys.snapshots import KeySnapshot
from apps.spend.selectors import spend_micros_since

_spend_micros_since = database_call(spend_micros_since)  # a budget counter starts from the ledger


class Quotas:
    """Every layer of a request's plan, counted in Redis; per process while Redis is down and `fail_open`."""

    def __init__(self, wire: RedisWire, *, fail_open: bool = False) -> None:
        """`fail_open`: while Redis is unreachable, limit RPM/TPM per process instead of answering 503."""
        self.wire = wire
        self.fail_open = fail_open
        self.local = LocalLimiter()
        self._admit = Admitter(wire)

    async def admit(
        self,
        key: KeySnapshot,
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
        self, key: KeySnapshot, plan: QuotaPlan, admission: Admission, *, now_ms: int | None
    ) -> Admission:
        for _attempt in range(len(plan.layers) + 1):  # each budget layer's counter may need loading once
            reply = await self._admit(plan, admission, now_ms=now_ms)
            if isinstance(reply, Admitted):
                admission.headers = rate_headers(*reply.rates)
                admission.second = reply.second
                admission.held = True
                return admission
            layer = plan.layers[reply.layer]
            if isinstance(reply, Unloaded):
                await self._load_budget(key["schema"], layer)
                continue
            raise refusal(layer, reply.dimension, limit=reply.limit, reset_ms=reply.reset_ms)
        raise RuntimeError("the budget counter could not be loaded")

    async def _load_budget(self, schema: str, layer: Layer) -> None:
        assert layer.budget_scope is not None  # noqa: S101 - only budget layers ask to be loaded
        scope, scope_id, since = layer.budget_scope
        spent = await _spend_micros_since(schema=schema, scope=scope, scope_id=scope_id, since=since)
        expiry: list[Arg] = [b"EX", layer.budget_ttl_s] if layer.budget_ttl_s > 0 else []
        (reply,) = await self.wire.execute([resp_command(b"SET", layer.budget_key, spent, b"NX", *expiry)])
        if isinstance(reply, Exception):
            raise reply

    @staticmethod
    def settlement(admission: Admission, *, tokens: int, micros: int) -> Settlement | Correction:
        """What moves the admission's reservation to the real usage (see admission.settlement)."""
        return settlement(admission, tokens=tokens, micros=micros)

    def correct(self, correction: Correction) -> None:
        """Correct a charge (gathered with the others of its plan for a few ms)."""
        self._admit.correct(correction.admission, tokens=correction.tokens, micros=correction.micros)

    async def settle(self, admission: Admission, *, tokens: int, micros: int) -> None:
        """Settle one admission now (tests and tools; the gateway batches them with its spend events)."""
        done = settlement(admission, tokens=tokens, micros=micros)
        if isinstance(done, Correction):
            self.correct(done)
            await self._admit.close()
            return
        await settle_now(self.wire, [done])

    async def close(self) -> None:
        """Send the charges still gathering (shutdown)."""
        await self._admit.close()

    async def sweep(self, *, now_ms: int | None = None) -> int:
        """Release reservations older than RESERVATION_TTL_S (their process died); returns how many."""
        return await sweep(self.wire, now_ms=now_ms)

    @property
    def process_id(self) -> str:
        """What names this process's charges in Redis."""
        return self._admit.process_id

    @property
    def overruns(self) -> int:
        """Charges of requests admitted ahead of Redis that took a layer past its limit."""
        return self._admit.overruns

    @property
    def charges_lost(self) -> int:
        """Charges Redis may not have applied (an error or no answer)."""
        return self._admit.charges_lost

    @property
    def unsent_charges(self) -> int:
        """Charges gathering, not sent to Redis yet (what a process that exits now would never send)."""
        return self._admit.unsent_charges

    @property
    def unsent_requests(self) -> int:
        """Requests admitted ahead of Redis whose charges are not sent yet."""
        return self._admit.unsent_requests
