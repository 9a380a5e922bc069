"""What every stream translator shares: SSE event splitting and OpenAI chunk output."""

import time
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


class OpenAIChunkWriter:
    def __init__(self, *, include_usage: bool, chunk_id: str = "") -> None:
        self.include_usage = include_usage
        self.pending = b""
        self.id = chunk_id
        self.model = ""
        self.created = int(time.time())

    def events(self, data: bytes) -> list[bytes]:
        """The SSE events completed by `data`; a partial one waits for the next piece."""
        events = (self.pending + data).replace(b"\r\n", b"\n").split(b"\n\n")
        self.pending = events.pop()
        return events

    def _payload(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return self._payload([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def usage_chunk(self, usage: dict[str, Any]) -> bytes:
        return self._payload([], usage=usage) if self.include_usage else b""

    @staticmethod
    def error_event(error: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"error": error}) + b"\n\n"
