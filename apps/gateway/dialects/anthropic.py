"""Anthropic's Messages API as a dialect (POST /v1/messages): Claude Code and the Anthropic SDKs.

To Anthropic deployments the request goes untouched (prompt caching, thinking and its signatures, documents,
betas: `anthropic-version` and `anthropic-beta` are forwarded) and so does the answer; to every other
deployment it is translated to the pipeline's OpenAI request, and the answers back (see the modules beside).
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson

from apps.channels.snapshots import DeploymentSnapshot
from apps.core.errors import Header, HyditeError
from apps.gateway.asgi_io import Scope, header
from apps.gateway.dialects.anthropic_errors import anthropic_error, hydite_error, hydite_error_event
from apps.gateway.dialects.anthropic_request import messages_to_chat
from apps.gateway.dialects.anthropic_response import chat_to_message
from apps.gateway.dialects.anthropic_shape import messages_shape
from apps.gateway.dialects.anthropic_stream import ChatStreamToMessages
from apps.gateway.request_shape import RequestShape
from apps.gateway.upstreams.anthropic import API_VERSION, messages_url
from apps.gateway.upstreams.base import UpstreamRequest

PASSED_HEADERS = (b"anthropic-version", b"anthropic-beta")
PASSED_HEADER_MAX = 2048
OVERLOADED = 529  # Anthropic's own status, which its clients retry


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
        upstream = {**body, "model": deployment["upstream_model"]}
        return UpstreamRequest(url=messages_url(deployment["api_base"]), headers=headers, body=orjson.dumps(upstream))

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
    """The client's header, if it is a printable value of a sane length (it goes into our upstream request)."""
    raw = header(scope, name)
    if raw is None or len(raw) > PASSED_HEADER_MAX:
        return None
    value = raw.decode("latin-1").strip()
    return value if value.isprintable() else None


class _Untouched:
    """The upstream's own events (the provider speaks the dialect)."""

    def feed(self, upstream: bytes, forwarded: bytes) -> bytes:
        return upstream

    def finish(self) -> bytes:
        return b""


class _Translated:
    def __init__(self, translator: ChatStreamToMessages) -> None:
        self.translator = translator

    def feed(self, upstream: bytes, forwarded: bytes) -> bytes:
        return self.translator.feed(forwarded) if forwarded else b""

    def finish(self) -> bytes:
        return self.translator.finish()


ANTHROPIC_MESSAGES = AnthropicMessages()
