"""Anthropic Messages API ⇄ OpenAI chat completions, both directions, plain and streamed, with tools."""

import time
from functools import partial
from typing import Any

import orjson

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.upstreams.base import UpstreamRequest, WireFormat
from apps.gateway.upstreams.translation import (
    DONE,
    OpenAIChunkWriter,
    UnsupportedRequest,
    count_sum,
    upstream_error_fields,
    upstream_error_message,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}
# Anthropic's 529 (overloaded) is not an HTTP status clients know: it is a 503 to them.
STATUS_FOR_CLIENT = {529: 503}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _image(part: dict[str, Any]) -> dict[str, Any]:
    url = (part.get("image_url") or {}).get("url", "")
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]] | str:
    if isinstance(content, str) or content is None:
        return content or ""
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            blocks.append(_image(part))
    return blocks


def _arguments(raw: str) -> Any:
    try:
        return orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": raw}


def _messages(openai_messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in openai_messages:
        role = message.get("role")
        if role in {"system", "developer"}:
            system.append(_text(message.get("content")))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text(message.get("content")),
            }
            if messages and messages[-1]["role"] == "user" and isinstance(messages[-1]["content"], list):
                messages[-1]["content"].append(result)  # consecutive tool results share one user turn
            else:
                messages.append({"role": "user", "content": [result]})
        elif role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if _text(message.get("content")):
                blocks.append({"type": "text", "text": _text(message.get("content"))})
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id", ""),
                        "name": function.get("name", ""),
                        "input": _arguments(function.get("arguments", "")),
                    }
                )
            messages.append({"role": "assistant", "content": blocks})
        elif role in {"user", "assistant"}:
            messages.append({"role": role, "content": _blocks(message.get("content"))})
    return "\n\n".join(part for part in system if part), messages


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return {"type": "auto"} if choice else None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        return {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    return None


def translate_request(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    system, messages = _messages(body.get("messages") or [])
    request: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        request["system"] = system
    for name in ("temperature", "top_p", "stream"):
        if name in body:
            request[name] = body[name]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = body.get("tools")
    if tools:
        request["tools"] = [
            {
                "name": (tool.get("function") or {}).get("name", ""),
                "description": (tool.get("function") or {}).get("description", ""),
                "input_schema": (tool.get("function") or {}).get("parameters") or {"type": "object"},
            }
            for tool in tools
        ]
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        request["tool_choice"] = choice
    if isinstance(body.get("user"), str):
        request["metadata"] = {"user_id": body["user"]}
    return request


def messages_url(base: str) -> str:
    """The Messages endpoint of an api_base given with or without its /v1."""
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def build_request(
    *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
) -> UpstreamRequest:
    if path != "/chat/completions":
        raise UnsupportedRequest(f"Anthropic models serve /v1/chat/completions only, not /v1{path}.")
    url = messages_url(deployment["api_base"])
    headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
    if secret:
        headers["x-api-key"] = secret
    return UpstreamRequest(
        url=url, headers=headers, body=orjson.dumps(translate_request(body, deployment["upstream_model"]))
    )


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's usage in OpenAI's shape: the prompt is the uncached input, the cache reads and the cache
    writes. Reads go in OpenAI's `cached_tokens`; writes in Hydite's own `cache_write_tokens`, and the writes
    of a one-hour cache (dearer than those of the five-minute one) in `cache_write_1h_tokens`."""
    cached = count_sum(usage.get("cache_read_input_tokens"))
    written, written_1h = _cache_writes(usage)
    prompt = count_sum(usage.get("input_tokens"), cached, written)
    completion = count_sum(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": cached,  # OpenAI's name for cache reads (cheaper)
            "cache_write_tokens": written,
            "cache_write_1h_tokens": written_1h,
        },
    }


def _cache_writes(usage: dict[str, Any]) -> tuple[int, int]:
    """The tokens written to the cache, and those of them written for an hour (`cache_creation` splits the
    writes by lifetime; without it, every write is a five-minute one)."""
    by_lifetime = usage.get("cache_creation")
    if by_lifetime is None:
        return count_sum(usage.get("cache_creation_input_tokens")), 0
    if not isinstance(by_lifetime, dict):
        return -1, -1
    written_1h = count_sum(by_lifetime.get("ephemeral_1h_input_tokens"))
    if usage.get("cache_creation_input_tokens") is None:
        return count_sum(by_lifetime.get("ephemeral_5m_input_tokens"), written_1h), written_1h
    return count_sum(usage.get("cache_creation_input_tokens")), written_1h


def translate_response(payload: bytes) -> bytes:
    message = orjson.loads(payload)
    text, calls = [], []
    for block in message.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None, "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    completion = {
        "id": message.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(message.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": openai_usage(message.get("usage") or {}),
    }
    return orjson.dumps(completion)


def error_from_upstream(status: int, payload: bytes) -> dict[str, Any]:
    error = upstream_error_fields(payload)
    kind = error.get("type") or ("server_error" if status >= 500 else "invalid_request_error")
    message = upstream_error_message(error, payload, status)
    code = {
        "authentication_error": "invalid_api_key",
        "not_found_error": "model_not_found",
        "rate_limit_error": "rate_limit_exceeded",
        "overloaded_error": "overloaded",
    }.get(kind)
    openai_type = {
        "authentication_error": "invalid_request_error",
        "not_found_error": "invalid_request_error",
        "overloaded_error": "server_error",
        "api_error": "server_error",
    }.get(kind, kind)
    return {"message": message, "type": openai_type, "param": None, "code": code}


class StreamTranslator(OpenAIChunkWriter):
    """Anthropic SSE events in, OpenAI chat.completion.chunk events out, as they arrive."""

    def __init__(self, *, include_usage: bool) -> None:
        super().__init__(include_usage=include_usage)
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool_calls index

    def _event(self, raw: bytes) -> bytes:
        payload = next((line[5:].strip() for line in raw.split(b"\n") if line.startswith(b"data:")), b"")
        if not payload:
            return b""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return b""  # a torn or foreign event: skip it, keep the stream going
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.id, self.model = message.get("id", ""), message.get("model", "")
            self.usage.update(message.get("usage") or {})
            return self.chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") != "tool_use":
                return b""
            position = self.tool_index.setdefault(event.get("index", 0), len(self.tool_index))
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return self.chunk({"tool_calls": [call]})
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return self.chunk({"content": delta.get("text", "")})
            if delta.get("type") == "thinking_delta":  # billed as output: metered (and bounded) like text
                return self.chunk({"reasoning_content": delta.get("thinking", "")})
            if delta.get("type") == "input_json_delta":
                position = self.tool_index.get(event.get("index", 0), 0)
                return self.chunk(
                    {"tool_calls": [{"index": position, "function": {"arguments": delta.get("partial_json", "")}}]}
                )
            return b""
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            reason = (event.get("delta") or {}).get("stop_reason") or ""
            return self.chunk({}, FINISH_REASONS.get(reason, "stop"))
        if kind == "message_stop":
            return self.usage_chunk(openai_usage(self.usage)) + DONE
        if kind == "error":
            error = error_from_upstream(500, orjson.dumps(event))
            return self.error_event(error) + DONE
        return b""  # ping and future event types

    def finish(self) -> bytes:
        return b""  # message_stop already closed the stream


ADAPTER = WireFormat(
    build=build_request,
    error=error_from_upstream,
    translate=translate_response,
    translator=partial(StreamTranslator, include_usage=True),
    statuses=STATUS_FOR_CLIENT,
)
