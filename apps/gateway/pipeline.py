"""One /v1 request, step by step. Each step is a plain function of its own module; what a step produces
is kept in the request's RequestContext for the steps after it.

    parse → authenticate → resolve (route) → price → admit → forward and relay (with retries and
    fallbacks, see router/) → settle and meter

(settle and meter run whatever happened, in `Gateway.__call__`: see app.py.)
"""

from dataclasses import dataclass

import aiohttp
import orjson
from django.conf import settings

from apps.gateway.admission import admit
from apps.gateway.asgi_io import JSON, Receive, Send, read_body, send_bytes
from apps.gateway.authenticate import authenticate
from apps.gateway.client_ip import client_ip
from apps.gateway.context import RequestContext
from apps.gateway.count_tokens import count_tokens_answer
from apps.gateway.errors import ModelNotFound
from apps.gateway.forward import LiteralHostCheck
from apps.gateway.hosts import InstanceHosts
from apps.gateway.lookup import Snapshots
from apps.gateway.metering import feature_id
from apps.gateway.parse import COUNT_TOKENS_PATH, MODELS_PATH, parse_body, parse_route, path_dialect
from apps.gateway.quota import PlanCache, Quotas
from apps.gateway.request_shape import RequestShape, request_shape
from apps.gateway.reservation import price_request, reserve
from apps.gateway.router.attempts import forward_and_relay
from apps.gateway.router.plan import callable_aliases, route_plan
from apps.gateway.router.state import RouterState


@dataclass(frozen=True, slots=True)
class Parts:
    """What every request uses: made once per process at startup (see app.py)."""

    session: aiohttp.ClientSession
    snapshots: Snapshots
    hosts: InstanceHosts
    quotas: Quotas
    plans: PlanCache
    literal_check: LiteralHostCheck
    router: RouterState


async def handle(parts: Parts, ctx: RequestContext, receive: Receive, send: Send) -> None:
    ctx.dialect = path_dialect(ctx.scope["path"])  # before the route is known: its refusal is in the dialect
    route = parse_route(ctx.scope)
    ctx.client_ip = client_ip(ctx.scope, settings.GATEWAY_TRUSTED_PROXIES, settings.GATEWAY_CLIENT_IP_HEADER)
    if route.path == MODELS_PATH:
        await models_answer(parts, ctx, send, model=route.model)
        return
    if route.path == COUNT_TOKENS_PATH:
        ctx.dialect = route.dialect
        await count_tokens_answer(parts, ctx, receive, send)
        return
    ctx.dialect = route.dialect
    ctx.path = route.path.removeprefix("/v1") if route.dialect is None else route.dialect.path
    key, ctx.channel = await authenticate(
        ctx.scope, client_ip=ctx.client_ip, hosts=parts.hosts, snapshots=parts.snapshots
    )
    ctx.key = key
    parse(ctx, await read_body(receive, settings.GATEWAY_MAX_BODY_BYTES), model=route.model)
    shape = resolve(ctx)
    plan = parts.plans.plan(key, ctx.client_ip)
    reserve(ctx, shape, budgeted=plan.budgeted)
    price_request(ctx)
    if plan.layers:
        await admit(ctx, plan, quotas=parts.quotas)
    await forward_and_relay(parts.router, ctx, receive, send, literal_check=parts.literal_check)


def parse(ctx: RequestContext, raw: bytes, *, model: str | None = None) -> None:
    ctx.body = parse_body(raw, model=model)
    ctx.model_alias, ctx.stream = ctx.body["model"], ctx.body.get("stream") is True
    ctx.feature_id = feature_id(ctx.scope)


def resolve(ctx: RequestContext) -> RequestShape:
    assert ctx.key is not None and ctx.channel is not None  # noqa: S101 - authenticated first
    ctx.route_plan = route_plan(ctx.key, ctx.channel, ctx.model_alias, ctx.scope)
    image_tokens = settings.GATEWAY_IMAGE_RESERVE_TOKENS
    if ctx.dialect is None:
        shape = ctx.shape = request_shape(ctx.path, ctx.body, image_tokens=image_tokens)
        return shape
    shape = ctx.shape = ctx.dialect.shape(ctx.body, image_tokens=image_tokens)
    ctx.dialect_body, ctx.body = ctx.body, ctx.dialect.internal_body(ctx.body)
    return shape


async def models_answer(parts: Parts, ctx: RequestContext, send: Send, *, model: str | None) -> None:
    """GET /v1/models: the aliases the key may call, in OpenAI's list shape; GET /v1/models/{id}: one of
    them (ModelNotFound for any the key cannot call)."""
    key, channel = await authenticate(ctx.scope, client_ip=ctx.client_ip, hosts=parts.hosts, snapshots=parts.snapshots)
    aliases = callable_aliases(key, channel)
    if model is None:
        answer: dict[str, object] = {"object": "list", "data": [_model_object(alias) for alias in aliases]}
    elif model in aliases:
        answer = _model_object(model)
    else:
        raise ModelNotFound(f"The model `{model[:200]}` does not exist or you do not have access to it.", param="model")
    await send_bytes(send, 200, orjson.dumps(answer), [JSON, *ctx.headers])


def _model_object(alias: str) -> dict[str, object]:
    return {"id": alias, "object": "model", "created": 0, "owned_by": "hydite"}
