"""The /v1 ASGI application: authenticate, resolve the model in the key's channel, forward, stream back."""

import asyncio
import logging
import random
import secrets
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from django.conf import settings

from apps.core.errors import HyditeError
from apps.gateway.asgi_io import (
    ClientDisconnected,
    Headers,
    Message,
    Receive,
    Scope,
    Send,
    bearer_key,
    read_body,
    send_bytes,
)
from apps.gateway.errors import (
    GatewayServerError,
    MethodNotAllowed,
    ModelNotFound,
    RouteNotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_body,
)
from apps.gateway.lookup import Snapshots, provider_secret
from apps.gateway.upstreams.openai_compatible import build_request, error_from_upstream

logger = logging.getLogger("hydite.gateway")

JSON = (b"content-type", b"application/json")
PROXIED_PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}


class BadRequest(HyditeError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


def _parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("You must provide a model parameter.", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean.", param="stream")
    return body


def _pick(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    if len(deployments) == 1:
        return deployments[0]
    return random.choices(deployments, weights=[d["weight"] for d in deployments])[0]  # noqa: S311 - load spreading


class Gateway:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.snapshots: Snapshots | None = None

    async def startup(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=settings.GATEWAY_UPSTREAM_TIMEOUT_S, connect=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S
        )
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        self.snapshots = Snapshots(redis, ttl_s=settings.GATEWAY_SNAPSHOT_TTL_MS / 1000)

    async def shutdown(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.snapshots is not None:
            await self.snapshots.redis.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.session is None:  # a server without lifespan support
            await self.startup()
        request_id = "req_" + secrets.token_hex(12)
        base_headers: Headers = [(b"x-request-id", request_id.encode())]
        response_started = False

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self._route(scope, receive, tracked_send, base_headers)
        except ClientDisconnected:
            return
        except HyditeError as exc:
            if not response_started:
                await send_bytes(send, exc.status, error_body(exc), [JSON, *base_headers])
        except Exception:
            logger.exception("gateway error request_id=%s", request_id)
            if not response_started:
                await send_bytes(send, 500, error_body(GatewayServerError()), [JSON, *base_headers])

    async def _route(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        path, method = scope["path"].rstrip("/"), scope["method"]
        if path == "/v1/models":
            if method != "GET":
                raise MethodNotAllowed(f"Use GET for {path}.")
            await self._models(scope, send, headers)
            return
        if path not in PROXIED_PATHS:
            raise RouteNotFound(f"Invalid URL ({method} {scope['path']}).")
        if method != "POST":
            raise MethodNotAllowed(f"Use POST for {path}.")
        await self._proxy(scope, receive, send, headers, path.removeprefix("/v1"))

    async def _channel_for(self, scope: Scope) -> dict[str, Any]:
        snapshots = self._started(self.snapshots)
        key = await snapshots.key(bearer_key(scope))
        return await snapshots.channel(schema=key["schema"], channel_id=key["channel_id"])

    @staticmethod
    def _started(resource: Any) -> Any:
        if resource is None:
            raise RuntimeError("the gateway is used before its lifespan startup")
        return resource

    async def _models(self, scope: Scope, send: Send, headers: Headers) -> None:
        channel = await self._channel_for(scope)
        data = [
            {"id": alias, "object": "model", "created": 0, "owned_by": "hydite"}
            for alias, deployments in sorted(channel["models"].items())
            if deployments
        ]
        await send_bytes(send, 200, orjson.dumps({"object": "list", "data": data}), [JSON, *headers])

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, headers: Headers, path: str) -> None:
        channel = await self._channel_for(scope)
        body = _parse_json_body(await read_body(receive, settings.GATEWAY_MAX_BODY_BYTES))
        deployments = channel["models"].get(body["model"])
        if not deployments:
            raise ModelNotFound(
                f"The model `{body['model']}` does not exist or you do not have access to it.", param="model"
            )
        deployment = _pick(deployments)
        secret = provider_secret(deployment["secret"]) if deployment["secret"] else None
        upstream = build_request(deployment=deployment, path=path, body=body, secret=secret)
        headers = [
            *headers,
            (b"x-gateway-model-resolved", f"{deployment['provider']}/{deployment['upstream_model']}".encode()),
        ]
        session: aiohttp.ClientSession = self._started(self.session)
        try:
            async with session.post(upstream.url, data=upstream.body, headers=upstream.headers) as response:
                if body.get("stream") and response.status == 200:
                    await self._stream(response, receive, send, headers)
                else:
                    await self._relay(response, send, headers)
        except TimeoutError as exc:
            raise UpstreamTimeout() from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"The model provider could not be reached ({type(exc).__name__}).") from exc

    async def _relay(self, response: aiohttp.ClientResponse, send: Send, headers: Headers) -> None:
        payload = await response.read()
        if response.status >= 400:
            status, error = response.status, error_from_upstream(response.status, payload)
            if status in {401, 403}:
                # The provider refused *our* credential; the caller's key is fine, so this is a gateway fault.
                status = 502
                error = {
                    **error,
                    "type": "api_error",
                    "code": "upstream_auth_failed",
                    "message": f"The model provider refused the gateway's credential: {error['message']}",
                }
            await send_bytes(send, status, orjson.dumps({"error": error}), [JSON, *headers])
            return
        total_tokens = _total_tokens(payload)
        if total_tokens is not None:
            headers = [*headers, (b"x-usage-total-tokens", str(total_tokens).encode())]
        await send_bytes(send, response.status, payload, [JSON, *headers])

    async def _stream(self, response: aiohttp.ClientResponse, receive: Receive, send: Send, headers: Headers) -> None:
        """Pass upstream chunks through as they arrive; a client disconnect cancels the upstream read."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    *headers,
                ],
            }
        )

        async def pump() -> None:
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        pump_task, watch_task = asyncio.create_task(pump()), asyncio.create_task(disconnected())
        done, _ = await asyncio.wait({pump_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
        if watch_task in done:
            pump_task.cancel()
            response.close()
            return
        watch_task.cancel()
        try:
            pump_task.result()
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = {
                "message": f"The model provider's stream broke ({type(exc).__name__}).",
                "type": "api_error",
                "param": None,
                "code": "upstream_stream_error",
            }
            tail = b"data: " + orjson.dumps({"error": error}) + b"\n\ndata: [DONE]\n\n"
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _total_tokens(payload: bytes) -> int | None:
    try:
        usage = orjson.loads(payload).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) else None


gateway = Gateway()
