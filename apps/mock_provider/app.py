"""The mock provider's ASGI app: lifespan, authentication, routing by path and target, the control API and
the faults it sets (see the package's docstring)."""

from __future__ import annotations

import re
import secrets

import orjson

from apps.mock_provider.anthropic import anthropic_count_tokens, anthropic_messages
from apps.mock_provider.anthropic_request import anthropic_ask
from apps.mock_provider.behaviour import DEFAULT_CHUNKS, Behaviour, BrokenStream, MockError
from apps.mock_provider.control import control_answer, is_control_path
from apps.mock_provider.faults import DEFAULT_TARGET, FaultBook, is_target_name
from apps.mock_provider.gemini import gemini_generate, gemini_prompt, gemini_stream
from apps.mock_provider.openai_routes import chat, check_openai_body, completions, embeddings
from apps.mock_provider.plan import CREATED
from apps.mock_provider.provider_errors import error_answer, fault_answer
from apps.mock_provider.responses import RESPONSES_PATH, ResponsesApi, is_stored_path
from apps.mock_provider.wire import (
    Call,
    Handler,
    Message,
    Receive,
    Scope,
    Send,
    WireFormat,
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
ANTHROPIC_ROUTES: dict[str, Handler] = {
    "/v1/messages": anthropic_messages,
    "/v1/messages/count_tokens": anthropic_count_tokens,
}
HANDLERS: dict[str, Handler] = {**ANTHROPIC_ROUTES, **OPENAI_ROUTES}
GEMINI_HANDLERS: dict[str, Handler] = {"generateContent": gemini_generate, "streamGenerateContent": gemini_stream}
_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent)$")
MOCK_PREFIX = "/mock/"  # /mock/<target>/… serves … as the virtual provider <target>
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)(/chat/completions|/completions|/embeddings)$")


class MockProvider:
    def __init__(self, *, api_key: str | None = None, default_chunks: int = DEFAULT_CHUNKS) -> None:
        self.api_key = api_key
        self.default_chunks = default_chunks
        self.faults = FaultBook()
        self.responses = ResponsesApi()

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

        target: str | None = None  # known once the path is read; a request with none is not counted
        wire: WireFormat = "openai"  # whose error shape a refusal takes
        try:
            path = scope["path"].rstrip("/")
            if is_control_path(path):
                await control_answer(self.faults, scope["method"], path, receive, send)
                return
            target, path = _target_path(scope, path)
            wire = _wire_of(path)
            await self._route(scope, target, path, receive, send_with_cookie)
        except MockError as exc:
            if target is not None:
                self.faults.failure_count(target=target)
            answer = error_answer(wire, exc)
            await send_json(send_with_cookie, answer.status, answer.body)
        except BrokenStream:
            if target is not None:
                self.faults.failure_count(target=target)
            raise

    async def _route(self, scope: Scope, target: str, path: str, receive: Receive, send: Send) -> None:
        if path in {"/health", "/v1/health"}:
            await send_json(send, 200, b'{"status":"ok"}')
            return
        self.faults.request_count(target=target)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        self._authenticate(headers)
        if path == "/v1/models" and scope["method"] == "GET":
            data = [{"id": model, "object": "model", "created": CREATED, "owned_by": "hydite-mock"} for model in MODELS]
            await send_json(send, 200, orjson.dumps({"object": "list", "data": data}))
            return
        if is_stored_path(path):
            await self.responses.stored_answer(scope["method"], path, scope.get("query_string", b""), send)
            return
        call = await self._read_call(scope, target, path, receive)
        await self._answer(call, headers, send)

    async def _answer(self, call: Call, headers: dict[str, str], send: Send) -> None:
        """Answer as the request asks, unless its target's fault says otherwise (the fault wins)."""
        behaviour = Behaviour.from_request(headers, call.model, default_chunks=self.default_chunks)
        fault = self.faults.fault_take(target=call.target)
        if fault is not None:
            behaviour = fault.applied_to(behaviour)
        if behaviour.timeout:
            self.faults.failure_count(target=call.target)
        await behaviour.apply()
        if fault is not None and fault.refuses:
            answer = fault_answer(fault, call)
            self.faults.failure_count(target=call.target)
            await send_json(
                send, answer.status, answer.body, headers=fault.retry_headers(), content_type=answer.content_type
            )
            return
        await call.handler(call.body, call.raw, behaviour, send)

    async def _read_call(self, scope: Scope, target: str, path: str, receive: Receive) -> Call:
        """The model request at `path`, its body read and checked as its provider checks it."""
        method = scope["method"]
        gemini = _GEMINI_PATH.match(path)
        if gemini is not None:
            _require_post(method)
            raw = await read_body(receive)
            body = {**parse_json_object(raw), "model": gemini.group(1)}
            gemini_prompt(body)
            stream = gemini.group(2) == "streamGenerateContent"
            return Call(target, "gemini", GEMINI_HANDLERS[gemini.group(2)], body, raw, stream=stream)
        if path == RESPONSES_PATH:
            _require_post(method)
            raw = await read_body(receive)
            body = parse_json_object(raw)
            self.responses.ask(body, raw)
            return Call(target, "openai", self.responses.create, body, raw, stream=body.get("stream") is True)
        openai_path, azure_deployment = _azure_route(scope, path)
        handler = HANDLERS.get(openai_path)
        if handler is None:
            raise MockError(404, f"Invalid URL ({method} {scope['path']})")
        _require_post(method)
        raw = await read_body(receive)
        if openai_path in ANTHROPIC_ROUTES:
            body = parse_json_object(raw)
            anthropic_ask(body, count_only=handler is anthropic_count_tokens)
            return Call(target, "anthropic", handler, body, raw, stream=body.get("stream") is True)
        if azure_deployment is not None:
            raw = orjson.dumps({**parse_json_object(raw), "model": azure_deployment})
        body = parse_json_with_model(raw)
        check_openai_body(openai_path, body)
        wire: WireFormat = "openai" if azure_deployment is None else "azure"
        return Call(target, wire, handler, body, raw, stream=bool(body.get("stream")))

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


def _target_path(scope: Scope, path: str) -> tuple[str, str]:
    """The target a request is counted under, and the provider's path: /mock/<name>/v1/… is <name>'s /v1/…."""
    if not path.startswith(MOCK_PREFIX):
        return DEFAULT_TARGET, path
    name, slash, rest = path.removeprefix(MOCK_PREFIX).partition("/")
    if not slash or not is_target_name(name):
        message = f"Invalid URL ({scope['method']} {scope['path']}): targets are named like [a-z0-9][a-z0-9_-]{{0,39}}."
        raise MockError(404, message)
    return name, "/" + rest


def _wire_of(path: str) -> WireFormat:
    if _GEMINI_PATH.match(path):
        return "gemini"
    return "anthropic" if path in ANTHROPIC_ROUTES else "openai"


def _azure_route(scope: Scope, path: str) -> tuple[str, str | None]:
    """Azure OpenAI's /openai/deployments/<deployment>/<operation>?api-version=…, as (OpenAI path, deployment)."""
    azure = _AZURE_PATH.match(path)
    if azure is None:
        return path, None
    if b"api-version=" not in scope.get("query_string", b""):
        raise MockError(400, "Missing required query parameter api-version.", param="api-version")
    return "/v1" + azure.group(2), azure.group(1)


app = MockProvider()
