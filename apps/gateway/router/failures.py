"""What a failed attempt was: worth another attempt (transient), a reason to change alias (context window,
content policy), or the caller's answer (permanent); and how long the provider asked us to wait."""

import email.utils
import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from apps.providers.url_safety import UnsafeUpstream


class FailureKind(Enum):
    TRANSIENT = "transient"  # another attempt (another deployment, after a backoff) may succeed
    DEPLOYMENT = "deployment"  # this deployment is misconfigured (credential, model, address): another may not be
    CONTEXT_WINDOW = "context_window"  # the prompt is too long for this model: a larger one may take it
    CONTENT_POLICY = "content_policy"  # this provider refused the content: another may not
    PERMANENT = "permanent"  # the same request fails anywhere: the caller's answer at once


# 529: Anthropic's "overloaded"; 408: a provider's own request timeout.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
# A provider refusing our credential or the model: the deployment is misconfigured, counted for its cooldown,
# and the request moves to another deployment (the caller's key and body are not the fault).
DEPLOYMENT_FAULT_STATUSES = frozenset({401, 403, 404})
CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
CONTEXT_MESSAGE = re.compile(
    r"maximum context length|context[ _]length|context window|prompt is too long|too many (input )?tokens"
    r"|exceeds the (model's )?(maximum|max) (number of )?(input )?tokens",
    re.IGNORECASE,
)
POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "responsible_ai_policy_violation"})
# Anthropic: "Output blocked by content filtering policy"; Azure: "content management policy".
POLICY_MESSAGE = re.compile(
    r"content (management |filtering )?policy|safety system|flagged as potentially", re.IGNORECASE
)
RETRY_AFTER_MAX_PARSED_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    reason: str  # what the ledger's attempt records: "503", "timeout", "connect", "context_length"…
    status: int = 0  # the provider's status (0: no answer)
    retry_after_s: float | None = None
    counts_for_cooldown: bool = True


def failure_of_status(status: int, error: dict[str, Any], headers: CIMultiDictProxy[str] | None) -> Failure:
    """An upstream error answer, classified from its status and its error object (OpenAI's shape)."""
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")
    retry_after = retry_after_s(headers) if headers is not None else None
    if status in TRANSIENT_STATUSES:
        return Failure(FailureKind.TRANSIENT, str(status), status, retry_after)
    if status in {400, 413, 422} and (code in CONTEXT_CODES or CONTEXT_MESSAGE.search(message)):
        return Failure(FailureKind.CONTEXT_WINDOW, "context_length", status, counts_for_cooldown=False)
    if status in {400, 403, 422} and (code in POLICY_CODES or POLICY_MESSAGE.search(message)):
        return Failure(FailureKind.CONTENT_POLICY, "content_policy", status, counts_for_cooldown=False)
    if status in DEPLOYMENT_FAULT_STATUSES:
        return Failure(FailureKind.DEPLOYMENT, str(status), status)
    return Failure(FailureKind.PERMANENT, str(status), status, counts_for_cooldown=False)


def failure_of_exception(exc: BaseException) -> Failure:
    """A request that got no answer: a timeout, a refused or dropped connection (transient), or an address
    the operator does not allow (the deployment's)."""
    if isinstance(exc, UnsafeUpstream):  # the deployment's address (its host may resolve elsewhere now)
        return Failure(FailureKind.DEPLOYMENT, "not_allowed")
    if isinstance(exc, TimeoutError):
        return Failure(FailureKind.TRANSIENT, "timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure(FailureKind.TRANSIENT, "connect")
    return Failure(FailureKind.TRANSIENT, "connection")


def retry_after_s(headers: CIMultiDictProxy[str]) -> float | None:
    """The wait a provider asked for: `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        seconds = _number(raw_ms)
        if seconds is not None:
            return min(seconds / 1000, RETRY_AFTER_MAX_PARSED_S)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is None:
        try:  # a date beyond what datetime holds (year 99999999999) overflows
            seconds = max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(seconds, RETRY_AFTER_MAX_PARSED_S)


def _number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value == value and 0 <= value < float("inf") else None  # not NaN, not negative
