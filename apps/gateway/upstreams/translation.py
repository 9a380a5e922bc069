"""What every stream translator shares: SSE event splitting and OpenAI chunk output."""

import time
from abc import ABC, abstractmethod
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
# What reading an upstream's malformed JSON (a list where an object belongs, a string for a number) raises.
MALFORMED = (AttributeError, TypeError, ValueError, KeyError, IndexError)


class UnsupportedRequest(ValueError):
    """A request the provider's API cannot express (a route it does not serve)."""


def upstream_error_fields(payload: bytes) -> dict[str, str]:
    """The text fields of the `error` object of a provider's error body (untrusted: anything that is not an
    object, or a field that is not text, is left out)."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return {}
    return {name: value for name, value in error.items() if isinstance(value, str) and value}


def upstream_error_message(fields: dict[str, str], payload: bytes, status: int) -> str:
    return fields.get("message") or payload[:500].decode("utf-8", "replace") or f"HTTP {status}"


def count_sum(*values: Any) -> int:
    """The sum of token counts a provider reported (a missing one is 0); -1, which the gateway refuses as
    impossible usage, when one is not a non-negative integer."""
    total = 0
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return -1
        total += value
    return total


class OpenAIChunkWriter(ABC):
    def __init__(self, *, include_usage: bool, chunk_id: str = "") -> None:
        self.include_usage = include_usage
        self.pending = b""
        self.id = chunk_id
        self.model = ""
        self.created = int(time.time())
        self.malformed = 0  # upstream events dropped as unreadable

    def feed(self, data: bytes) -> bytes:
        """OpenAI chunks for the upstream events completed by `data`; an event that is not what the provider
        documents is dropped (upstream bodies are untrusted input), the stream goes on."""
        return b"".join(self.event(raw) for raw in self.events(data))

    def event(self, raw: bytes) -> bytes:
        try:
            return self._event(raw)
        except MALFORMED:
            self.malformed += 1
            return b""

    @abstractmethod
    def _event(self, raw: bytes) -> bytes:
        """The OpenAI chunks for one upstream SSE event."""

    def events(self, data: bytes) -> list[bytes]:
        """The SSE events completed by `data`; a partial one waits for the next piece."""
        events = (self.pending + data).replace(b"\r\n", b"\n").split(b"\n\n")
        self.pending = events.pop()
        return events

    def _payload(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return self._payload([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def usage_chunk(self, usage: dict[str, Any]) -> bytes:
        return self._payload([], usage=usage) if self.include_usage else b""

    @staticmethod
    def error_event(error: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"error": error}) + b"\n\n"
