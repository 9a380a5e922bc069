"""An Anthropic upstream reporting prompt-cache reads and writes, which the mock provider does not: the recorded
Messages answers (tests/fixtures/wire/anthropic) with a chosen usage, plain or streamed, on a socket of its own."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

WIRE = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "anthropic"


def _answer(content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\nconnection: close"
    return head.encode() + b"\r\n\r\n" + body


def message_body(usage: dict[str, Any]) -> bytes:
    message = orjson.loads((WIRE / "messages.json").read_bytes())
    message["usage"] = {**message["usage"], **usage}
    return orjson.dumps(message)


def stream_body(usage: dict[str, Any]) -> bytes:
    """The recorded stream, its message_start carrying `usage` and its message_delta the final counts."""
    events = []
    for event in (WIRE / "messages_stream.sse").read_bytes().strip().split(b"\n\n"):
        name, data = event.split(b"\n", 1)
        parsed = orjson.loads(data.removeprefix(b"data:").strip())
        if parsed["type"] == "message_start":
            parsed["message"]["usage"] = {**parsed["message"]["usage"], **usage, "output_tokens": 1}
        elif parsed["type"] == "message_delta":
            parsed["usage"] = {key: usage[key] for key in usage if key != "cache_creation"}
        events.append(name + b"\ndata: " + orjson.dumps(parsed) + b"\n\n")
    return b"".join(events)


class AnthropicCacheUpstream:
    """Answers every POST with the message (or its stream, when the request asks for one) reporting `usage`."""

    def __init__(self, usage: dict[str, Any]) -> None:
        self.plain = _answer("application/json", message_body(usage))
        self.streamed = _answer("text/event-stream", stream_body(usage))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.requests: list[dict[str, Any]] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lengths = [
                line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ]
            body = orjson.loads(await reader.readexactly(int(lengths[0]))) if lengths else {}
            self.requests.append(body)
            writer.write(self.streamed if body.get("stream") else self.plain)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            pass
        finally:
            writer.close()

    def start(self) -> str:
        async def begin() -> int:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return int(self.server.sockets[0].getsockname()[1])

        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(begin(), self.loop).result(5)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def end() -> None:
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(end(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@contextmanager
def anthropic_cache_upstream(usage: dict[str, Any]) -> Iterator[str]:
    """The root URL of an Anthropic upstream reporting `usage` (merged into the recorded one)."""
    upstream = AnthropicCacheUpstream(usage)
    try:
        yield upstream.start()
    finally:
        upstream.stop()
