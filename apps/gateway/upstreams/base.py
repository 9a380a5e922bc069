"""The one interface every provider adapter implements; adapters import no Django.

An adapter turns the gateway's internal request (OpenAI's chat/completions/embeddings body) into its
provider's wire request, and the provider's answer back into OpenAI's: the response body, the stream
events, the usage in them, and its errors (status and envelope).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


class BuildRequest(Protocol):
    def __call__(
        self, *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
    ) -> UpstreamRequest: ...


def _same(payload: bytes) -> bytes:
    return payload


@dataclass(frozen=True, slots=True)
class WireFormat:
    """A ProviderAdapter made of a wire format module's functions; by default the provider answers in
    OpenAI's shape (bodies and streams pass through)."""

    build: BuildRequest
    error: Callable[[int, bytes], dict[str, Any]]
    translate: Callable[[bytes], bytes] = _same
    translator: Callable[[], StreamTranslator] | None = None
    statuses: Mapping[int, int] = field(default_factory=dict)  # upstream error status → the client's

    def build_request(
        self, *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
    ) -> UpstreamRequest:
        return self.build(deployment=deployment, path=path, body=body, secret=secret)

    def translate_response(self, payload: bytes) -> bytes:
        return self.translate(payload)

    def stream_translator(self) -> StreamTranslator | None:
        return self.translator() if self.translator is not None else None

    def response_usage(self, payload: bytes) -> Usage | None:
        return usage_from_body(payload)

    def client_status(self, upstream_status: int) -> int:
        return self.statuses.get(upstream_status, upstream_status)

    def error_from_upstream(self, status: int, payload: bytes) -> dict[str, Any]:
        return self.error(status, payload)
