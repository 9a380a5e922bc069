"""One request to a deployment, until the first bytes of its answer: within the deployment's timeouts."""

import asyncio
import functools
from dataclasses import dataclass

import aiohttp
from django.conf import settings

from apps.channels.router_config import Timeouts
from apps.gateway.context import RequestContext
from apps.gateway.forward import LiteralHostCheck, upstream_post

FIRST_EVENT_MAX_BYTES = 64 * 1024


@dataclass(slots=True)
class Exchange:
    response: aiohttp.ClientResponse
    first: bytes  # a stream's bytes up to its first event (b"": it ended before one), or a whole answer


@functools.lru_cache(maxsize=256)
def client_timeout(connect_s: float | None, idle_s: float | None, total_s: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s, connect=connect_s, sock_read=idle_s)


async def exchange(
    session: aiohttp.ClientSession, ctx: RequestContext, timeouts: Timeouts, *, literal_check: LiteralHostCheck
) -> Exchange:
    """The response and its first bytes; one of forward.UPSTREAM_FAILURES if none came in time."""
    first_byte = timeouts["first_byte_s"]
    if first_byte is None:
        return await _exchange(session, ctx, timeouts, literal_check)
    async with asyncio.timeout(first_byte):
        return await _exchange(session, ctx, timeouts, literal_check)


async def _exchange(
    session: aiohttp.ClientSession, ctx: RequestContext, timeouts: Timeouts, literal_check: LiteralHostCheck
) -> Exchange:
    assert ctx.upstream is not None  # noqa: S101
    timeout = None  # the session's (the process's settings)
    connect, idle, total = timeouts["connect_s"], timeouts["idle_s"], timeouts["total_s"]
    if connect is not None or idle is not None or total is not None:
        timeout = client_timeout(
            connect if connect is not None else settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S,
            idle,
            total if total is not None else settings.GATEWAY_UPSTREAM_TIMEOUT_S,
        )
    response = await upstream_post(session, ctx.upstream, literal_check=literal_check, timeout=timeout)
    try:
        first = await (_first_event(response.content) if ctx.stream and response.status == 200 else response.read())
    except BaseException:
        response.release()
        raise
    return Exchange(response, first)


async def _first_event(content: aiohttp.StreamReader) -> bytes:
    """A stream's bytes up to its first event's data; b"" when it ends before one: comments, keep-alives or
    anything but events are no answer yet, and the request may still go elsewhere."""
    first = b""
    while len(first) < FIRST_EVENT_MAX_BYTES:
        chunk = await content.readany()
        if not chunk:
            return b""
        first += chunk
        if first.startswith(b"data:") or b"\ndata:" in first:
            return first
    return first  # that much without an event: relayed as it is
