"""A client dialect: an API other than OpenAI's chat completions that clients speak to /v1 (Anthropic's
Messages, …). The pipeline runs on OpenAI's chat request and answers (its one internal form); a dialect
translates the client's request into it and the answers back, or passes both through untouched to a
deployment whose provider speaks the dialect itself (the upstream's answer is then translated only to be
metered)."""

from collections.abc import Sequence
from typing import Any, Protocol

from apps.channels.snapshots import DeploymentSnapshot
from apps.core.errors import Header, HyditeError
from apps.gateway.asgi_io import Scope
from apps.gateway.request_shape import RequestShape
from apps.gateway.upstreams.base import UpstreamRequest


class ClientStream(Protocol):
    """The client's events, chunk by chunk."""

    @property
    def ended(self) -> bool:
        """Whether the client's stream is complete (its last event sent): nothing may follow."""
        ...

    def feed(self, upstream: bytes, forwarded: bytes) -> bytes:
        """What the client gets for one upstream chunk (`upstream`, untouched) whose OpenAI events within the
        stream's allowance are `forwarded`."""
        ...

    def finish(self) -> bytes:
        """What the client gets when the upstream stream has ended."""
        ...


class Dialect(Protocol):
    path: str  # the internal (OpenAI) path its requests become, e.g. "/chat/completions"

    def shape(self, body: dict[str, Any], *, image_tokens: int) -> RequestShape:
        """The client's body checked as its API checks it (InvalidParameter…), and its token bounds."""
        ...

    def internal_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The client's (checked) body as the pipeline's OpenAI request."""
        ...

    def passes_through(self, provider: str) -> bool:
        """Whether a deployment of `provider` gets the client's request untouched."""
        ...

    def passthrough_request(
        self, *, deployment: DeploymentSnapshot, body: dict[str, Any], secret: str | None, scope: Scope
    ) -> UpstreamRequest: ...

    def answer(self, translated: bytes, upstream: bytes, *, passthrough: bool, model: str) -> bytes:
        """The client's answer from the upstream's (`upstream`) and its OpenAI form (`translated`)."""
        ...

    def client_stream(self, *, passthrough: bool, model: str) -> ClientStream: ...

    def upstream_error(self, status: int, error: dict[str, Any], *, upstream_status: int) -> tuple[int, bytes]:
        """A provider's error (as the client's OpenAI status and error object) in the dialect's envelope."""
        ...

    def refusal(self, exc: HyditeError) -> bytes:
        """The gateway's own refusal in the dialect's envelope (its status is the refusal's)."""
        ...

    def refusal_event(self, exc: HyditeError) -> bytes:
        """The same, as the last event of a stream whose 200 is already sent."""
        ...

    def refusal_headers(self, headers: Sequence[Header]) -> list[Header]:
        """The refusal's headers (retry-after, x-ratelimit-*), with the dialect's own names for them."""
        ...
