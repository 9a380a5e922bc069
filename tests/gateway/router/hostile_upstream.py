"""An upstream that misbehaves at the HTTP level, which the mock provider cannot: raw bytes on a socket.

Each request's path names its target (`/mock/<behaviour>[.<anything>]/v1/...`, like the mock's virtual providers,
so routing_world's channels point at it with `Upstream(root=...)`); it counts the requests each target got.
"""

import asyncio
import collections
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

COMPLETION = (
    b'{"id":"chatcmpl-h","object":"chat.completion","created":0,"model":"hostile","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
)


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", "connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


ANSWERS = {
    "ok": _answer("200 OK", COMPLETION, "content-type: application/json"),
    "redirect": _answer("307 Temporary Redirect", b"", "location: http://127.0.0.1:9/elsewhere"),
    "html503": _answer("503 Service Unavailable", b"<html><body>Bad gateway</body></html>", "content-type: text/html"),
    "garbage200": _answer("200 OK", b"\x00\xffnot json at all", "content-type: application/json"),
    "empty200": _answer("200 OK", b"", "content-type: application/json"),
    "garbage-stream": _answer("200 OK", b"this is not an event stream\n\n", "content-type: text/event-stream"),
    "comment-stream": _answer("200 OK", b": keep-alive\n\n", "content-type: text/event-stream"),
}
# the answer's head only, then the socket is reset (RST) / left open with nothing more
HALF = {
    "reset-mid": b'HTTP/1.1 200 OK\r\ncontent-length: 500\r\ncontent-type: application/json\r\n\r\n{"id":',
    "stall-body": b'HTTP/1.1 200 OK\r\ncontent-length: 500\r\ncontent-type: application/json\r\n\r\n{"id":',
}


class HostileUpstream:
    def __init__(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.serving: set[asyncio.Task[None]] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.serving.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lengths = [
                line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ]
            length = int(lengths[0]) if lengths else 0
            await reader.readexactly(length)
            path = head.split(b" ", 2)[1].decode()
            target = path.split("/")[2] if path.startswith("/mock/") else ""
            self.requests[target] += 1
            behaviour = target.split(".")[0]
            if behaviour in ANSWERS:
                writer.write(ANSWERS[behaviour])
                await writer.drain()
            elif behaviour in HALF:
                writer.write(HALF[behaviour])
                await writer.drain()
                if behaviour.startswith("stall"):
                    await asyncio.sleep(3600)
                _reset(writer)
                return
            elif behaviour == "reset":
                _reset(writer)
                return
            elif behaviour == "stall":
                await asyncio.sleep(3600)
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not writer.is_closing():
                writer.transport.abort()
            self.serving.discard(task)

    def start(self) -> str:
        async def begin() -> None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]

        self.thread.start()
        asyncio.run_coroutine_threadsafe(begin(), self.loop).result(5)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        async def end() -> None:
            if self.server is not None:
                self.server.close()
            stalled = list(self.serving)
            for task in stalled:
                task.cancel()
            await asyncio.gather(*stalled, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(end(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextmanager
def hostile_upstream() -> Iterator[HostileUpstream]:
    upstream = HostileUpstream()
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()
