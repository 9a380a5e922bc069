"""Far from every limit, a request need not wait for Redis: what this process knows each layer has used."""

import time
from collections.abc import Sequence

from apps.gateway.asgi_io import Headers
from apps.gateway.quota.headers import rate_headers
from apps.gateway.quota.layers import Dimension
from apps.gateway.quota.plans import MAX_PLANS, QuotaPlan
from apps.gateway.quota.scripts import LayerUsage
from apps.quotas.windows import WINDOW_S

HEADROOM_TTL_S = 0.5  # what a reply said about a layer is trusted this long
HEADROOM_REQUESTS = 50  # a request skips the wait only if each limit keeps room for this many more like it ...
HEADROOM_PROCESSES = 4  # and what one process has admitted but Redis not yet confirmed stays a quarter of that
WINDOW_MS = WINDOW_S * 1000  # a reset is at most the whole window away
UNCONFIRMED = 3  # a layer's known state: [when, used requests, tokens, micros, then the same not yet confirmed]
RPM, TPM, BUDGET = Dimension.RPM, Dimension.TPM, Dimension.BUDGET  # read as globals: an Enum attribute is slower


class Headroom:
    """What this process knows each layer has used, and what it has admitted since that Redis has not confirmed.

    Far from every limit, waiting for Redis decides nothing: a request that would leave each of its
    layers a tenth of its limit (plans.HEADROOM_SHARE) and room for fifty more like it is admitted at
    once, and what it reserves is charged to Redis a few milliseconds later with the others of its plan,
    as one sum (charge.lua). Near a limit, or with nothing recent known, a request waits for the admission
    script's answer, which stays exact. Another process's traffic is seen at the next reply; the
    margin covers it: what each process admits unconfirmed is at most a quarter of the margin, so up
    to four processes grabbing at once cannot pass the limit. A charge that takes a layer past its
    limit is counted (`Admitter.overruns`) and logged.
    """

    def __init__(self) -> None:
        # layer key -> [when known, used requests, tokens, micros, then the same not yet confirmed]; indexed by
        # Dimension (used) and Dimension + UNCONFIRMED
        self.known: dict[str, list[float]] = {}

    def take(self, plan: QuotaPlan, *, requests: int, tokens: int, micros: int) -> Headers | None:
        """Hold the request and return its x-ratelimit headers (as the script's values give), or None: it must wait."""
        oldest = time.monotonic() - HEADROOM_TTL_S
        known = self.known
        amounts = (0, requests, tokens, micros)  # by Dimension
        requests_limit = requests_left = tokens_limit = tokens_left = -1
        held: list[tuple[list[float], int, int]] = []
        for key, dimension, limit, share in plan.checks:
            state = known.get(key)
            if state is None or state[0] < oldest:
                return None
            this = amounts[dimension]
            if dimension is RPM and not this:  # a stream's extension counts no request
                continue
            unconfirmed = state[dimension + UNCONFIRMED] + this
            left = limit - state[dimension] - unconfirmed
            margin = max(share, HEADROOM_REQUESTS * this)
            # what one process admits between two replies stays a small part of the margin others rely on too
            if left < margin or unconfirmed > margin // HEADROOM_PROCESSES:
                return None
            if dimension is RPM:
                if requests_limit < 0 or left < requests_left:
                    requests_limit, requests_left = limit, int(left)
            elif dimension is TPM and (tokens_limit < 0 or left < tokens_left):
                tokens_limit, tokens_left = limit, int(left)
            held.append((state, dimension + UNCONFIRMED, this))
        for state, index, amount in held:
            state[index] += amount
        return rate_headers(requests_limit, requests_left, WINDOW_MS, tokens_limit, tokens_left, WINDOW_MS)

    def release(self, plan: QuotaPlan, *, requests: int, tokens: int, micros: int) -> None:
        """What `take` held is confirmed (Redis counts it) or given up: no longer this process's unconfirmed share."""
        amounts = (0, requests, tokens, micros)
        for key, dimension, _limit, _share in plan.checks:
            if (state := self.known.get(key)) is not None:  # never below zero: a layer learnt again starts at 0
                index = dimension + UNCONFIRMED
                state[index] = max(0, state[index] - amounts[dimension])

    def learn(self, plan: QuotaPlan, used: Sequence[LayerUsage]) -> None:
        """What a script said each layer of `plan` has used."""
        now = time.monotonic()
        for layer, usage in zip(plan.layers, used, strict=True):
            if usage.requests >= 0:
                self._set(layer.rate_key, now, usage.requests, usage.tokens, None)
            if usage.micros >= 0:
                self._set(layer.budget_key, now, None, None, usage.micros)

    def _set(self, key: str, now: float, requests: int | None, tokens: int | None, micros: int | None) -> None:
        state = self.known.get(key)
        if state is None:
            if len(self.known) >= MAX_PLANS:
                self.known.clear()
            state = self.known[key] = [now, 0, 0, 0, 0, 0, 0]
        state[0] = now
        if requests is not None and tokens is not None:
            state[RPM], state[TPM] = requests, tokens
        if micros is not None:
            state[BUDGET] = micros

    def forget(self, plan: QuotaPlan) -> None:
        for layer in plan.layers:
            self.known.pop(layer.rate_key, None)
            self.known.pop(layer.budget_key, None)
