"""Token usage of a response: parsed from a JSON body, or from the last events of a stream.

Stream chunks pass through untouched; only a bounded tail is kept, and parsed
once the stream has ended. When the client did not ask for usage, the gateway
asks the provider for it anyway and removes that one event from what the
client receives.
"""

from dataclasses import dataclass
from typing import Any

import orjson

TAIL_BYTES = 16_384


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False
    cached_tokens: int = 0  # prompt tokens the provider served from its prompt cache (a cheaper price)


def usage_from_mapping(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    total = raw.get("total_tokens")
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not isinstance(cached, int) or isinstance(cached, bool) or not 0 <= cached <= prompt:
        cached = 0
    return Usage(prompt, completion, total if isinstance(total, int) else prompt + completion, cached_tokens=cached)


def usage_from_body(payload: bytes) -> Usage | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return usage_from_mapping(parsed.get("usage")) if isinstance(parsed, dict) else None


def _event_json(event: bytes) -> Any:
    event = event.strip()
    if not event.startswith(b"data: {"):
        return None
    try:
        return orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return None


def _is_usage_only(parsed: Any) -> bool:
    return isinstance(parsed, dict) and parsed.get("choices") == [] and "usage" in parsed


class StreamTap:
    def __init__(self, *, strip_usage_event: bool) -> None:
        self.strip_usage_event = strip_usage_event
        self.tail = b""
        self.pending = b""
        self.data_events = 0
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        """Returns what to send to the client for this upstream chunk."""
        self.data_events += chunk.count(b"data: {")
        if not self.strip_usage_event:
            self.tail = (self.tail + chunk)[-TAIL_BYTES:]
            return chunk
        parts = (self.pending + chunk).split(b"\n\n")
        self.pending = parts.pop()
        forwarded = []
        for event in parts:
            parsed = _event_json(event) if b'"usage"' in event else None
            if isinstance(parsed, dict) and _is_usage_only(parsed):
                self.usage = usage_from_mapping(parsed["usage"])
                continue
            forwarded.append(event + b"\n\n")
        return b"".join(forwarded)

    def completion_tokens_seen(self) -> int:
        """A floor for a stream cut short: one token per content event (the first event carries only the role)."""
        return max(0, self.data_events - 1)

    def leftover(self) -> bytes:
        rest, self.pending = self.pending, b""
        return rest

    def final_usage(self) -> Usage | None:
        if self.usage is not None:
            return self.usage
        for event in reversed(self.tail.split(b"\n\n")):
            parsed = _event_json(event) if b'"usage"' in event else None
            if isinstance(parsed, dict) and (usage := usage_from_mapping(parsed.get("usage"))):
                return usage
        return None


def events_prefix(data: bytes, count: int) -> bytes:
    """The whole events at the start of `data`, up to its `count`-th data event (never a partial event)."""
    end = seen = 0
    while seen < count:
        boundary = data.find(b"\n\n", end)
        if boundary < 0:
            break
        seen += data.find(b"data: {", end, boundary) >= 0
        end = boundary + 2
    return data[:end]


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count (4 bytes a token) for a stream abandoned before the provider reported usage."""
    return max(1, len(orjson.dumps(body.get("messages") or body.get("prompt") or body.get("input") or "")) // 4)
