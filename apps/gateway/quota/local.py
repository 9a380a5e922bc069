"""While Redis is unreachable and the policy is fail-open: each process limits its own traffic."""

import time
from collections import deque

from apps.gateway.quota.headers import refusal
from apps.gateway.quota.layers import Dimension
from apps.gateway.quota.plans import QuotaPlan
from apps.quotas.windows import WINDOW_S


def _local_reset(window: deque[tuple[float, int, int]], now: float) -> int:
    return int(((window[0][0] + WINDOW_S) - now) * 1000) if window else WINDOW_S * 1000


class LocalLimiter:
    """Per-process sliding windows of RPM/TPM, used only while Redis is unreachable (fail-open policy).

    Each process enforces each layer's limits on its own traffic; budgets go unchecked until Redis
    returns (the ledger still records every request).
    """

    def __init__(self) -> None:
        self.windows: dict[str, deque[tuple[float, int, int]]] = {}  # (when, requests, tokens)

    def admit(self, plan: QuotaPlan, *, requests: int, tokens: int) -> None:
        now = time.monotonic()
        rated = [layer for layer in plan.layers if layer.rated]
        for layer in rated:
            window = self.windows.setdefault(layer.rate_key, deque())
            while window and window[0][0] <= now - WINDOW_S:
                window.popleft()
            counted = sum(count for _, count, _ in window)
            if layer.rpm is not None and requests and counted + requests > layer.rpm:
                raise refusal(layer, Dimension.RPM, limit=layer.rpm, reset_ms=_local_reset(window, now))
            used = sum(count for _, _, count in window)
            if layer.tpm is not None and used + tokens > layer.tpm:
                raise refusal(layer, Dimension.TPM, limit=layer.tpm, reset_ms=_local_reset(window, now))
        for layer in rated:
            self.windows[layer.rate_key].append((now, requests, tokens))
