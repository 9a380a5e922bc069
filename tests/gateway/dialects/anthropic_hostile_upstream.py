"""An upstream that misbehaves the ways the mock provider cannot, on a socket of its own: the recorded Messages
stream (tests/fixtures/wire/anthropic) cut short, torn inside an event, or reset after its end, the recorded
chat completions stream (…/openai) reset after its end, the recorded message gzipped when the request accepts
it (`gzip`); every request's headers kept, to see what the gateway sends a provider.

The path names the behaviour, like the mock's virtual providers: `/mock/<behaviour>[.<anything>]/v1/messages`
(routing_world's `Upstream(target, provider=ANTHROPIC, root=...)` points there) or `…/v1/chat/completions`.
"""

import asyncio
import gzip
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

WIRE = Path(__file__).resolve().parents[2] / "fixtures" / "wire"
EVENTS = [event + b"\n\n" for event in (WIRE / "anthropic" / "messages_stream.sse").read_bytes().strip().split(b"\n\n")]
MESSAGE = (WIRE / "anthropic" / "messages.json").read_bytes()
CHAT_STREAM = (WIRE / "openai" / "chat_stream_with_usage.sse").read_bytes()
BEFORE_MESSAGE_DELTA = next(i for i, event in enumerate(EVENTS) if event.startswith(b"event: message_delta"))
TORN = EVENTS[4][: len(EVENTS[4]) // 2]  # half a content_block_delta: no blank line ends it


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


STREAMS = {
    "whole": (b"".join(EVENTS), True),
    "cut": (b"".join(EVENTS[:BEFORE_MESSAGE_DELTA]), True),  # ends cleanly, without message_delta/message_stop
    "torn": (b"".join(EVENTS[:4]) + TORN, True),  # ends cleanly inside an event
    "torn-reset": (b"".join(EVENTS[:4]) + TORN, False),  # reset inside an event
    "stop-reset": (b"".join(EVENTS), False),  # every event, then reset before the body's end
    "chat-stop-reset": (CHAT_STREAM, False),  # every chunk and [DONE], then reset before the body's end
}


@dataclass(frozen=True)
class Seen:
    path: str
    headers: list[tuple[str, str]]  # as they came, names lowercased
    body: dict[str, object]

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class AnthropicHostileUpstream:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.root = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = [
                (n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:] if line)
            ]
            length = next((int(v) for n, v in headers if n == "content-length"), 0)
            body = orjson.loads(await reader.readexactly(length)) if length else {}
            self.seen.append(Seen(path, headers, body))
            behaviour = path.split("/")[2].split(".")[0] if path.startswith("/mock/") else ""
            if not body.get("stream"):
                writer.write(_message_answer(gzipped=behaviour == "gzip" and _accepts_gzip(headers)))
                await writer.drain()
                return
            events, ends = STREAMS.get(behaviour, STREAMS["whole"])
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            writer.write(_chunk(events))
            await writer.drain()
            if ends:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            else:
                await asyncio.sleep(0.05)  # the gateway reads the events before the reset
                _reset(writer)
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    def start(self) -> str:
        async def begin() -> int:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return int(self.server.sockets[0].getsockname()[1])

        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(begin(), self.loop).result(5)
        self.root = f"http://127.0.0.1:{port}"
        return self.root

    def stop(self) -> None:
        async def end() -> None:
            if self.server is not None:
                self.server.close()

        asyncio.run_coroutine_threadsafe(end(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _accepts_gzip(headers: list[tuple[str, str]]) -> bool:
    accepted = ",".join(value for name, value in headers if name == "accept-encoding")
    return "gzip" in [coding.split(";")[0].strip() for coding in accepted.split(",")]


def _message_answer(*, gzipped: bool) -> bytes:
    """The recorded message; gzipped (as providers answer a client that accepts it) when asked."""
    body, head = MESSAGE, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
    if gzipped:
        body, head = gzip.compress(MESSAGE), head + "content-encoding: gzip\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextmanager
def anthropic_hostile_upstream() -> Iterator[AnthropicHostileUpstream]:
    upstream = AnthropicHostileUpstream()
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()
