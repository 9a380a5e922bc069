"""Token usage of a response: parsed from a JSON body, or from the last events of a stream.

Stream chunks pass through untouched; only a bounded tail is kept, and parsed
once the stream has ended. When the client did not ask for usage, the gateway
asks the provider for it anyway and removes that one event from what the
client receives.
"""

from dataclasses import dataclass
from typing import Any

import orjson

from apps.gateway.request_shape import text_bytes

TAIL_BYTES = 16_384


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False
    cached_tokens: int = 0  # prompt tokens the provider served from its prompt cache (a cheaper price)
    cache_write_tokens: int = 0  # prompt tokens the provider wrote to its prompt cache (a dearer price)
    cache_write_1h_tokens: int = 0  # of those, the ones written for an hour (dearer still)


# No provider serves a request of more tokens than this: a larger count is a lie or a bug.
MAX_REPORTED_TOKENS = 100_000_000


class ImpossibleUsage(ValueError):
    """Usage no provider could have reported: negative, not an integer, absurd, or inconsistent."""


def _count(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPORTED_TOKENS:
        raise ImpossibleUsage(f"{name} is {str(value)[:40]!r}")
    return value


def usage_from_mapping(raw: Any) -> Usage | None:
    """The usage an upstream reported (None: it reported none), checked: ImpossibleUsage if it cannot be true."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ImpossibleUsage("usage is not an object")
    prompt, completion, total = (_count(raw, name) for name in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if prompt is None and completion is None:
        if total is not None:
            raise ImpossibleUsage("total_tokens without prompt_tokens or completion_tokens")
        return None
    prompt, completion = prompt or 0, completion or 0
    if total is not None and total < prompt + completion:
        raise ImpossibleUsage(f"total_tokens {total} is less than prompt_tokens + completion_tokens")
    if total is not None:  # tokens counted in the total only (reasoning, with some servers): billed as completion
        completion = total - prompt
    cached, written, written_1h = _prompt_details(raw.get("prompt_tokens_details"), prompt)
    return Usage(
        prompt,
        completion,
        prompt + completion,
        cached_tokens=cached,
        cache_write_tokens=written,
        cache_write_1h_tokens=written_1h,
    )


def _prompt_details(details: Any, prompt: int) -> tuple[int, int, int]:
    """The prompt's cache reads, cache writes and one-hour writes, parts of its `prompt` tokens.

    `cached_tokens` is OpenAI's; `cache_write_tokens` and `cache_write_1h_tokens` are Hydite's own (the
    Anthropic adapter reports cache_creation_input_tokens and its ephemeral_1h_input_tokens there; an
    OpenAI-compatible server may too).
    """
    if details is None:
        return 0, 0, 0
    if not isinstance(details, dict):
        raise ImpossibleUsage("prompt_tokens_details is not an object")
    cached, written, written_1h = (
        _count(details, name) or 0 for name in ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens")
    )
    if cached > prompt:
        raise ImpossibleUsage(f"cached_tokens {cached} is more than prompt_tokens {prompt}")
    if cached + written > prompt:
        raise ImpossibleUsage(
            f"cached_tokens {cached} + cache_write_tokens {written} is more than prompt_tokens {prompt}"
        )
    if written_1h > written:
        raise ImpossibleUsage(f"cache_write_1h_tokens {written_1h} is more than cache_write_tokens {written}")
    return cached, written, written_1h


def usage_from_body(payload: bytes) -> Usage | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return usage_from_mapping(parsed.get("usage")) if isinstance(parsed, dict) else None


# What a provider may add to what it was sent (a hidden system prompt, tool instructions, images tiled
# finer than the bound assumes, reasoning beyond a cap): generous, so that no real answer is refused.
PLAUSIBLE_FACTOR = 4
PLAUSIBLE_EXTRA_TOKENS = 100_000
PLAUSIBLE_IMAGE_TOKENS = 50_000


def usage_check(usage: Usage, *, prompt_bound: int, completion_bound: int | None, images: int) -> None:
    """ImpossibleUsage when `usage` is far beyond what the request can produce (None: no completion bound)."""
    prompt_most = PLAUSIBLE_FACTOR * prompt_bound + PLAUSIBLE_EXTRA_TOKENS + images * PLAUSIBLE_IMAGE_TOKENS
    if usage.prompt_tokens > prompt_most:
        raise ImpossibleUsage(f"prompt_tokens {usage.prompt_tokens} for a prompt of at most {prompt_bound}")
    completion_most = None if completion_bound is None else PLAUSIBLE_FACTOR * completion_bound + PLAUSIBLE_EXTRA_TOKENS
    if completion_most is not None and usage.completion_tokens > completion_most:
        raise ImpossibleUsage(f"completion_tokens {usage.completion_tokens} for at most {completion_bound}")


def _event_json(event: bytes) -> Any:
    """The JSON object of an SSE event's data line ("data:" with or without its space), or None."""
    if event.startswith(b"data: {"):  # what every provider sends: no copy beyond the payload
        payload = event[6:]
    else:
        at = 0 if event.startswith(b"data:") else event.find(b"\ndata:") + 1
        if at == 0 and not event.startswith(b"data:"):
            return None
        payload = event[at + 5 :].strip()
        if not payload.startswith(b"{"):
            return None
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _is_usage_only(parsed: Any) -> bool:
    return isinstance(parsed, dict) and parsed.get("choices") == [] and "usage" in parsed


DELTA_TEXTS = ("content", "refusal", "reasoning_content", "reasoning", "text")


def delta_bytes(parsed: Any) -> int:
    """UTF-8 bytes of what one chunk of a stream generated (text, refusals, reasoning, tool calls): the most
    completion tokens it can hold. Runs for every chunk of a stream near its allowance: kept plain."""
    choices = parsed.get("choices") if type(parsed) is dict else None
    if type(choices) is not list:
        return 0
    total = 0
    for choice in choices:
        delta = choice.get("delta", choice) if type(choice) is dict else None  # legacy completions: the choice
        if type(delta) is not dict:
            continue
        for name in DELTA_TEXTS:
            value = delta.get(name)
            if type(value) is str:
                total += text_bytes(value)
        if "tool_calls" in delta or "function_call" in delta:
            total += _calls_bytes(delta)
    return total


def _calls_bytes(delta: dict[str, Any]) -> int:
    calls = delta.get("tool_calls")
    total = 0
    for call in [*(calls if type(calls) is list else ()), delta.get("function_call")]:
        function = call.get("function", call) if type(call) is dict else None
        if type(function) is dict:
            texts = (function.get("name"), function.get("arguments"))
            total += sum(text_bytes(value) for value in texts if type(value) is str)
    return total


class StreamTap:
    """What a stream carries, read as it passes: its usage event (removed for clients that did not ask for it)
    and, when `measure`, a bound of the completion tokens of the events forwarded.

    An event's bytes bound the tokens it carries, loosely; the events are parsed for the exact bound (the bytes
    of what they generated) only when the loose one is not enough to decide (`bound`), so a stream far from its
    allowance costs no parsing.
    """

    def __init__(self, *, strip_usage_event: bool, measure: bool = False) -> None:
        self.strip_usage_event = strip_usage_event
        self.measure = measure
        self.tail = b""
        self.pending = b""
        self.data_events = 0
        self.usage_reported: Any = None  # the usage-only event's object, checked when the stream ends
        self.measured = 0  # the bound of the events parsed so far
        self.unmeasured: list[bytes] = []  # events forwarded, not parsed yet
        self.loose_bound = 0  # measured + the bytes of the unmeasured events: never below the exact bound
        self.last_events: list[bytes] = []  # the last feed's events
        self.last_bounds: list[int] = []  # the exact bound after each of them (set by `bound`)

    def feed(self, chunk: bytes) -> bytes:
        """Returns what to send to the client for this upstream chunk."""
        self.data_events += chunk.count(b"data: {")
        if not self.strip_usage_event:
            self.tail = (self.tail + chunk)[-TAIL_BYTES:]
            if not self.measure:
                return chunk
        parts = (self.pending + chunk).split(b"\n\n")
        self.pending = parts.pop()
        self.last_events = []
        for event in parts:
            if self.strip_usage_event and b'"usage"' in event:
                parsed = _event_json(event)
                if isinstance(parsed, dict) and _is_usage_only(parsed):
                    self.usage_reported = parsed["usage"]
                    continue
            self.last_events.append(event + b"\n\n")
        if self.measure:
            self.unmeasured += self.last_events
            self.loose_bound += sum(len(event) for event in self.last_events)
        return b"".join(self.last_events)

    def bound(self) -> int:
        """The most completion tokens the events forwarded so far can hold: the bytes of what they generated."""
        after = []
        for event in self.unmeasured:
            self.measured += delta_bytes(_event_json(event))
            after.append(self.measured)
        self.last_bounds = after[len(after) - len(self.last_events) :] if self.unmeasured else self.last_bounds
        self.unmeasured, self.loose_bound = [], self.measured
        return self.measured

    def events_within(self, bound: int) -> bytes:
        """The last feed's events, from its first, that keep the stream within `bound` completion tokens
        (after `bound()`)."""
        fitting = []
        for event, after in zip(self.last_events, self.last_bounds, strict=False):
            if after > bound:
                break
            fitting.append(event)
        return b"".join(fitting)

    def completion_tokens_seen(self) -> int:
        """An estimate for a stream the client left: one token per content event (the first carries the role)."""
        return max(0, self.data_events - 1)

    def leftover(self) -> bytes:
        rest, self.pending = self.pending, b""
        return rest

    def final_usage(self) -> Usage | None:
        """The usage the stream reported last (None: none), checked: ImpossibleUsage if it cannot be true."""
        if self.usage_reported is not None:
            return usage_from_mapping(self.usage_reported)
        for event in reversed(self.tail.split(b"\n\n")):
            parsed = _event_json(event) if b'"usage"' in event else None
            if isinstance(parsed, dict) and parsed.get("usage") is not None:
                return usage_from_mapping(parsed["usage"])
        return None


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count (4 bytes a token) for a stream abandoned before the provider reported usage."""
    return max(1, len(orjson.dumps(body.get("messages") or body.get("prompt") or body.get("input") or "")) // 4)
