"""ASGI plumbing of the mock: read a JSON body, send JSON, event streams and OpenAI's error body."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from apps.mock_provider.behaviour import Behaviour, BrokenStream, MockError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Every route answers (body, raw body, behaviour, send).
Handler = Callable[[dict[str, Any], bytes, Behaviour, Send], Awaitable[None]]

# Whose wire format a route speaks, for the error answers a target's fault asks for.
WireFormat = Literal["openai", "azure", "anthropic", "gemini"]

MAX_BODY_BYTES = 8 * 1024 * 1024
JSON = b"application/json"
EVENT_STREAM = (b"content-type", b"text/event-stream")
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", None),
    413: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("server_error", None),
}


@dataclass(frozen=True)
class Call:
    """A model request, routed: the target it is counted under, what answers it, in which wire format."""

    target: str
    wire: WireFormat
    handler: Handler
    body: dict[str, Any]
    raw: bytes
    stream: bool

    @property
    def model(self) -> str:
        return str(self.body["model"])


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> bytes:
    error_type, default_code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code or default_code}}
    )


async def read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MockError(400, "Client disconnected.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MockError(413, "Request body too large.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_json(
    send: Send, status: int, body: bytes, *, headers: Iterable[tuple[bytes, bytes]] = (), content_type: bytes = JSON
) -> None:
    start = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


async def send_events(
    send: Send,
    frames: Iterable[bytes],
    behaviour: Behaviour,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (EVENT_STREAM,),
    tail: bytes = b"",
) -> None:
    """A 200 event stream of ready-made frames then `tail`, paced, paused and dropped as `behaviour` asks."""
    await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
    if behaviour.first_byte_delay_s:
        await asyncio.sleep(behaviour.first_byte_delay_s)
    for sent, frame in enumerate(frames):
        if behaviour.break_after is not None and sent >= behaviour.break_after:
            raise BrokenStream("mock provider dropped the stream on purpose")
        if behaviour.idle_s and sent == behaviour.idle_after:
            await asyncio.sleep(behaviour.idle_s)
        await send({"type": "http.response.body", "body": frame, "more_body": True})
        if behaviour.chunk_delay_s:
            await asyncio.sleep(behaviour.chunk_delay_s)
    await send({"type": "http.response.body", "body": tail, "more_body": False})


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MockError(400, "We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise MockError(400, "The request body must be a JSON object.")
    return body


def parse_json_with_model(raw: bytes) -> dict[str, Any]:
    body = parse_json_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise MockError(400, "you must provide a model parameter", param="model")
    return body


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
