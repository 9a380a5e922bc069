"""A deterministic OpenAI-compatible LLM server, for the demo, tests and benchmarks.

Pure ASGI with orjson, no Django. Same request, same answer; `usage` counts
real (whitespace) tokens. Behaviour is chosen per request by headers, or by
the model name when a client cannot set headers:

| header                  | model name                | effect                                      |
|-------------------------|---------------------------|---------------------------------------------|
| x-mock-status: 429      | mock-status-429           | answer that status with OpenAI's error body |
| x-mock-delay-ms: 250    | mock-slow-250             | wait before the first byte                  |
| x-mock-timeout: 1       | mock-timeout              | never answer (until the client gives up)    |
| x-mock-break-after: 3   | mock-broken-stream        | drop the connection after 3 stream chunks   |
| x-mock-chunks: 20       |                           | content chunks in a stream (default 8)      |
| x-mock-chunk-delay-ms: 5| mock-drip-5               | pause between stream chunks                 |
|                         | mock-gpt-4o-mini-long     | a long answer (400 words, or max_tokens),   |
|                         |                           | one word per stream chunk                   |
|                         | mock-usage-negative       | report impossible usage (also -huge,        |
|                         |                           | -float, -text, -inconsistent, -cached)      |

Bodies of /v1/chat/completions, /v1/completions and /v1/embeddings are checked as OpenAI checks them
(`apps.gateway.request_shape`: types and ranges, OpenAI's messages and codes); `n` choices are answered.

Every answer sets a session cookie, as providers behind a CDN do (Cloudflare's `__cf_bm`). A request
for a model whose name contains `mock-cookie-check` that sends a cookie back is refused with 400: a
gateway must not carry one tenant's upstream cookies into another tenant's requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from apps.gateway.errors import InvalidParameter
from apps.gateway.request_shape import request_shape

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODELS = ["mock-gpt-4o-mini", "mock-gpt-4o-mini-long", "mock-gpt-4o", "mock-embedding-small"]
MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_COMPLETION_WORDS = 12
LONG_COMPLETION_WORDS = 400  # models named "...-long"
MAX_COMPLETION_WORDS = 4096
DEFAULT_CHUNKS = 8
TIMEOUT_SLEEP_S = 3600.0
SESSION_COOKIE = (b"set-cookie", b"mock_session=1; Path=/; HttpOnly")
CREATED = 1_700_000_000  # fixed, so identical requests give identical bodies
VOCABULARY = ("mock", "reply", "from", "the", "hydite", "provider", "with", "deterministic", "tokens", "today")

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
_MODEL_STATUS = re.compile(r"mock-status-(\d{3})")
_MODEL_SLOW = re.compile(r"mock-slow-(\d+)")
_MODEL_DRIP = re.compile(r"mock-drip-(\d+)")
_MODEL_USAGE_LIE = re.compile(r"mock-usage-(negative|huge|float|text|inconsistent|cached)")
NEGATIVE_PROMPT_TOKENS = -2_000_000_000
_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent)$")
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)(/chat/completions|/completions|/embeddings)$")


class MockError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class BrokenStream(Exception):
    """Raised mid-response: the server drops the connection, as a failing upstream does."""


@dataclass(frozen=True)
class Behaviour:
    status: int | None = None
    delay_s: float = 0.0
    timeout: bool = False
    break_after: int | None = None
    chunks: int = DEFAULT_CHUNKS
    chunk_delay_s: float = 0.0
    word_per_chunk: bool = False
    cookie_sent_back: bool = False  # a cookie came with a request for a mock-cookie-check model

    @classmethod
    def from_request(cls, headers: dict[str, str], model: str, *, default_chunks: int = DEFAULT_CHUNKS) -> Behaviour:
        status_match, slow_match, drip_match = (
            _MODEL_STATUS.search(model),
            _MODEL_SLOW.search(model),
            _MODEL_DRIP.search(model),
        )
        status = _int(headers.get("x-mock-status")) or (int(status_match.group(1)) if status_match else None)
        delay_ms = _int(headers.get("x-mock-delay-ms")) or (int(slow_match.group(1)) if slow_match else 0)
        break_after = _int(headers.get("x-mock-break-after"))
        if break_after is None and "mock-broken-stream" in model:
            break_after = 3
        return cls(
            status=status,
            delay_s=delay_ms / 1000,
            timeout=bool(headers.get("x-mock-timeout")) or "mock-timeout" in model,
            break_after=break_after,
            chunks=max(1, _int(headers.get("x-mock-chunks")) or default_chunks),
            chunk_delay_s=(
                _int(headers.get("x-mock-chunk-delay-ms")) or (int(drip_match.group(1)) if drip_match else 0)
            )
            / 1000,
            word_per_chunk=model.endswith("-long"),
            cookie_sent_back="mock-cookie-check" in model and "cookie" in headers,
        )


def _int(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


def count_tokens(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _reply_words(seed_text: str, count: int) -> list[str]:
    echoed = seed_text.split()[:4]
    words = ["Mock", "reply", "to:", *echoed] if echoed else ["Mock", "reply."]
    offset = int(hashlib.sha256(seed_text.encode()).hexdigest()[:8], 16)
    while len(words) < count:
        words.append(VOCABULARY[(offset + len(words)) % len(VOCABULARY)])
    return words[:count]


def _completion_words(body: dict[str, Any]) -> int:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is None:
        return LONG_COMPLETION_WORDS if str(body.get("model", "")).endswith("-long") else DEFAULT_COMPLETION_WORDS
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise MockError(400, "max_tokens must be a positive integer.", param="max_tokens")
    return min(limit, MAX_COMPLETION_WORDS)


def _request_id(body: bytes, prefix: str) -> str:
    return f"{prefix}-mock{hashlib.sha256(body).hexdigest()[:24]}"


def usage_lie(model: str) -> str | None:
    """Which impossible usage a model named mock-usage-<lie> reports (a provider gone wrong, or hostile)."""
    match = _MODEL_USAGE_LIE.search(model)
    return match.group(1) if match else None


def _usage(prompt_tokens: int, completion_tokens: int, lie: str | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if lie == "negative":
        usage.update(prompt_tokens=NEGATIVE_PROMPT_TOKENS, total_tokens=NEGATIVE_PROMPT_TOKENS + completion_tokens)
    elif lie == "huge":
        usage.update(completion_tokens=10**12, total_tokens=prompt_tokens + 10**12)
    elif lie == "float":
        usage.update(prompt_tokens=prompt_tokens + 0.5)
    elif lie == "text":
        usage.update(prompt_tokens=str(prompt_tokens))
    elif lie == "inconsistent":
        usage.update(total_tokens=prompt_tokens + completion_tokens - 1)
    elif lie == "cached":
        usage["prompt_tokens_details"] = {"cached_tokens": prompt_tokens + 5}
    return usage


@dataclass(frozen=True)
class ChatPlan:
    """What a chat request will answer: the same for the plain and the streamed form."""

    id: str
    model: str
    prompt_tokens: int
    words: list[str]
    tool_name: str | None
    json_mode: bool
    choices: int = 1

    @classmethod
    def from_body(cls, body: dict[str, Any], raw: bytes) -> ChatPlan:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise MockError(400, "'messages' must be a non-empty array.", param="messages")
        texts = [_text_of(message.get("content")) for message in messages if isinstance(message, dict)]
        prompt_tokens = sum(count_tokens(text) + 4 for text in texts)
        tools = body.get("tools") or []
        tool_name = None
        if tools and body.get("tool_choice") != "none" and messages[-1].get("role") == "user":
            function = tools[0].get("function") if isinstance(tools[0], dict) else None
            tool_name = (function.get("name") if isinstance(function, dict) else None) or "tool"
        response_format = body.get("response_format") or {}
        return cls(
            id=_request_id(raw, "chatcmpl"),
            model=body["model"],
            prompt_tokens=prompt_tokens,
            words=_reply_words(texts[-1] if texts else "", _completion_words(body)),
            tool_name=tool_name,
            json_mode=response_format.get("type") in {"json_object", "json_schema"},
            choices=body.get("n") or 1,
        )

    @property
    def reported_prompt_tokens(self) -> int:
        """What the provider says the prompt took (a lie for mock-usage-negative)."""
        return NEGATIVE_PROMPT_TOKENS if usage_lie(self.model) == "negative" else self.prompt_tokens

    def usage(self) -> dict[str, Any]:
        return _usage(self.prompt_tokens, self.completion_tokens * self.choices, usage_lie(self.model))

    @property
    def content(self) -> str:
        text = " ".join(self.words)
        return orjson.dumps({"reply": text}).decode() if self.json_mode else text

    @property
    def tool_arguments(self) -> str:
        return orjson.dumps({"mock": True}).decode()

    @property
    def completion_tokens(self) -> int:
        return len(self.words) if self.tool_name is None else count_tokens(self.tool_arguments)

    def message(self) -> dict[str, Any]:
        if self.tool_name is None:
            return {"role": "assistant", "content": self.content, "refusal": None}
        call = {
            "id": f"call_{self.id[-12:]}",
            "type": "function",
            "function": {"name": self.tool_name, "arguments": self.tool_arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}

    @property
    def finish_reason(self) -> str:
        return "stop" if self.tool_name is None else "tool_calls"

    def completion(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [
                {"index": index, "message": self.message(), "logprobs": None, "finish_reason": self.finish_reason}
                for index in range(self.choices)
            ],
            "usage": self.usage(),
            "system_fingerprint": "fp_hydite_mock",
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, *, index: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "system_fingerprint": "fp_hydite_mock",
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    def deltas(self, chunks: int, *, by_word: bool = False) -> Iterator[dict[str, Any]]:
        if self.tool_name is not None:
            call = self.message()["tool_calls"][0]
            yield {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": self.tool_name, "arguments": ""},
                    }
                ],
            }
            yield {"tool_calls": [{"index": 0, "function": {"arguments": self.tool_arguments}}]}
            return
        yield {"role": "assistant", "content": "", "refusal": None}
        if by_word and not self.json_mode:
            for index, word in enumerate(self.words):
                yield {"content": word if index == len(self.words) - 1 else word + " "}
            return
        content = self.content
        size = max(1, -(-len(content) // chunks))
        for start in range(0, len(content), size):
            yield {"content": content[start : start + size]}


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> bytes:
    error_type, default_code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code or default_code}}
    )


async def _read_body(receive: Receive) -> bytes:
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


async def _send_json(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MockError(400, "We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise MockError(400, "The request body must be a JSON object.")
    return body


def _parse_json(raw: bytes) -> dict[str, Any]:
    body = _parse_json_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise MockError(400, "you must provide a model parameter", param="model")
    return body


OPENAI_ROUTES = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}


def _check_openai_body(path: str, body: dict[str, Any]) -> None:
    """What OpenAI refuses, refused with OpenAI's words."""
    try:
        request_shape(path.removeprefix("/v1"), body, image_tokens=0)
    except InvalidParameter as exc:
        raise MockError(400, exc.message, param=exc.param, code=exc.code) from None


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class MockProvider:
    def __init__(self, *, api_key: str | None = None, default_chunks: int = DEFAULT_CHUNKS) -> None:
        self.api_key = api_key
        self.default_chunks = default_chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
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
            await _send_json(
                send_with_cookie, exc.status, error_body(exc.status, exc.message, param=exc.param, code=exc.code)
            )

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"].rstrip("/"), scope["method"]
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if path in {"/health", "/v1/health"}:
            await _send_json(send, 200, b'{"status":"ok"}')
            return
        self._authenticate(headers)
        if path == "/v1/models" and method == "GET":
            data = [{"id": model, "object": "model", "created": CREATED, "owned_by": "hydite-mock"} for model in MODELS]
            await _send_json(send, 200, orjson.dumps({"object": "list", "data": data}))
            return
        handlers = {
            "/v1/messages": self._anthropic_messages,
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completions,
            "/v1/embeddings": self._embeddings,
        }
        gemini = _GEMINI_PATH.match(path)
        if gemini is not None:
            if method != "POST":
                raise MockError(405, f"Method {method} is not allowed here.")
            raw = await _read_body(receive)
            body = {**_parse_json_object(raw), "model": gemini.group(1)}
            behaviour = Behaviour.from_request(headers, body["model"], default_chunks=self.default_chunks)
            await self._apply_behaviour(behaviour)
            await self._gemini(body, raw, behaviour, send, stream=gemini.group(2) == "streamGenerateContent")
            return
        azure = _AZURE_PATH.match(path)
        azure_deployment = None
        if azure is not None:
            # Azure OpenAI's shape: /openai/deployments/<deployment>/<operation>?api-version=…
            if b"api-version=" not in scope.get("query_string", b""):
                raise MockError(400, "Missing required query parameter api-version.", param="api-version")
            azure_deployment, path = azure.group(1), "/v1" + azure.group(2)
        handler = handlers.get(path)
        if handler is None:
            raise MockError(404, f"Invalid URL ({method} {scope['path']})")
        if method != "POST":
            raise MockError(405, f"Method {method} is not allowed here.")
        raw = await _read_body(receive)
        if azure_deployment is not None:
            raw = orjson.dumps({**_parse_json_object(raw), "model": azure_deployment})
        body = _parse_json(raw)
        if path in OPENAI_ROUTES:
            _check_openai_body(path, body)
        behaviour = Behaviour.from_request(headers, body["model"], default_chunks=self.default_chunks)
        await self._apply_behaviour(behaviour)
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

    async def _apply_behaviour(self, behaviour: Behaviour) -> None:
        if behaviour.timeout:
            await asyncio.sleep(TIMEOUT_SLEEP_S)
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.status is not None and behaviour.status >= 400:
            raise MockError(behaviour.status, f"Mock provider was asked to fail with {behaviour.status}.")
        if behaviour.cookie_sent_back:
            raise MockError(400, "This server set a cookie that must not come back.", code="unexpected_cookie")

    async def _chat(self, body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
        plan = ChatPlan.from_body(body, raw)
        if not body.get("stream"):
            await _send_json(send, 200, orjson.dumps(plan.completion()))
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")],
            }
        )
        sent = 0
        for choice in range(plan.choices):
            for delta in plan.deltas(behaviour.chunks, by_word=behaviour.word_per_chunk):
                if behaviour.break_after is not None and sent >= behaviour.break_after:
                    raise BrokenStream("mock provider dropped the stream on purpose")
                event = _sse(plan.chunk(delta, index=choice))
                await send({"type": "http.response.body", "body": event, "more_body": True})
                sent += 1
                if behaviour.chunk_delay_s:
                    await asyncio.sleep(behaviour.chunk_delay_s)
        tail = b"".join(_sse(plan.chunk({}, plan.finish_reason, index=choice)) for choice in range(plan.choices))
        if include_usage:
            usage_chunk = {**plan.chunk({}), "choices": [], "usage": plan.usage()}
            tail += _sse(usage_chunk)
        await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False})

    async def _gemini(
        self, body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send, *, stream: bool
    ) -> None:
        """Gemini's generateContent / streamGenerateContent (alt=sse), from the same plan as a chat completion."""
        role_map = {"user": "user", "model": "assistant"}
        messages = [
            {
                "role": role_map.get(c.get("role", "user"), "user"),
                "content": "".join(p.get("text", "") for p in c.get("parts") or [] if isinstance(p, dict)),
            }
            for c in body.get("contents") or []
            if isinstance(c, dict)
        ]
        declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
        config = body.get("generationConfig") or {}
        plan = ChatPlan.from_body(
            {
                "model": body["model"],
                "messages": messages,
                "tools": [{"function": {"name": d.get("name")}} for d in declarations],
                "max_tokens": config.get("maxOutputTokens"),
            },
            raw,
        )
        usage = {
            "promptTokenCount": plan.reported_prompt_tokens,
            "candidatesTokenCount": plan.completion_tokens,
            "totalTokenCount": plan.reported_prompt_tokens + plan.completion_tokens,
        }
        if plan.tool_name is None:
            parts: list[dict[str, Any]] = [{"text": plan.content}]
        else:
            parts = [{"functionCall": {"name": plan.tool_name, "args": {"mock": True}}}]

        def response(part_list: list[dict[str, Any]], finish: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"parts": part_list, "role": "model"}, "index": 0}
            if finish:
                candidate["finishReason"] = "STOP"
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": plan.model}

        if not stream:
            await _send_json(send, 200, orjson.dumps(response(parts, True)))
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        if plan.tool_name is None:
            size = max(1, -(-len(plan.content) // behaviour.chunks))
            pieces = [[{"text": plan.content[i : i + size]}] for i in range(0, len(plan.content), size)]
        else:
            pieces = [parts]
        for n, piece in enumerate(pieces):
            frame = b"data: " + orjson.dumps(response(piece, n == len(pieces) - 1)) + b"\r\n\r\n"
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _anthropic_messages(self, body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
        """Anthropic's Messages API, answered from the same plan as a chat completion."""
        messages = [
            {"role": m.get("role"), "content": _text_of(m.get("content"))}
            for m in body.get("messages") or []
            if isinstance(m, dict)
        ]
        if body.get("system"):
            messages.insert(0, {"role": "system", "content": _text_of(body["system"])})
        tools = [{"function": {"name": tool.get("name")}} for tool in body.get("tools") or []]
        plan = ChatPlan.from_body(
            {"model": body["model"], "messages": messages, "tools": tools, "max_tokens": body.get("max_tokens")}, raw
        )
        usage = {"input_tokens": plan.reported_prompt_tokens, "output_tokens": plan.completion_tokens}
        stop_reason = "end_turn" if plan.tool_name is None else "tool_use"
        msg_id = "msg_" + plan.id.removeprefix("chatcmpl-")
        if plan.tool_name is None:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": plan.content}]
        else:
            blocks = [
                {"type": "tool_use", "id": "toolu_" + plan.id[-12:], "name": plan.tool_name, "input": {"mock": True}}
            ]
        if not body.get("stream"):
            message = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": plan.model,
                "content": blocks,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": usage,
            }
            await _send_json(send, 200, orjson.dumps(message))
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        start: dict[str, Any] = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": plan.model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": plan.reported_prompt_tokens, "output_tokens": 1},
        }
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
        block = blocks[0]
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                )
            )
            text, size = plan.content, max(1, -(-len(plan.content) // behaviour.chunks))
            events += [
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text[i : i + size]},
                    },
                )
                for i in range(0, len(text), size)
            ]
        else:
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}},
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "input_json_delta", "partial_json": plan.tool_arguments},
                    },
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": plan.completion_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, event in events:
            frame = f"event: {name}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _completions(self, body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise MockError(400, "'prompt' must be a string or an array of strings.", param="prompt")
        words = _completion_words(body)
        choices = [
            {
                "text": " " + " ".join(_reply_words(text, words)),
                "index": index,
                "logprobs": None,
                "finish_reason": "length",
            }
            for index, text in enumerate(prompts)
        ]
        prompt_tokens = sum(count_tokens(text) for text in prompts)
        generated = max(body.get("n") or 1, body.get("best_of") or 1)  # best_of are generated, and billed
        response = {
            "id": _request_id(raw, "cmpl"),
            "object": "text_completion",
            "created": CREATED,
            "model": body["model"],
            "choices": choices,
            "usage": _usage(prompt_tokens, words * len(prompts) * generated, usage_lie(body["model"])),
        }
        await _send_json(send, 200, orjson.dumps(response))

    async def _embeddings(self, body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
        given = body.get("input")
        inputs = [given] if isinstance(given, str) else given
        if not isinstance(inputs, list) or not inputs or not all(isinstance(item, str) for item in inputs):
            raise MockError(400, "'input' must be a string or an array of strings.", param="input")
        dimensions = body.get("dimensions", 8)
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 4096:
            raise MockError(400, "'dimensions' must be an integer from 1 to 4096.", param="dimensions")
        data = [
            {"object": "embedding", "embedding": _vector(text, dimensions), "index": index}
            for index, text in enumerate(inputs)
        ]
        tokens = sum(count_tokens(text) for text in inputs)
        response = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": _usage(tokens, 0, usage_lie(body["model"])),
        }
        await _send_json(send, 200, orjson.dumps(response))


def _vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128, 6) for i in range(dimensions)]


app = MockProvider()
