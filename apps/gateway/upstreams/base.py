"""The one interface every provider adapter implements; adapters import no Django.

An adapter turns the gateway's internal request (OpenAI's chat/completions/embeddings body) into its
provider's wire request, and the provider's answer back into OpenAI's: the response body, the stream
events, the usage in them, and its errors (status and envelope).
"""

from dataclasses import dataclass
from typing import Any, Protocol

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.usage import Usage, usage_from_body


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes


class StreamTranslator(Protocol):
    """A provider's SSE events in, OpenAI chat.completion.chunk events out, piece by piece."""

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class ProviderAdapter(Protocol):
    def build_request(
        self, *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
    ) -> UpstreamRequest:
        """`path` is the OpenAI path after /v1, e.g. "/chat/completions"; UnsupportedRequest if the
        provider cannot express it, one of `translation.MALFORMED` if the body cannot be read."""
        ...

    def translate_response(self, payload: bytes) -> bytes:
        """A successful response body in OpenAI's shape (one of `translation.MALFORMED` if unreadable)."""
        ...

    def stream_translator(self) -> StreamTranslator | None:
        """A fresh translator for one stream (None: the provider streams OpenAI's events already)."""
        ...

    def response_usage(self, payload: bytes) -> Usage | None:
        """The usage in a translated response body; ImpossibleUsage if no request could have used it."""
        ...

    def client_status(self, upstream_status: int) -> int:
        """The status the client gets for an upstream error status."""
        ...

    def error_from_upstream(self, status: int, payload: bytes) -> dict[str, Any]:
        """The upstream's error as OpenAI's error object (message, type, param, code)."""
        ...


class OpenAIShaped:
    """What an adapter of a provider that answers in OpenAI's shape does: pass bodies and streams through."""

    def translate_response(self, payload: bytes) -> bytes:
        return payload

    def stream_translator(self) -> StreamTranslator | None:
        return None

    def response_usage(self, payload: bytes) -> Usage | None:
        return usage_from_body(payload)

    def client_status(self, upstream_status: int) -> int:
        return upstream_status
