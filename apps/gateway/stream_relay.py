"""Step 7, relay (stream): the provider's events pass through as they arrive (translated when the provider
has its own wire format), within the stream's quota allowance; a client that goes away stops the upstream."""

import asyncio

import aiohttp

from apps.core.errors import error_sse_event
from apps.gateway.asgi_io import ClientDisconnected, Receive, Send
from apps.gateway.context import RequestContext
from apps.gateway.errors import UpstreamStreamBroken
from apps.gateway.metering import bill_reservation, usage_checked
from apps.gateway.quota import StreamAllowance, StreamCut
from apps.gateway.upstreams.base import StreamTranslator
from apps.gateway.usage import ImpossibleUsage, StreamTap, Usage, estimate_prompt_tokens

STREAM_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


async def relay_stream(
    response: aiohttp.ClientResponse, first: bytes, receive: Receive, send: Send, ctx: RequestContext
) -> None:
    """Relay the stream (its `first` bytes already read); then what it used: as its provider reported it,
    else (cut short, or no report) an estimate of what was sent."""
    assert ctx.adapter is not None  # noqa: S101 - forwarded first
    tap = StreamTap(strip_usage_event=not ctx.client_wants_usage, measure=ctx.allowance is not None)
    sent_tokens = None
    try:
        await _pump(response, first, (receive, send), ctx, tap, ctx.adapter.stream_translator())
    except StreamCut as cut:
        sent_tokens = cut.sent_tokens
        raise
    finally:
        if ctx.allowance is not None:
            await ctx.allowance.close()
            ctx.extensions = ctx.allowance.extensions
        _stream_usage(ctx, tap, sent_tokens)


def _stream_usage(ctx: RequestContext, tap: StreamTap, sent_tokens: int | None) -> None:
    reported = None
    if sent_tokens is None:
        try:
            reported = usage_checked(ctx, tap.final_usage())
        except ImpossibleUsage as problem:
            bill_reservation(ctx, problem)
            return
    completion = tap.completion_tokens_seen() if sent_tokens is None else sent_tokens
    prompt = estimate_prompt_tokens(ctx.body)
    ctx.usage = reported or Usage(prompt, completion, prompt + completion, estimated=True)


async def _pump(
    response: aiohttp.ClientResponse,
    first: bytes,
    wire: tuple[Receive, Send],
    ctx: RequestContext,
    tap: StreamTap,
    translator: StreamTranslator | None,
) -> None:
    """Pass upstream chunks through as they arrive; a client disconnect cancels the upstream read.

    The chunks are pumped in this task; a watcher task cancels it if the client goes away, so a silent
    upstream is dropped at once rather than at its next chunk.
    """
    receive, send = wire
    await send({"type": "http.response.start", "status": 200, "headers": [*STREAM_HEADERS, *ctx.headers]})
    pumping = asyncio.current_task()
    client_gone = asyncio.Event()
    watcher = asyncio.create_task(_watch_disconnect(receive, pumping, client_gone))
    try:
        await _forward(send, ctx.allowance, tap, translator.feed(first) if translator is not None else first)
        async for chunk in response.content.iter_any():
            await _forward(send, ctx.allowance, tap, translator.feed(chunk) if translator is not None else chunk)
        closing = tap.feed(translator.finish()) if translator is not None else b""
        await send({"type": "http.response.body", "body": closing + tap.leftover(), "more_body": False})
    except StreamCut as cut:
        watcher.cancel()
        response.close()
        await send({"type": "http.response.body", "body": error_sse_event(cut.refusal), "more_body": False})
        raise
    except asyncio.CancelledError:
        if not client_gone.is_set():
            raise
        if pumping is not None:
            pumping.uncancel()
        response.close()
        raise ClientDisconnected from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        watcher.cancel()  # before the next await, so the watcher cannot cancel the error event
        broken = UpstreamStreamBroken(f"The model provider's stream broke ({type(exc).__name__}).")
        await send({"type": "http.response.body", "body": tap.leftover() + error_sse_event(broken), "more_body": False})
        raise broken from exc
    finally:
        watcher.cancel()


async def _forward(send: Send, allowance: StreamAllowance | None, tap: StreamTap, chunk: bytes) -> None:
    forwarded = tap.feed(chunk)
    if not forwarded:
        return
    if allowance is not None and not allowance.within(tap.loose_bound):
        await _send_within(send, tap, forwarded, allowance)  # the allowance may run out: decide
    else:
        await send({"type": "http.response.body", "body": forwarded, "more_body": True})


async def _send_within(send: Send, tap: StreamTap, forwarded: bytes, allowance: StreamAllowance) -> None:
    """Send the events of a chunk the loose bound could not clear: whole if the exact bound fits or the
    allowance extends; else those within it, then StreamCut."""
    seen = tap.bound()
    reach = None if allowance.within(seen) else await allowance.admit(seen)
    if reach is not None:  # a layer ran out: the events within the allowance go, then the cut
        fitting = tap.events_within(reach)
        if fitting:
            await send({"type": "http.response.body", "body": fitting, "more_body": True})
        raise allowance.cut()
    await send({"type": "http.response.body", "body": forwarded, "more_body": True})


async def _watch_disconnect(receive: Receive, pumping: "asyncio.Task[object] | None", gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    if pumping is not None:
        pumping.cancel()
