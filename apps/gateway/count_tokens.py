"""POST /v1/messages/count_tokens, Anthropic's: the input tokens of a Messages request. For an alias whose
first deployment is Anthropic's, Anthropic counts them (exact); any other alias gets an estimate, 4 bytes a
token of the request's messages, system prompt and tools. Nothing is generated: the call is not metered."""

from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.asgi_io import JSON, Receive, Send, read_body, send_bytes
from apps.gateway.authenticate import authenticate
from apps.gateway.context import RequestContext
from apps.gateway.dialects.anthropic import ANTHROPIC_MESSAGES
from apps.gateway.dialects.anthropic_shape import messages_shape
from apps.gateway.errors import UpstreamUnavailable
from apps.gateway.forward import UPSTREAM_FAILURES, upstream_failure, upstream_post
from apps.gateway.lookup import provider_secret
from apps.gateway.parse import parse_body
from apps.gateway.router.plan import route_plan
from apps.gateway.upstreams.base import UpstreamRequest

if TYPE_CHECKING:
    from apps.gateway.pipeline import Parts

BYTES_PER_TOKEN = 4
NO_OUTPUT_LIMIT = 2**31 - 1  # count_tokens takes no max_tokens: the shape check gets one no thinking budget reaches
COUNTED_FIELDS = ("system", "messages", "tools")


async def count_tokens_answer(parts: "Parts", ctx: RequestContext, receive: Receive, send: Send) -> None:
    """The count, in Anthropic's shape (its errors in Anthropic's envelope: the route's dialect)."""
    key, channel = await authenticate(ctx.scope, client_ip=ctx.client_ip, hosts=parts.hosts, snapshots=parts.snapshots)
    body = parse_body(await read_body(receive, settings.GATEWAY_MAX_BODY_BYTES))
    plan = route_plan(key, channel, body["model"], ctx.scope)
    messages_shape({**body, "max_tokens": NO_OUTPUT_LIMIT}, image_tokens=settings.GATEWAY_IMAGE_RESERVE_TOKENS)
    deployment = plan.routes[0].deployments[0]
    if ANTHROPIC_MESSAGES.passes_through(deployment["provider"]):
        status, answer = await _counted_upstream(parts, ctx, deployment, body)
    else:
        status, answer = 200, orjson.dumps({"input_tokens": estimated_input_tokens(body)})
    await send_bytes(send, status, answer, [JSON, *ctx.headers])


def estimated_input_tokens(body: dict[str, Any]) -> int:
    counted = {name: body[name] for name in COUNTED_FIELDS if name in body}
    return max(1, -(-len(orjson.dumps(counted)) // BYTES_PER_TOKEN))


async def _counted_upstream(
    parts: "Parts", ctx: RequestContext, deployment: DeploymentSnapshot, body: dict[str, Any]
) -> tuple[int, bytes]:
    secret = provider_secret(deployment["secret"]) if deployment["secret"] else None
    messages = ANTHROPIC_MESSAGES.passthrough_request(deployment=deployment, body=body, secret=secret, scope=ctx.scope)
    upstream = UpstreamRequest(url=messages.url + "/count_tokens", headers=messages.headers, body=messages.body)
    try:
        response = await upstream_post(parts.session, upstream, literal_check=parts.literal_check)
    except UPSTREAM_FAILURES as exc:
        raise upstream_failure(exc) from exc
    try:
        payload = await response.read()
    finally:
        response.release()
    if response.status != 200:
        status, error = response.status, {"message": "The model provider could not count the tokens."}
        return ANTHROPIC_MESSAGES.upstream_error(502 if status in {401, 403} else status, error, upstream_status=status)
    counted = _input_tokens(payload)
    if counted is None:
        raise UpstreamUnavailable("The model provider sent a token count the gateway could not read.")
    return 200, orjson.dumps({"input_tokens": counted})


def _input_tokens(payload: bytes) -> int | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    value = parsed.get("input_tokens") if isinstance(parsed, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None
