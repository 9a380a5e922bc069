"""The mock provider's ASGI app: lifespan, authentication, routing by path (see the package's docstring)."""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson

from apps.mock_provider.anthropic import anthropic_messages
from apps.mock_provider.behaviour import DEFAULT_CHUNKS, Behaviour, MockError
from apps.mock_provider.gemini import gemini_generate, gemini_stream
from apps.mock_provider.openai_routes import chat, check_openai_body, completions, embeddings
from apps.mock_provider.plan import CREATED
from apps.mock_provider.wire import (
    Handler,
    Message,
    Receive,
    Scope,
    Send,
    error_body,
    parse_json_object,
    parse_json_with_model,
    read_body,
    send_json,
)

MODELS = ["mock-gpt-4o-mini", "mock-gpt-4o-mini-long", "mock-gpt-4o", "mock-embedding-small"]
SESSION_COOKIE = (b"set-cookie", b"mock_session=1; Path=/; HttpOnly")
OPENAI_ROUTES: dict[str, Handler] = {
    "/v1/chat/completions": chat,
    "/v1/completions": completions,
    "/v1/embeddings": embeddings,
}
HANDLERS: dict[str, Handler] = {"/v1/messages": anthropic_messages, **OPENAI_ROUTES}
GEMINI_HANDLERS: dict[str, Handler] = {"generateContent": gemini_generate, "streamGenerateContent": gemini_stream}
_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent)$")
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)(/chat/completions|/completions|/embeddings)$")


class MockProvider:
    def __init__(self, *, api_key: str | None = None, default_chunks: int = DEFAULT_CHUNKS) -> None:
        self.api_key = api_key
        self.default_chunks = default_chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Like OpenAI, every answer names the request (the ledger keeps it for reconciliation).
                request_id = (b"x-request-id", b"req_" + secrets.token_hex(16).encode())
                message = {**message, "headers": [*message.get("headers", []), SESSION_COOKIE, request_id]}
            await send(message)

        try:
            await self._route(scope, receive, send_with_cookie)
        except MockError as exc:
            await send_json(
                send_with_cookie, exc.status, error_body(exc.status, exc.message, param=exc.param, code=exc.code)
            )

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"].rstrip("/"), scope["method"]
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if path in {"/health", "/v1/health"}:
            await send_json(send, 200, b'{"status":"ok"}')
            return
        self._authenticate(headers)
        if path == "/v1/models" and method == "GET":
            data = [{"id": model, "object": "model", "created": CREATED, "owned_by": "hydite-mock"} for model in MODELS]
            await send_json(send, 200, orjson.dumps({"object": "list", "data": data}))
            return
        gemini = _GEMINI_PATH.match(path)
        if gemini is not None:
            _require_post(method)
            raw = await read_body(receive)
            body = {**parse_json_object(raw), "model": gemini.group(1)}
            await self._answer(GEMINI_HANDLERS[gemini.group(2)], headers, body, raw, send)
            return
        path, azure_deployment = _azure_route(scope, path)
        handler = HANDLERS.get(path)
        if handler is None:
            raise MockError(404, f"Invalid URL ({method} {scope['path']})")
        _require_post(method)
        raw = await read_body(receive)
        if azure_deployment is not None:
            raw = orjson.dumps({**parse_json_object(raw), "model": azure_deployment})
        body = parse_json_with_model(raw)
        if path in OPENAI_ROUTES:
            check_openai_body(path, body)
        await self._answer(handler, headers, body, raw, send)

    async def _answer(
        self, handler: Handler, headers: dict[str, str], body: dict[str, Any], raw: bytes, send: Send
    ) -> None:
        behaviour = Behaviour.from_request(headers, body["model"], default_chunks=self.default_chunks)
        await behaviour.apply()
        await handler(body, raw, behaviour, send)

    def _authenticate(self, headers: dict[str, str]) -> None:
        if self.api_key is None:
            return
        supplied = (
            headers.get("authorization", "").removeprefix("Bearer ").strip()
            or headers.get("api-key", "")
            or headers.get("x-api-key", "")
            or headers.get("x-goog-api-key", "")
        )
        if supplied != self.api_key:
            raise MockError(401, "Incorrect API key provided.", code="invalid_api_key")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


def _require_post(method: str) -> None:
    if method != "POST":
        raise MockError(405, f"Method {method} is not allowed here.")


def _azure_route(scope: Scope, path: str) -> tuple[str, str | None]:
    """Azure OpenAI's /openai/deployments/<deployment>/<operation>?api-version=…, as (OpenAI path, deployment)."""
    azure = _AZURE_PATH.match(path)
    if azure is None:
        return path, None
    if b"api-version=" not in scope.get("query_string", b""):
        raise MockError(400, "Missing required query parameter api-version.", param="api-version")
    return "/v1" + azure.group(2), azure.group(1)


app = MockProvider()
