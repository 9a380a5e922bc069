"""Small ASGI helpers: read a bounded body, send JSON or bytes."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from apps.core.errors import Header
from apps.gateway.errors import BodyTooLarge, InvalidApiKey

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[Header]

JSON: Header = (b"content-type", b"application/json")


class ClientDisconnected(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def presented_key(scope: Scope) -> str:
    """The key from `Authorization: Bearer …` (OpenAI's clients), else `x-api-key` (Anthropic's) or
    `api-key` (Azure OpenAI's)."""
    raw = header(scope, b"authorization")
    if raw is None:
        raw = header(scope, b"x-api-key") or header(scope, b"api-key")
        if raw is None or not raw.strip():
            raise InvalidApiKey("You didn't provide an API key. Send it as 'Authorization: Bearer sk-hydite-…'.")
        return raw.decode("latin-1").strip()
    scheme, _, token = raw.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidApiKey("Send the key as 'Authorization: Bearer sk-hydite-…'.")
    return token.strip()
