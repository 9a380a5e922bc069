"""The hot path's Redis connection: packed commands, pipelined on one multiplexed connection per process.

redis-py encodes every argument of every command on every call and takes a pooled connection, a
lock and a timer for each; a quota admission has some forty arguments, most of them the same for
every request of a key. Here a command is RESP bytes: the constant parts are packed once (see
`QuotaPlan`), the few that change per request. Every caller's commands written in one event-loop
turn leave in one write; replies come back in order on the same connection and are handed to each
caller as a list. A connection that fails, or that leaves a reply unanswered for `reply_timeout_s`,
fails every caller waiting on it with redis-py's ConnectionError / TimeoutError and is replaced at
the next call. The cold paths (snapshots, sweeps) keep using redis-py.
"""

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import hiredis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int


def _bulk(value: Arg) -> bytes:
    raw = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(raw), raw)


def resp_args(values: Iterable[Arg]) -> bytes:
    """Arguments as RESP bulk strings, to be placed after a `resp_header`."""
    return b"".join([_bulk(value) for value in values])


def resp_header(count: int) -> bytes:
    """The array header of a command with `count` parts (name included)."""
    return b"*%d\r\n" % count


def resp_command(*parts: Arg) -> bytes:
    return resp_header(len(parts)) + resp_args(parts)


def _reply_error(message: str) -> ResponseError:
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)


class _Batch:
    __slots__ = ("expected", "future", "replies", "sent_at")

    def __init__(self, expected: int, future: asyncio.Future[list[Any]]) -> None:
        self.expected, self.future = expected, future
        self.replies: list[Any] = []
        self.sent_at = time.monotonic()


class _WireProtocol(asyncio.Protocol):
    def __init__(self, on_lost: Any) -> None:
        self.reader = hiredis.Reader(replyError=_reply_error)
        self.waiting: deque[_Batch] = deque()
        self.outgoing: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.failure: Exception | None = None
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.fail(RedisConnectionError("Redis sent a reply that no command asked for"))
                return
            batch = self.waiting[0]
            batch.replies.append(reply)
            if len(batch.replies) == batch.expected:
                self.waiting.popleft()
                if not batch.future.done():
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed'}"))

    def send(self, commands: list[bytes], future: asyncio.Future[list[Any]]) -> None:
        if self.failure is not None:
            future.set_exception(self.failure)
            return
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self._flush)  # everything written this turn leaves together
        self.outgoing += commands
        self.waiting.append(_Batch(len(commands), future))

    def _flush(self) -> None:
        if self.transport is not None and self.outgoing and self.failure is None:
            self.transport.write(b"".join(self.outgoing))
        self.outgoing = []

    def overdue(self, timeout_s: float) -> bool:
        return bool(self.waiting) and time.monotonic() - self.waiting[0].sent_at > timeout_s

    def fail(self, error: Exception) -> None:
        if self.failure is None:
            self.failure = error
            self._on_lost(self)
        while self.waiting:
            batch = self.waiting.popleft()
            if not batch.future.done():
                batch.future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class RedisWire:
    def __init__(self, url: str, *, connect_timeout_s: float = 1.0, reply_timeout_s: float = 2.0) -> None:
        self.options = parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        self.connect_timeout_s, self.reply_timeout_s = connect_timeout_s, reply_timeout_s
        self._protocol: _WireProtocol | None = None
        self._connecting: asyncio.Task[_WireProtocol] | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def execute(self, commands: list[bytes]) -> list[Any]:
        """The replies to `commands`, in order; an error reply is a ResponseError value, not raised."""
        if not commands:  # no reply would ever complete it: it would take the next caller's replies
            return []
        protocol = self._protocol or await self._connect()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        protocol.send(commands, future)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self.reply_timeout_s / 2, self._watch)
        return await future

    def _watch(self) -> None:
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.waiting:
            return
        if protocol.overdue(self.reply_timeout_s):
            protocol.fail(RedisTimeoutError(f"Redis did not answer within {self.reply_timeout_s} s"))
            return
        self._watchdog = asyncio.get_running_loop().call_later(self.reply_timeout_s / 2, self._watch)

    def _lost(self, protocol: _WireProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None

    async def _connect(self) -> _WireProtocol:
        # One attempt at a time: a burst of requests waits on the same connect, it does not open hundreds.
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._open())
        task = self._connecting
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._connecting is task:
                self._connecting = None

    async def _open(self) -> _WireProtocol:
        loop = asyncio.get_running_loop()
        options = self.options
        protocol: _WireProtocol | None = None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if options.get("path"):
                    _, protocol = await loop.create_unix_connection(lambda: _WireProtocol(self._lost), options["path"])
                else:
                    tls = ssl.create_default_context() if options.get("connection_class") is SSLConnection else None
                    _, protocol = await loop.create_connection(
                        lambda: _WireProtocol(self._lost),
                        options.get("host", "localhost"),
                        options.get("port", 6379),
                        ssl=tls,
                    )
                await self._handshake(protocol)
        except (OSError, TimeoutError) as exc:
            if protocol is not None:
                protocol.fail(RedisConnectionError("Redis did not finish the handshake"))
            raise RedisConnectionError(f"Cannot connect to Redis: {exc or type(exc).__name__}") from exc
        self._protocol = protocol
        return protocol

    async def _handshake(self, protocol: _WireProtocol) -> None:
        options = self.options
        commands = []
        if options.get("password"):
            credentials = (
                [options["username"], options["password"]] if options.get("username") else [options["password"]]
            )
            commands.append(resp_command(b"AUTH", *credentials))
        if options.get("db"):
            commands.append(resp_command(b"SELECT", options["db"]))
        if not commands:
            return
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        protocol.send(commands, future)
        for reply in await future:
            if isinstance(reply, Exception):
                protocol.fail(reply)
                raise reply

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
