"""Step 7, relay (plain): the provider's whole answer, translated to OpenAI's shape, its usage checked."""

from apps.gateway.asgi_io import JSON, Send, send_bytes
from apps.gateway.context import RequestContext
from apps.gateway.errors import UpstreamUnavailable, UpstreamUsageInvalid
from apps.gateway.metering import bill_reservation, usage_checked
from apps.gateway.upstreams.base import ProviderAdapter
from apps.gateway.upstreams.translation import MALFORMED
from apps.gateway.usage import ImpossibleUsage

UNREADABLE = "The model provider sent a response the gateway could not read."


async def relay_response(status: int, payload: bytes, send: Send, ctx: RequestContext) -> None:
    """A successful answer (`payload`, read whole), translated, its usage checked."""
    adapter = ctx.adapter
    assert adapter is not None  # noqa: S101 - forwarded first
    upstream = payload
    try:
        payload = adapter.translate_response(payload)
    except MALFORMED as exc:
        raise UpstreamUnavailable(UNREADABLE) from exc
    try:
        ctx.usage = usage_checked(ctx, adapter.response_usage(payload))
    except ImpossibleUsage as problem:
        bill_reservation(ctx, problem)
        raise UpstreamUsageInvalid() from None
    if ctx.dialect is not None:
        try:
            payload = ctx.dialect.answer(payload, upstream, passthrough=ctx.passthrough, model=ctx.model_alias)
        except MALFORMED as exc:
            raise UpstreamUnavailable(UNREADABLE) from exc
    headers = ctx.headers
    if ctx.usage is not None:
        headers = [*headers, (b"x-usage-total-tokens", str(ctx.usage.total_tokens).encode())]
    await send_bytes(send, status, payload, [JSON, *headers])


def upstream_error(adapter: ProviderAdapter, upstream_status: int, payload: bytes) -> tuple[int, dict[str, object]]:
    """The status and OpenAI error object the client gets for a provider's error answer."""
    status = adapter.client_status(upstream_status)
    error = adapter.error_from_upstream(upstream_status, payload)
    if status in {401, 403} or error.get("code") == "invalid_api_key":
        # The provider refused *our* credential; the caller's key is fine, so this is a gateway fault.
        return 502, {
            **error,
            "type": "api_error",
            "code": "upstream_auth_failed",
            "message": f"The model provider refused the gateway's credential: {error['message']}",
        }
    return status, error
