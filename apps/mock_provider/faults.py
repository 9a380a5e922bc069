"""Faults set on a target (a virtual provider) through the control API, and the per-target request counts.

State lives in one `FaultBook` per mock process. Every change happens without an `await` in between, so
under asyncio concurrency a fault with `count: n` fails exactly n requests.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from apps.mock_provider.behaviour import Behaviour, MockError

DEFAULT_TARGET = "default"
RESERVED_TARGETS = frozenset({"faults", "stats"})  # control API paths (/mock/faults, /mock/stats)
MAX_DELAY_MS = 600_000
MAX_COUNT = 1_000_000_000
_TARGET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,64}")
ERROR_KINDS = ("context_length", "content_policy")

ErrorKind = Literal["context_length", "content_policy"]


def is_target_name(name: str) -> bool:
    return _TARGET_NAME.fullmatch(name) is not None and name not in RESERVED_TARGETS


@dataclass(frozen=True)
class Fault:
    """How the next `count` requests to a target fail (`count` None: every request until cleared)."""

    status: int | None = None
    count: int | None = None
    delay_ms: int = 0
    retry_after: str | None = None
    retry_after_ms: int | None = None
    timeout: bool = False
    break_after: int | None = None
    error: ErrorKind | None = None
    first_byte_delay_ms: int = 0
    idle_ms: int = 0
    idle_after: int | None = None

    @property
    def refuses(self) -> bool:
        """The request gets an error answer (a status, or a provider's refusal) instead of its answer."""
        return self.status is not None or self.error is not None

    @property
    def fails(self) -> bool:
        return self.refuses or self.timeout or self.break_after is not None

    def retry_headers(self) -> list[tuple[bytes, bytes]]:
        headers = []
        if self.retry_after is not None:
            headers.append((b"retry-after", self.retry_after.encode()))
        if self.retry_after_ms is not None:
            headers.append((b"retry-after-ms", str(self.retry_after_ms).encode()))
        return headers

    def applied_to(self, behaviour: Behaviour) -> Behaviour:
        """The request's own behaviour (headers, model name) with what this fault sets put over it."""
        return replace(
            behaviour,
            status=None if self.refuses else behaviour.status,
            delay_s=self.delay_ms / 1000 if self.delay_ms else behaviour.delay_s,
            timeout=self.timeout or behaviour.timeout,
            break_after=self.break_after if self.break_after is not None else behaviour.break_after,
            first_byte_delay_s=self.first_byte_delay_ms / 1000 or behaviour.first_byte_delay_s,
            idle_s=self.idle_ms / 1000 if self.idle_ms else behaviour.idle_s,
            idle_after=self.idle_after if self.idle_ms else behaviour.idle_after,
        )


def fault_from_json(data: dict[str, Any]) -> Fault:
    """A fault from the control API's JSON; MockError(400) naming the field that is unknown or wrong."""
    known = {field.name for field in fields(Fault)}
    for name in data:
        if name not in known:
            raise MockError(
                400, f"Unknown field {name[:100]!r}; known fields: {', '.join(sorted(known))}.", param=name[:100]
            )
    values = {name: _checked(name, value) for name, value in data.items() if value is not None}
    fault = Fault(**values)
    _check_coherent(fault)
    return fault


def _checked(name: str, value: Any) -> Any:
    if name == "status":
        if not _is_int(value) or not 400 <= value <= 599:
            raise MockError(400, "'status' must be an HTTP error status, an integer from 400 to 599.", param=name)
    elif name == "error":
        if value not in ERROR_KINDS:
            raise MockError(400, f"'error' must be one of {', '.join(ERROR_KINDS)} (or null).", param=name)
    elif name == "timeout":
        if not isinstance(value, bool):
            raise MockError(400, "'timeout' must be true or false.", param=name)
    elif name == "retry_after":
        value = str(value) if _is_int(value) and value >= 0 else value
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise MockError(400, "'retry_after' must be seconds or an HTTP date (printable, 64 at most).", param=name)
    elif name == "count":
        if not _is_int(value) or not 1 <= value <= MAX_COUNT:
            raise MockError(
                400, f"'count' must be an integer from 1 to {MAX_COUNT} (or null: until cleared).", param=name
            )
    elif name in {"break_after", "idle_after", "retry_after_ms"}:
        if not _is_int(value) or not 0 <= value <= MAX_COUNT:
            raise MockError(400, f"'{name}' must be an integer from 0 to {MAX_COUNT} (or null).", param=name)
    elif not _is_int(value) or not 0 <= value <= MAX_DELAY_MS:  # the *_ms delays
        raise MockError(400, f"'{name}' must be milliseconds, an integer from 0 to {MAX_DELAY_MS}.", param=name)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_coherent(fault: Fault) -> None:
    if fault.status is not None and fault.error is not None:
        raise MockError(
            400, "Set 'status' or 'error', not both: an error answers its provider's status.", param="error"
        )
    if (fault.retry_after is not None or fault.retry_after_ms is not None) and not fault.refuses:
        param = "retry_after" if fault.retry_after is not None else "retry_after_ms"
        raise MockError(400, f"'{param}' goes with an error answer: set 'status' or 'error' too.", param=param)
    if bool(fault.idle_ms) != (fault.idle_after is not None):
        param = "idle_after" if fault.idle_ms else "idle_ms"
        raise MockError(
            400, "'idle_ms' and 'idle_after' go together: pause idle_ms after idle_after events.", param=param
        )
    if not (fault.fails or fault.delay_ms or fault.first_byte_delay_ms or fault.idle_ms):
        raise MockError(400, "This fault does nothing: set a status, an error, a delay, a timeout or a break.")


@dataclass
class TargetStats:
    requests: int = 0
    failed: int = 0


class FaultBook:
    """The faults set on targets and the requests each target served, for one mock process."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._remaining: dict[str, int | None] = {}
        self._stats: dict[str, TargetStats] = {}

    def fault_set(self, *, target: str, fault: Fault) -> None:
        self._faults[target], self._remaining[target] = fault, fault.count

    def fault_clear(self, *, target: str | None = None) -> list[str]:
        """Clear one target's fault (or every fault); the targets that had one."""
        cleared = list(self._faults) if target is None else [target] if target in self._faults else []
        for name in cleared:
            del self._faults[name], self._remaining[name]
        return cleared

    def fault_take(self, *, target: str) -> Fault | None:
        """The fault the next request to `target` meets, counted down (no await: exact under concurrency)."""
        fault = self._faults.get(target)
        if fault is None:
            return None
        remaining = self._remaining[target]
        if remaining is not None:
            if remaining <= 1:
                self.fault_clear(target=target)
            else:
                self._remaining[target] = remaining - 1
        return fault

    def faults(self) -> dict[str, dict[str, Any]]:
        return {name: {**asdict(fault), "remaining": self._remaining[name]} for name, fault in self._faults.items()}

    def request_count(self, *, target: str) -> None:
        self._stats.setdefault(target, TargetStats()).requests += 1

    def failure_count(self, *, target: str) -> None:
        self._stats.setdefault(target, TargetStats()).failed += 1

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: asdict(stats) for name, stats in self._stats.items()}

    def stats_clear(self) -> None:
        self._stats.clear()
