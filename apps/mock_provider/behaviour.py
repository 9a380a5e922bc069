"""How a request asks the mock to misbehave (headers, or the model's name), and the failures it raises."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

DEFAULT_CHUNKS = 8
TIMEOUT_SLEEP_S = 3600.0

_MODEL_STATUS = re.compile(r"mock-status-(\d{3})")
_MODEL_SLOW = re.compile(r"mock-slow-(\d+)")
_MODEL_DRIP = re.compile(r"mock-drip-(\d+)")


class MockError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class BrokenStream(Exception):
    """Raised mid-response: the server drops the connection, as a failing upstream does."""


@dataclass(frozen=True)
class Behaviour:
    status: int | None = None
    delay_s: float = 0.0
    timeout: bool = False
    break_after: int | None = None
    chunks: int = DEFAULT_CHUNKS
    chunk_delay_s: float = 0.0
    first_byte_delay_s: float = 0.0  # between a stream's 200 headers and its first event
    idle_s: float = 0.0  # one pause in a stream, after `idle_after` events
    idle_after: int | None = None
    word_per_chunk: bool = False
    cookie_sent_back: bool = False  # a cookie came with a request for a mock-cookie-check model
    cache_read: bool = False  # Anthropic's cached prefix is reported as read, not written

    @classmethod
    def from_request(cls, headers: dict[str, str], model: str, *, default_chunks: int = DEFAULT_CHUNKS) -> Behaviour:
        status_match, slow_match, drip_match = (
            _MODEL_STATUS.search(model),
            _MODEL_SLOW.search(model),
            _MODEL_DRIP.search(model),
        )
        status = _int(headers.get("x-mock-status")) or (int(status_match.group(1)) if status_match else None)
        delay_ms = _int(headers.get("x-mock-delay-ms")) or (int(slow_match.group(1)) if slow_match else 0)
        break_after = _int(headers.get("x-mock-break-after"))
        if break_after is None and "mock-broken-stream" in model:
            break_after = 3
        return cls(
            status=status,
            delay_s=delay_ms / 1000,
            timeout=bool(headers.get("x-mock-timeout")) or "mock-timeout" in model,
            break_after=break_after,
            chunks=max(1, _int(headers.get("x-mock-chunks")) or default_chunks),
            chunk_delay_s=(
                _int(headers.get("x-mock-chunk-delay-ms")) or (int(drip_match.group(1)) if drip_match else 0)
            )
            / 1000,
            word_per_chunk=model.endswith("-long"),
            cookie_sent_back="mock-cookie-check" in model and "cookie" in headers,
            cache_read=headers.get("x-mock-cache-read", "").strip() == "1" or "mock-cache-read" in model,
        )

    async def apply(self) -> None:
        """Wait, hang or fail as asked, before any byte of the answer."""
        if self.timeout:
            await asyncio.sleep(TIMEOUT_SLEEP_S)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status is not None and self.status >= 400:
            raise MockError(self.status, f"Mock provider was asked to fail with {self.status}.")
        if self.cookie_sent_back:
            raise MockError(400, "This server set a cookie that must not come back.", code="unexpected_cookie")


def _int(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)
