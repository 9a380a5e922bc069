"""The /v1 ASGI application: authenticate, resolve the model in the key's channel, forward, stream back."""

import asyncio
import datetime as dt
import logging
import random
import secrets
import time
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from django.conf import settings

from apps.core.errors import HyditeError, error_json, error_sse_event
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
from apps.gateway.client_ip import client_ip
from apps.gateway.database import database_call
from apps.gateway.errors import (
    GatewayServerError,
    InvalidApiKey,
    InvalidRequest,
    MethodNotAllowed,
    ModelNotFound,
    RouteNotFound,
    UpstreamNotAllowed,
    UpstreamNotSupported,
    UpstreamStreamBroken,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUsageInvalid,
)
from apps.gateway.hosts import InstanceHosts
from apps.gateway.lookup import Snapshots, provider_secret
from apps.gateway.quota import PlanCache, QuotaPlan, Quotas, access_checks, model_refusal
from apps.gateway.record import RequestRecord, feature_id, provider_request_id
from apps.gateway.redis_wire import RedisWire
from apps.gateway.request_shape import RequestShape, request_shape
from apps.gateway.resolver import CheckedResolver, upstream_literal_check
from apps.gateway.spend_events import SpendEmitter
from apps.gateway.stream_quota import StreamAllowance, StreamCut
from apps.gateway.upstreams import ProviderNotSupported, adapter_for
from apps.gateway.upstreams.azure import DEFAULT_API_VERSION
from apps.gateway.upstreams.translation import MALFORMED, UnsupportedRequest
from apps.gateway.usage import (
    MAX_REPORTED_TOKENS,
    ImpossibleUsage,
    StreamTap,
    Usage,
    estimate_prompt_tokens,
    usage_from_body,
)
from apps.providers.url_safety import UnsafeUpstream
from apps.quotas.limits import GatewayDefaults, gateway_defaults_env
from apps.spend.selectors import spend_micros_since

logger = logging.getLogger("hydite.gateway")

JSON = (b"content-type", b"application/json")
PROXIED_PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}
STREAMABLE_PATHS = {"/chat/completions", "/completions"}


def _parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("You must provide a model parameter.", param="model")
    return body


def _pick(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    if len(deployments) == 1:
        return deployments[0]
    return random.choices(deployments, weights=[d["weight"] for d in deployments])[0]  # noqa: S311 - load spreading


def _upstream_body(body: dict[str, Any], path: str) -> tuple[dict[str, Any], bool]:
    """The body to forward, and whether the client wants the usage event of a stream.

    The provider is always asked for usage on streams, so that every stream is metered.
    """
    if not body.get("stream") or path not in STREAMABLE_PATHS:
        return body, True
    options = body.get("stream_options") or {}
    wants_usage = bool(options.get("include_usage"))
    if wants_usage:
        return body, True
    return {**body, "stream_options": {**options, "include_usage": True}}, False


RESERVATION_SWEEP_S = 30
MAX_CHECKED_URLS = 10_000


def _spent_since(scope: str, scope_id: int, start_iso: str, schema: str) -> int:
    return spend_micros_since(schema=schema, scope=scope, scope_id=scope_id, since=dt.datetime.fromisoformat(start_iso))


def _client_ip(scope: Scope) -> str:
    return client_ip(scope, settings.GATEWAY_TRUSTED_PROXIES, settings.GATEWAY_CLIENT_IP_HEADER)


# What a request that sets no completion limit is reserved (and, when it spends a budget, capped at) per
# choice: OpenAI's documented default for the legacy completions, the configured default for chat.
COMPLETIONS_DEFAULT_MAX_TOKENS = 16


def _completion_default(path: str) -> int:
    return COMPLETIONS_DEFAULT_MAX_TOKENS if path == "/completions" else settings.GATEWAY_DEFAULT_RESERVE_TOKENS


# Azure OpenAI knows max_completion_tokens from this API version on; older ones refuse it.
AZURE_COMPLETION_TOKENS_SINCE = "2024-09-01"


def _completion_cap(deployment: dict[str, Any], path: str) -> str:
    """The parameter that limits a completion: the o-series take only max_completion_tokens on OpenAI and on
    Azure's API versions that know it; other servers (and the legacy completions) know max_tokens."""
    if path != "/chat/completions":
        return "max_tokens"
    if deployment["provider"] == "openai":
        return "max_completion_tokens"
    if deployment["provider"] == "azure":
        version = deployment.get("api_version") or DEFAULT_API_VERSION
        return "max_completion_tokens" if version >= AZURE_COMPLETION_TOKENS_SINCE else "max_tokens"
    return "max_tokens"


class Gateway:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.snapshots: Snapshots | None = None
        self.hosts: InstanceHosts | None = None
        self.spend: SpendEmitter | None = None
        self.wire: RedisWire | None = None
        self.quotas: Quotas | None = None
        self.plans: PlanCache | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._checked_urls: set[str] = set()
        self.defaults = GatewayDefaults()

    async def startup(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=settings.GATEWAY_UPSTREAM_TIMEOUT_S, connect=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S
        )
        connector = aiohttp.TCPConnector(
            limit=0,
            ttl_dns_cache=300,
            keepalive_timeout=60,
            resolver=CheckedResolver(settings.GATEWAY_UPSTREAM_ALLOWLIST),
        )
        # No cookie jar: one session serves every tenant, and a provider's cookies must not cross between them.
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # A blocking pool: a burst waits briefly for a connection instead of failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=settings.GATEWAY_REDIS_MAX_CONNECTIONS,
            timeout=5,
            socket_connect_timeout=1,  # an outage must cost a request little, not the OS connect timeout
            socket_timeout=2,
        )
        redis = aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it
        self.snapshots = Snapshots(redis, ttl_s=settings.GATEWAY_SNAPSHOT_TTL_MS / 1000)
        self.hosts = InstanceHosts(redis)
        self.wire = RedisWire(settings.REDIS_URL, connect_timeout_s=1, reply_timeout_s=2)
        self.defaults = gateway_defaults_env()  # the instance's saved defaults ride in each key snapshot
        self.quotas = Quotas(
            self.wire, load_spent=database_call(_spent_since), fail_open=settings.GATEWAY_QUOTA_REDIS_DOWN == "open"
        )
        self.spend = SpendEmitter(self.wire, after_write=self.quotas.correct)
        self.spend.start()
        self.plans = PlanCache(self.defaults)
        self._sweeper = asyncio.create_task(self._sweep_reservations())

    async def _sweep_reservations(self) -> None:
        """Release budget and token reservations of processes that died before settling them."""
        while True:
            await asyncio.sleep(RESERVATION_SWEEP_S)
            try:
                await self._started(self.quotas).sweep()
            except Exception:
                logger.exception("reservation sweep failed; retrying in %s s", RESERVATION_SWEEP_S)

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.spend is not None:  # first: its last batch hands corrections to the quotas
            await self.spend.close()
        if self.quotas is not None:
            await self.quotas.close()
        if self.wire is not None:
            await self.wire.close()
        if self.session is not None:
            await self.session.close()
        if self.snapshots is not None:
            await self.snapshots.redis.aclose()

    def _check_literal_host(self, url: str) -> None:
        """aiohttp skips the resolver for IP literals, so those are checked here (once per URL)."""
        if url in self._checked_urls:
            return
        upstream_literal_check(url, settings.GATEWAY_UPSTREAM_ALLOWLIST)  # a name: CheckedResolver checks it
        if len(self._checked_urls) >= MAX_CHECKED_URLS:
            self._checked_urls.clear()
        self._checked_urls.add(url)

    @staticmethod
    def _started(resource: Any) -> Any:
        if resource is None:
            raise RuntimeError("the gateway is used before its lifespan startup")
        return resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.session is None:  # a server without lifespan support
            await self.startup()
        record = RequestRecord(request_id="req_" + secrets.token_hex(12), started=time.perf_counter())
        headers: Headers = [(b"x-request-id", record.request_id.encode())]
        response_started = False

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                record.status_code = message["status"]
            await send(message)

        try:
            await self._route(scope, receive, tracked_send, headers, record)
        except ClientDisconnected:
            record.fail(499, "client_disconnected")
        except StreamCut as cut:  # the stream's 200 is sent; its last events said why
            record.fail(cut.refusal.status, cut.refusal.code)
        except HyditeError as exc:
            record.fail(exc.status, exc.code)
            if not response_started:
                await send_bytes(send, exc.status, error_json(exc), [JSON, *headers, *exc.headers])
        except Exception:
            logger.exception("gateway error request_id=%s", record.request_id)
            record.fail(500, "internal_error")
            if not response_started:
                await send_bytes(send, 500, error_json(GatewayServerError()), [JSON, *headers])
        finally:
            # the event first: a batch that holds a correction holds the event it corrects for
            if record.key is not None and self.spend is not None:
                self.spend.emit(record.event())
            if record.admission is not None and record.admission.held:
                self._settle(record)

    def _settle(self, record: RequestRecord) -> None:
        """Queue the quota settlements with the request's spend event (one write, no extra round trip), or,
        for admissions made ahead of Redis, their corrections with the charges of their plan.

        A stream's extensions are filled in order with the real usage; the last takes what is left.
        """
        assert record.admission is not None  # noqa: S101
        tokens = record.usage.total_tokens if record.usage is not None else 0
        micros = record.cost_micros() or 0
        admissions = [record.admission, *record.extensions]
        for number, admission in enumerate(admissions, start=1):
            last = number == len(admissions)
            share_tokens = tokens if last else min(tokens, admission.tokens)
            share_micros = micros if last else min(micros, admission.micros)
            tokens, micros = tokens - share_tokens, micros - share_micros
            settlement = Quotas.settlement(admission, tokens=share_tokens, micros=share_micros)
            self._started(self.spend).emit_settlement(settlement)

    def _stream_allowance(
        self, key: dict[str, Any], plan: QuotaPlan, record: RequestRecord, *, completion_tokens: int
    ) -> StreamAllowance:
        assert record.deployment is not None  # noqa: S101
        block = settings.GATEWAY_STREAM_EXTEND_TOKENS
        price, _ = record.price()
        block_micros = price.cost_micros(prompt_tokens=0, completion_tokens=block, requests=0) if price else 0
        return StreamAllowance(
            self._started(self.quotas),
            key,
            plan,
            request_id=record.request_id,
            completion_tokens=completion_tokens,
            block_tokens=block,
            block_micros=block_micros,
        )

    async def _route(self, scope: Scope, receive: Receive, send: Send, headers: Headers, record: RequestRecord) -> None:
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
        await self._proxy(scope, receive, send, headers, path.removeprefix("/v1"), record)

    async def _key_and_channel(
        self, scope: Scope, ip: str, record: RequestRecord | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        snapshots: Snapshots = self._started(self.snapshots)
        schema = await self._started(self.hosts).schema(scope)
        key = await snapshots.key(bearer_key(scope))
        if key["schema"] != schema:  # a key works only on its own instance's hosts
            raise InvalidApiKey()
        if record is not None:
            record.key = key  # from here on, a refusal is in the key's ledger
        access_checks(key, client_ip=ip, now_ms=int(time.time() * 1000))
        return key, await snapshots.channel(schema=key["schema"], channel_id=key["channel_id"])

    async def _models(self, scope: Scope, send: Send, headers: Headers) -> None:
        key, channel = await self._key_and_channel(scope, _client_ip(scope))
        data = [
            {"id": alias, "object": "model", "created": 0, "owned_by": "hydite"}
            for alias, deployments in sorted(channel["models"].items())
            if deployments and model_refusal(key, alias) is None
        ]
        await send_bytes(send, 200, orjson.dumps({"object": "list", "data": data}), [JSON, *headers])

    async def _proxy(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, path: str, record: RequestRecord
    ) -> None:
        ip = _client_ip(scope)
        key, channel = await self._key_and_channel(scope, ip, record)
        body = _parse_json_body(await read_body(receive, settings.GATEWAY_MAX_BODY_BYTES))
        record.model_alias, record.stream = body["model"], body.get("stream") is True
        record.feature_id = feature_id(scope)
        deployments = channel["models"].get(body["model"])
        if not deployments:
            raise ModelNotFound(
                f"The model `{body['model']}` does not exist or you do not have access to it.", param="model"
            )
        refusal = model_refusal(key, body["model"])
        if refusal is not None:
            raise refusal
        shape = request_shape(path, body, image_tokens=settings.GATEWAY_IMAGE_RESERVE_TOKENS)
        deployment = _pick(deployments)
        record.deployment = deployment
        plan = self._started(self.plans).plan(key, ip)
        cap = self._bound(record, shape, path, plan)
        allowance = None
        if plan.layers:
            headers, allowance = await self._admit(key, plan, record, headers)
        if cap is not None:
            body = {**body, _completion_cap(deployment, path): cap}
        secret = provider_secret(deployment["secret"]) if deployment["secret"] else None
        upstream_body, client_wants_usage = _upstream_body(body, path)
        try:
            adapter = adapter_for(deployment["provider"])
        except ProviderNotSupported as exc:
            raise UpstreamNotSupported(str(exc)) from exc
        try:
            upstream = adapter.build_request(deployment=deployment, path=path, body=upstream_body, secret=secret)
        except UnsupportedRequest as exc:  # the provider cannot express this request
            raise InvalidRequest(str(exc), param="model") from exc
        except MALFORMED as exc:  # a shape request_shape let through and a translator cannot read: ours to fix
            logger.warning("translating a request for %s failed", deployment["provider"], exc_info=True)
            raise InvalidRequest(f"The request cannot be sent to a {deployment['provider']} model.") from exc
        resolved = f"{deployment['provider']}/{deployment['upstream_model']}".encode()
        headers = [*headers, (b"x-gateway-model-resolved", resolved)]
        session: aiohttp.ClientSession = self._started(self.session)
        record.provider_started = time.perf_counter()
        try:
            self._check_literal_host(upstream.url)
            async with await _upstream_post(session, upstream) as response:
                record.provider_request_id = provider_request_id(response.headers)
                if record.stream and response.status == 200:
                    tap = StreamTap(strip_usage_event=not client_wants_usage, measure=allowance is not None)
                    translator_class = getattr(adapter, "StreamTranslator", None)
                    translator = translator_class(include_usage=True) if translator_class else None
                    sent_tokens = None
                    try:
                        await self._stream(response, receive, send, headers, tap, translator, allowance)
                    except StreamCut as cut:
                        sent_tokens = cut.sent_tokens
                        raise
                    finally:
                        if allowance is not None:
                            await allowance.close()
                            record.extensions = allowance.extensions
                        self._stream_usage(record, tap, body, sent_tokens)
                else:
                    await self._relay(response, send, headers, record, adapter)
        except UnsafeUpstream as exc:
            raise UpstreamNotAllowed(str(exc)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout() from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"The model provider could not be reached ({type(exc).__name__}).") from exc
        finally:
            record.provider_finished = time.perf_counter()

    @staticmethod
    def _bound(record: RequestRecord, shape: RequestShape, path: str, plan: QuotaPlan) -> int | None:
        """Record the most the request can use; returns the completion limit to send it with (None: its own).

        A non-streamed request that spends a budget and sets no limit is sent with ours, so that what it
        reserves bounds what it can cost; a stream keeps its length and is bounded as it goes (StreamAllowance).
        """
        default = _completion_default(path)
        cap = shape.completion_tokens is None and shape.choices > 0 and plan.budgeted and not record.stream
        # a report above MAX_REPORTED_TOKENS is refused (billed at the reservation): more is never reserved, which
        # also keeps the window counters exact (2,048 prompts x n 128 x max_tokens 2**31-1 would be 5.6e14 tokens)
        prompt = min(shape.prompt_tokens, MAX_REPORTED_TOKENS)
        completion = min(shape.completion_bound(default), MAX_REPORTED_TOKENS)
        record.reserved = Usage(prompt, completion, prompt + completion, estimated=True)
        record.completion_capped = cap or shape.completion_tokens is not None
        record.images = shape.images
        return default if cap else None

    async def _admit(
        self, key: dict[str, Any], plan: QuotaPlan, record: RequestRecord, headers: Headers
    ) -> tuple[Headers, StreamAllowance | None]:
        """Reserve the request's bound on every layer; a stream's allowance when a layer counts its tokens."""
        assert record.reserved is not None  # noqa: S101 - _bound comes first
        price, _ = record.price()
        reserved = record.reserved
        tokens = {"prompt_tokens": reserved.prompt_tokens, "completion_tokens": reserved.completion_tokens}
        micros = price.cost_micros(**tokens) if price is not None else 0
        record.admission = await self._started(self.quotas).admit(
            key, plan, request_id=record.request_id, tokens=reserved.total_tokens, micros=micros
        )
        allowance = None
        if record.stream and record.admission.held and any(layer.tpm or layer.budget for layer in plan.layers):
            allowance = self._stream_allowance(key, plan, record, completion_tokens=reserved.completion_tokens)
        return [*headers, *record.admission.headers], allowance

    async def _relay(
        self, response: aiohttp.ClientResponse, send: Send, headers: Headers, record: RequestRecord, adapter: Any
    ) -> None:
        payload = await response.read()
        if 300 <= response.status < 400:
            raise UpstreamUnavailable("The model provider answered with a redirect; the gateway does not follow them.")
        if response.status >= 400:
            status = getattr(adapter, "STATUS_FOR_CLIENT", {}).get(response.status, response.status)
            error = adapter.error_from_upstream(response.status, payload)
            if status in {401, 403} or error.get("code") == "invalid_api_key":
                # The provider refused *our* credential; the caller's key is fine, so this is a gateway fault.
                status = 502
                error = {
                    **error,
                    "type": "api_error",
                    "code": "upstream_auth_failed",
                    "message": f"The model provider refused the gateway's credential: {error['message']}",
                }
            record.error_code = str(error.get("code") or error["type"])
            await send_bytes(send, status, orjson.dumps({"error": error}), [JSON, *headers])
            return
        translate = getattr(adapter, "translate_response", None)
        if translate is not None:
            try:
                payload = translate(payload)
            except MALFORMED as exc:
                raise UpstreamUnavailable("The model provider sent a response the gateway could not read.") from exc
        try:
            record.usage = record.usage_checked(usage_from_body(payload))
        except ImpossibleUsage as problem:
            record.bill_reservation(problem)
            raise UpstreamUsageInvalid() from None
        if record.usage is not None:
            headers = [*headers, (b"x-usage-total-tokens", str(record.usage.total_tokens).encode())]
        await send_bytes(send, response.status, payload, [JSON, *headers])

    @staticmethod
    def _stream_usage(record: RequestRecord, tap: StreamTap, body: dict[str, Any], sent_tokens: int | None) -> None:
        """What a stream used: as its provider reported it, else (cut short, or no report) an estimate."""
        reported = None
        if sent_tokens is None:
            try:
                reported = record.usage_checked(tap.final_usage())
            except ImpossibleUsage as problem:
                record.bill_reservation(problem)
                return
        completion = tap.completion_tokens_seen() if sent_tokens is None else sent_tokens
        record.usage = reported or record.estimate(
            prompt_tokens=estimate_prompt_tokens(body), completion_tokens=completion
        )

    async def _stream(
        self,
        response: aiohttp.ClientResponse,
        receive: Receive,
        send: Send,
        headers: Headers,
        tap: StreamTap,
        translator: Any = None,
        allowance: StreamAllowance | None = None,
    ) -> None:
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

        # The chunks are pumped in this task; a watcher task cancels it if the client goes away,
        # so a silent upstream is dropped at once rather than at its next chunk.
        pumping = asyncio.current_task()
        client_gone = False

        async def watch_disconnect() -> None:
            nonlocal client_gone
            while (await receive())["type"] != "http.disconnect":
                pass
            client_gone = True
            if pumping is not None:
                pumping.cancel()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            async for chunk in response.content.iter_any():
                forwarded = tap.feed(translator.feed(chunk) if translator is not None else chunk)
                if not forwarded:
                    continue
                if allowance is not None and not allowance.within(tap.loose_bound):
                    seen = tap.bound()  # the loose bound could not decide: the exact one
                    reach = None if allowance.within(seen) else await allowance.admit(seen)
                    if reach is not None:  # a layer ran out: the events within the allowance go, then the cut
                        fitting = tap.events_within(reach)
                        if fitting:
                            await send({"type": "http.response.body", "body": fitting, "more_body": True})
                        raise allowance.cut()
                await send({"type": "http.response.body", "body": forwarded, "more_body": True})
            closing = tap.feed(translator.finish()) if translator is not None else b""
            await send({"type": "http.response.body", "body": closing + tap.leftover(), "more_body": False})
        except StreamCut as cut:
            watcher.cancel()
            response.close()
            await send({"type": "http.response.body", "body": error_sse_event(cut.refusal), "more_body": False})
            raise
        except asyncio.CancelledError:
            if not client_gone:
                raise
            if pumping is not None:
                pumping.uncancel()
            response.close()
            raise ClientDisconnected from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            watcher.cancel()  # before the next await, so the watcher cannot cancel the error event
            broken = UpstreamStreamBroken(f"The model provider's stream broke ({type(exc).__name__}).")
            await send(
                {"type": "http.response.body", "body": tap.leftover() + error_sse_event(broken), "more_body": False}
            )
            raise broken from exc
        finally:
            watcher.cancel()


async def _upstream_post(session: aiohttp.ClientSession, upstream: Any) -> aiohttp.ClientResponse:
    # Redirects are never followed: an upstream must not bounce us (and our credential) elsewhere.
    try:
        return await session.post(upstream.url, data=upstream.body, headers=upstream.headers, allow_redirects=False)
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        # A pooled connection the upstream closed while idle (its keep-alive is often shorter than ours):
        # the request did not get through. Once more, on a new connection.
        return await session.post(upstream.url, data=upstream.body, headers=upstream.headers, allow_redirects=False)


gateway = Gateway()
