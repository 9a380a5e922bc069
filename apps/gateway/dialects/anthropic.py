"""Anthropic's Messages API as a dialect (POST /v1/messages): Claude Code and the Anthropic SDKs.

To Anthropic deployments the request goes untouched (prompt caching, thinking and its signatures, documents,
betas: `anthropic-version` and `anthropic-beta` are forwarded) and so does the answer; to every other
deployment it is translated to the pipeline's OpenAI request, and the answers back (see the modules beside).
"""

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import orjson

from apps.channels.snapshots import DeploymentSnapshot
from apps.core.errors import Header, HyditeError
from apps.gateway.asgi_io import Scope
from apps.gateway.dialects.anthropic_errors import (
    anthropic_error,
    anthropic_error_event,
    hydite_error,
    hydite_error_event,
)
from apps.gateway.dialects.anthropic_request import messages_to_chat
from apps.gateway.dialects.anthropic_response import chat_to_message
from apps.gateway.dialects.anthropic_shape import messages_shape
from apps.gateway.dialects.anthropic_stream import MAX_EVENT_BYTES, STREAM_CUT, ChatStreamToMessages
from apps.gateway.errors import InvalidRequest
from apps.gateway.request_shape import RequestShape
from apps.gateway.upstreams.anthropic import API_VERSION, messages_url
from apps.gateway.upstreams.base import UpstreamRequest

PASSED_HEADERS = (b"anthropic-version", b"anthropic-beta")
PASSED_HEADER_MAX = 2048
UNFORWARDABLE = "The request is nested too deeply or holds a value JSON cannot carry: it cannot be forwarded."
OVERLOADED = 529  # Anthropic's own status, which its clients retry
EVENT_ENDS = (b"\n\n", b"\r\n\r\n")
LAST_EVENT = re.compile(rb"^event: ?(?:message_stop|error)\r?$", re.MULTILINE)  # an Anthropic stream's last


class AnthropicMessages:
    path = "/chat/completions"

    def shape(self, body: dict[str, Any], *, image_tokens: int) -> RequestShape:
        return messages_shape(body, image_tokens=image_tokens)

    def internal_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return messages_to_chat(body)

    def passes_through(self, provider: str) -> bool:
        return provider == "anthropic"

    def passthrough_request(
        self, *, deployment: DeploymentSnapshot, body: dict[str, Any], secret: str | None, scope: Scope
    ) -> UpstreamRequest:
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        for name in PASSED_HEADERS:
            value = _passed_header(scope, name)
            if value:
                headers[name.decode()] = value
        if secret:
            headers["x-api-key"] = secret
        try:  # unknown (beta) fields pass unchecked, and orjson writes fewer levels than it reads
            upstream = orjson.dumps({**body, "model": deployment["upstream_model"]})
        except orjson.JSONEncodeError:
            raise InvalidRequest(UNFORWARDABLE) from None
        return UpstreamRequest(url=messages_url(deployment["api_base"]), headers=headers, body=upstream)

    def answer(self, translated: bytes, upstream: bytes, *, passthrough: bool, model: str) -> bytes:
        return upstream if passthrough else chat_to_message(translated, model=model)

    def client_stream(self, *, passthrough: bool, model: str) -> "_Untouched | _Translated":
        return _Untouched() if passthrough else _Translated(ChatStreamToMessages(model))

    def upstream_error(self, status: int, error: dict[str, Any], *, upstream_status: int) -> tuple[int, bytes]:
        return anthropic_error(OVERLOADED if upstream_status == OVERLOADED else status, error)

    def refusal(self, exc: HyditeError) -> bytes:
        return hydite_error(exc)[1]

    def refusal_event(self, exc: HyditeError) -> bytes:
        return hydite_error_event(exc)

    def refusal_headers(self, headers: Sequence[Header]) -> list[Header]:
        """A limit's headers, and Anthropic's names for them: anthropic-ratelimit-{requests,tokens}-{limit,
        remaining,reset} (reset as an RFC 3339 time, from retry-after)."""
        named = dict(headers)
        retry_after = named.get(b"retry-after", b"")
        reset = _reset_time(int(retry_after)) if retry_after.isdigit() else None
        added: list[Header] = []
        for kind in (b"requests", b"tokens"):
            limit = named.get(b"x-ratelimit-limit-" + kind)
            if limit is None:
                continue
            added.append((b"anthropic-ratelimit-" + kind + b"-limit", limit))
            added.append(
                (b"anthropic-ratelimit-" + kind + b"-remaining", named.get(b"x-ratelimit-remaining-" + kind, b"0"))
            )
            if reset is not None:
                added.append((b"anthropic-ratelimit-" + kind + b"-reset", reset))
        return [*headers, *added]


def _reset_time(seconds: int) -> bytes:
    reset = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=min(seconds, 10**7))
    return reset.isoformat().replace("+00:00", "Z").encode()


def _passed_header(scope: Scope, name: bytes) -> str | None:
    """The client's header, if it is a printable ASCII value of a sane length (it goes into our upstream
    request; aiohttp writes header values as UTF-8, so any other byte would reach the provider changed). Its
    lines are one comma-separated list, as HTTP reads them: a beta on a second line is a beta asked for."""
    raw = b",".join(bytes(value) for key, value in scope["headers"] if key == name)
    if not raw or len(raw) > PASSED_HEADER_MAX:
        return None
    value = raw.decode("latin-1").strip()
    return value if value.isascii() and value.isprintable() else None


class _Untouched:
    """The upstream's own events (the provider speaks the dialect), whole: the client never gets part of an
    event, so that an error event after a break stands on its own. As with a translated stream, nothing goes
    after the event that ends it (message_stop, error), and a stream that ends without one ends with an
    api_error event: the client knows it broke instead of taking a partial answer for a whole one."""

    def __init__(self) -> None:
        self.pending = b""  # an event still arriving
        self.ended = False  # message_stop or error sent: nothing more goes out

    def feed(self, upstream: bytes, forwarded: bytes) -> bytes:
        if self.ended:
            return b""
        whole, self.pending = _whole_events(self.pending + upstream)
        if len(self.pending) > MAX_EVENT_BYTES:  # not an event: dropped, as the translation drops it
            self.pending = b""
        whole, self.ended = _through_end(whole)
        return whole

    def finish(self) -> bytes:
        if self.ended:
            return b""
        self.ended = True
        return anthropic_error_event({"message": STREAM_CUT}, status=502)


def _whole_events(data: bytes) -> tuple[bytes, bytes]:
    """`data` up to the end of its last whole event, and the rest."""
    cut = max((at + len(end) for end in EVENT_ENDS if (at := data.rfind(end)) >= 0), default=0)
    return data[:cut], data[cut:]


def _through_end(whole: bytes) -> tuple[bytes, bool]:
    """Whole events up to the one that ends the stream, if it is among them; and whether it is."""
    last = LAST_EVENT.search(whole)
    if last is None:
        return whole, False
    cut = min(at + len(end) for end in EVENT_ENDS if (at := whole.find(end, last.end())) >= 0)
    return whole[:cut], True


class _Translated:
    def __init__(self, translator: ChatStreamToMessages) -> None:
        self.translator = translator

    @property
    def ended(self) -> bool:
        return self.translator.ended

    def feed(self, upstream: bytes, forwarded: bytes) -> bytes:
        return self.translator.feed(forwarded) if forwarded else b""

    def finish(self) -> bytes:
        return self.translator.finish()


ANTHROPIC_MESSAGES = AnthropicMessages()
