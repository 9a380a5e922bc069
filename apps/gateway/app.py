"""The /v1 ASGI application: the process's shared parts, and one request's run through the pipeline
(pipeline.py) with its one error answer, spend event and quota settlement."""

import asyncio
import logging
import secrets
import time

import aiohttp
import redis.asyncio as aioredis
from django.conf import settings

from apps.core.errors import HyditeError, error_json
from apps.gateway.asgi_io import JSON, ClientDisconnected, Message, Receive, Scope, Send, send_bytes
from apps.gateway.context import RequestContext
from apps.gateway.errors import GatewayServerError
from apps.gateway.forward import LiteralHostCheck
from apps.gateway.hosts import InstanceHosts
from apps.gateway.lookup import Snapshots
from apps.gateway.metering import settlements, spend_event
from apps.gateway.pipeline import Parts, handle
from apps.gateway.quota import PlanCache, Quotas, StreamCut
from apps.gateway.redis_wire import RedisWire
from apps.gateway.resolver import CheckedResolver
from apps.gateway.router.health import Health
from apps.gateway.router.outcome import attempt_headers
from apps.gateway.router.shared import SharedHealth
from apps.gateway.router.state import RouterState
from apps.gateway.spend_events import SpendEmitter
from apps.quotas.limits import GatewayDefaults, gateway_defaults_env

logger = logging.getLogger("hydite.gateway")

RESERVATION_SWEEP_S = 30


def _session() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=settings.GATEWAY_UPSTREAM_TIMEOUT_S, connect=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S
    )
    connector = aiohttp.TCPConnector(
        limit=0, ttl_dns_cache=300, keepalive_timeout=60, resolver=CheckedResolver(settings.GATEWAY_UPSTREAM_ALLOWLIST)
    )
    # No cookie jar: one session serves every tenant, and a provider's cookies must not cross between them.
    # Answers are read as they come (auto_decompress=False): the providers are asked for no encoding (aiohttp
    # would offer gzip and deflate, and a provider that compresses would answer bytes no translation reads).
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        headers={"Accept-Encoding": "identity"},
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _redis() -> aioredis.Redis:
    # A blocking pool: a burst waits briefly for a connection instead of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=settings.GATEWAY_REDIS_MAX_CONNECTIONS,
        timeout=5,
        socket_connect_timeout=1,  # an outage must cost a request little, not the OS connect timeout
        socket_timeout=2,
    )
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it


class Gateway:
    def __init__(self) -> None:
        self.parts: Parts | None = None
        self.session: aiohttp.ClientSession | None = None
        self.snapshots: Snapshots | None = None
        self.hosts: InstanceHosts | None = None
        self.spend: SpendEmitter | None = None
        self.wire: RedisWire | None = None
        self.quotas: Quotas | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._health_sync: asyncio.Task[None] | None = None
        self.defaults = GatewayDefaults()

    async def startup(self) -> None:
        redis = _redis()
        self.session = _session()
        self.snapshots = Snapshots(redis, ttl_s=settings.GATEWAY_SNAPSHOT_TTL_MS / 1000)
        self.hosts = InstanceHosts(redis)
        self.wire = RedisWire(settings.REDIS_URL, connect_timeout_s=1, reply_timeout_s=2)
        self.defaults = gateway_defaults_env()  # the instance's saved defaults ride in each key snapshot
        self.quotas = Quotas(self.wire, fail_open=settings.GATEWAY_QUOTA_REDIS_DOWN == "open")
        self.spend = SpendEmitter(self.wire, after_write=self.quotas.correct)
        self.spend.start()
        shared = SharedHealth(redis, Health())
        self.parts = Parts(
            session=self.session,
            snapshots=self.snapshots,
            hosts=self.hosts,
            quotas=self.quotas,
            plans=PlanCache(self.defaults),
            literal_check=LiteralHostCheck(),
            router=RouterState(self.session, shared.health, shared),
        )
        self._sweeper = asyncio.create_task(self._sweep_reservations(self.quotas))
        self._health_sync = asyncio.create_task(shared.run())

    async def _sweep_reservations(self, quotas: Quotas) -> None:
        """Release budget and token reservations of processes that died before settling them."""
        while True:
            await asyncio.sleep(RESERVATION_SWEEP_S)
            try:
                await quotas.sweep()
            except Exception:
                logger.exception("reservation sweep failed; retrying in %s s", RESERVATION_SWEEP_S)

    async def shutdown(self) -> None:
        for task in (self._sweeper, self._health_sync):
            if task is not None:
                task.cancel()
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.parts is None:  # a server without lifespan support
            await self.startup()
        assert self.parts is not None  # noqa: S101
        ctx = RequestContext(request_id="req_" + secrets.token_hex(12), started=time.perf_counter(), scope=scope)
        request_id = (b"x-request-id", ctx.request_id.encode())
        ctx.headers.append(request_id)
        tracked = _StartTracking(send, ctx)
        try:
            await handle(self.parts, ctx, receive, tracked)
        except ClientDisconnected:
            ctx.fail(499, "client_disconnected")
        except StreamCut as cut:  # the stream's 200 is sent; its last events said why
            ctx.fail(cut.refusal.status, cut.refusal.code)
        except HyditeError as exc:
            ctx.fail(exc.status, exc.code)
            if not tracked.started:
                # the refusal's own headers and its attempts': what the steps gathered for an answer is not the error's
                routed = attempt_headers(ctx.attempts, ctx.aliases_tried) if ctx.attempts else []
                if ctx.dialect is None:
                    body, headers = error_json(exc), list(exc.headers)
                else:
                    body, headers = ctx.dialect.refusal(exc), ctx.dialect.refusal_headers(exc.headers)
                await send_bytes(send, exc.status, body, [JSON, request_id, *headers, *routed])
        except Exception:
            logger.exception("gateway error request_id=%s", ctx.request_id)
            ctx.fail(500, "internal_error")
            if not tracked.started:
                failed = GatewayServerError()
                body = error_json(failed) if ctx.dialect is None else ctx.dialect.refusal(failed)
                await send_bytes(send, 500, body, [JSON, request_id])
        finally:
            self._meter(ctx)

    def _meter(self, ctx: RequestContext) -> None:
        """The spend event, then the settlements of its reservations, queued to be written together (a batch
        that holds a correction holds the event it corrects for)."""
        if ctx.key is None or self.spend is None:
            return
        self.spend.emit(spend_event(ctx))
        if ctx.admission is not None and ctx.admission.held:
            for settlement in settlements(ctx):
                self.spend.emit_settlement(settlement)


class _StartTracking:
    """`send`, noting whether the response has started (an error after that cannot change the status)."""

    def __init__(self, send: Send, ctx: RequestContext) -> None:
        self.send, self.ctx, self.started = send, ctx, False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.ctx.status_code = message["status"]
        await self.send(message)


gateway = Gateway()
