"""Step 7, relay (stream): the provider's events pass through as they arrive (translated when the provider
has its own wire format), within the stream's quota allowance; a client that goes away stops the upstream."""

import asyncio

import aiohttp

from apps.core.errors import HyditeError, error_sse_event
from apps.gateway.asgi_io import ClientDisconnected, Receive, Send
from apps.gateway.context import RequestContext
from apps.gateway.dialects.base import ClientStream
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
    dialect = ctx.dialect
    client = dialect.client_stream(passthrough=ctx.passthrough, model=ctx.model_alias) if dialect else None
    await send({"type": "http.response.start", "status": 200, "headers": [*STREAM_HEADERS, *ctx.headers]})
    pumping = asyncio.current_task()
    client_gone = asyncio.Event()
    watcher = asyncio.create_task(_watch_disconnect(receive, pumping, client_gone))
    relay = _Relay(send, ctx.allowance, tap, client)
    try:
        await relay.forward(first, translator.feed(first) if translator is not None else first)
        async for chunk in response.content.iter_any():
            await relay.forward(chunk, translator.feed(chunk) if translator is not None else chunk)
        closing = tap.feed(translator.finish()) if translator is not None else b""
        await send({"type": "http.response.body", "body": relay.closing(closing + tap.leftover()), "more_body": False})
    except StreamCut as cut:
        watcher.cancel()
        response.close()
        await send({"type": "http.response.body", "body": _error_event(ctx, cut.refusal), "more_body": False})
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
        rest = relay.closing(tap.leftover(), ended=False)
        if relay.complete:  # the break came after the client's last event: it has the whole answer
            await send({"type": "http.response.body", "body": rest, "more_body": False})
            return
        broken = UpstreamStreamBroken(f"The model provider's stream broke ({type(exc).__name__}).")
        await send({"type": "http.response.body", "body": rest + _error_event(ctx, broken), "more_body": False})
        raise broken from exc
    finally:
        watcher.cancel()


def _error_event(ctx: RequestContext, exc: HyditeError) -> bytes:
    return error_sse_event(exc) if ctx.dialect is None else ctx.dialect.refusal_event(exc)


class _Relay:
    """Sends each upstream chunk's events within the allowance: as OpenAI's, or as the client's dialect."""

    def __init__(self, send: Send, allowance: StreamAllowance | None, tap: StreamTap, client: ClientStream | None):
        self.send, self.allowance, self.tap, self.client = send, allowance, tap, client

    async def forward(self, upstream: bytes, chunk: bytes) -> None:
        forwarded = self.tap.feed(chunk)
        if not forwarded and (self.client is None or not upstream):
            return
        if self.allowance is not None and not self.allowance.within(self.tap.loose_bound):
            forwarded, upstream = await self._within(forwarded, upstream)  # the allowance may run out: decide
        body = forwarded if self.client is None else self.client.feed(upstream, forwarded)
        if body:
            await self.send({"type": "http.response.body", "body": body, "more_body": True})

    async def _within(self, forwarded: bytes, upstream: bytes) -> tuple[bytes, bytes]:
        """The chunk whole if the exact bound fits or the allowance extends; else its events within it are
        sent (none of an untouched upstream chunk: it cannot be split by event), then StreamCut."""
        allowance, tap = self.allowance, self.tap
        assert allowance is not None  # noqa: S101
        seen = tap.bound()
        reach = None if allowance.within(seen) else await allowance.admit(seen)
        if reach is None:
            return forwarded, upstream
        fitting = tap.events_within(reach)
        body = fitting if self.client is None else self.client.feed(b"", fitting)
        if body:
            await self.send({"type": "http.response.body", "body": body, "more_body": True})
        raise allowance.cut()

    @property
    def complete(self) -> bool:
        """Whether the client's dialect stream has sent its last event (an OpenAI stream is never told so)."""
        return self.client is not None and self.client.ended

    def closing(self, rest: bytes, *, ended: bool = True) -> bytes:
        """The last events: what the tap held back, and the dialect's closing events when the stream ended."""
        if self.client is None:
            return rest
        return self.client.feed(b"", rest) + (self.client.finish() if ended else b"")


async def _watch_disconnect(receive: Receive, pumping: "asyncio.Task[object] | None", gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    if pumping is not None:
        pumping.cancel()
