"""Google Gemini generateContent / streamGenerateContent ⇄ OpenAI chat completions."""

import time
from functools import partial
from typing import Any
from urllib.parse import quote

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

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}
ERROR_TYPES = {
    "INVALID_ARGUMENT": ("invalid_request_error", None),
    "FAILED_PRECONDITION": ("invalid_request_error", None),
    "RESOURCE_EXHAUSTED": ("rate_limit_error", "rate_limit_exceeded"),
    "PERMISSION_DENIED": ("invalid_request_error", "invalid_api_key"),
    "UNAUTHENTICATED": ("invalid_request_error", "invalid_api_key"),
    "NOT_FOUND": ("invalid_request_error", "model_not_found"),
    "INTERNAL": ("server_error", None),
    "UNAVAILABLE": ("server_error", None),
    "DEADLINE_EXCEEDED": ("server_error", None),
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        parts: list[dict[str, Any]] = []
        for part in content:
            if part.get("type") == "text":
                parts.append({"text": part.get("text", "")})
            elif part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url", "")
                if url.startswith("data:") and ";base64," in url:
                    mime, data = url[5:].split(";base64,", 1)
                    parts.append({"inlineData": {"mimeType": mime, "data": data}})
                else:
                    parts.append({"fileData": {"fileUri": url}})
        return parts
    return [{"text": content or ""}]


def _arguments(raw: str) -> Any:
    try:
        return orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": raw}


def translate_request(body: dict[str, Any]) -> dict[str, Any]:
    system, contents = _contents(body.get("messages") or [])
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = _generation_config(body)
    if config:
        request["generationConfig"] = config
    if body.get("tools"):
        request["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in body["tools"]]}]
        tool_config = _tool_config(body.get("tool_choice"))
        if tool_config:
            request["toolConfig"] = tool_config
    return request


def _contents(messages: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The system text and Gemini's contents of OpenAI's messages."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for message in messages:
        role = message.get("role")
        if role in {"system", "developer"}:
            system.append(_text(message.get("content")))
        elif role == "assistant":
            contents.append({"role": "model", "parts": _assistant_parts(message, call_names)})
        elif role == "tool":
            name = call_names.get(message.get("tool_call_id", ""), "tool")
            response = {"functionResponse": {"name": name, "response": {"content": _text(message.get("content"))}}}
            contents.append({"role": "user", "parts": [response]})
        elif role == "user":
            contents.append({"role": "user", "parts": _parts(message.get("content"))})
    return system, contents


def _assistant_parts(message: dict[str, Any], call_names: dict[str, str]) -> list[dict[str, Any]]:
    """An assistant turn's text and function calls (their names remembered for the tool answers after)."""
    text = _text(message.get("content"))
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        call_names[call.get("id", "")] = function.get("name", "")
        arguments = _arguments(function.get("arguments", ""))
        parts.append({"functionCall": {"name": function.get("name", ""), "args": arguments}})
    return parts or [{"text": ""}]


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for openai_name, gemini_name in (("temperature", "temperature"), ("top_p", "topP"), ("n", "candidateCount")):
        if openai_name in body:
            config[gemini_name] = body[openai_name]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if (body.get("response_format") or {}).get("type") in {"json_object", "json_schema"}:
        config["responseMimeType"] = "application/json"
    return config


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    return {
        "name": function.get("name", ""),
        "description": function.get("description", ""),
        "parameters": function.get("parameters") or {"type": "object"},
    }


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name", "")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    mode = {"none": "NONE", "required": "ANY", "auto": "AUTO"}.get(choice) if isinstance(choice, str) else None
    return {"functionCallingConfig": {"mode": mode}} if mode else None


def build_request(
    *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
) -> UpstreamRequest:
    if path != "/chat/completions":
        raise UnsupportedRequest(f"Gemini models serve /v1/chat/completions only, not /v1{path}.")
    model = quote(deployment["upstream_model"], safe="")
    method = "streamGenerateContent?alt=sse" if body.get("stream") else "generateContent"
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["x-goog-api-key"] = secret
    url = f"{deployment['api_base']}/models/{model}:{method}"
    return UpstreamRequest(url=url, headers=headers, body=orjson.dumps(translate_request(body)))


def openai_usage(metadata: dict[str, Any]) -> dict[str, Any]:
    prompt = count_sum(metadata.get("promptTokenCount"))
    completion = count_sum(metadata.get("candidatesTokenCount"), metadata.get("thoughtsTokenCount"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": count_sum(metadata.get("cachedContentTokenCount"))},
    }


def _candidate_parts(response: dict[str, Any]) -> tuple[str, list[dict[str, Any]], str | None]:
    candidate = (response.get("candidates") or [{}])[0]
    text, calls = [], []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "text" in part and not part.get("thought"):
            text.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            calls.append({"name": call.get("name", ""), "arguments": orjson.dumps(call.get("args") or {}).decode()})
    return "".join(text), calls, candidate.get("finishReason")


def translate_response(payload: bytes) -> bytes:
    response = orjson.loads(payload)
    text, calls, reason = _candidate_parts(response)
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{n}", "type": "function", "function": call} for n, call in enumerate(calls)
        ]
    finish = "tool_calls" if calls else FINISH_REASONS.get(reason or "STOP", "stop")
    completion = {
        "id": "chatcmpl-" + (response.get("responseId") or str(time.time_ns())),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.get("modelVersion", ""),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": openai_usage(response.get("usageMetadata") or {}),
    }
    return orjson.dumps(completion)


def error_from_upstream(status: int, payload: bytes) -> dict[str, Any]:
    error = upstream_error_fields(payload)
    kind: str
    code: str | None
    if b"API_KEY_INVALID" in payload:
        kind, code = "invalid_request_error", "invalid_api_key"
    else:
        kind, code = ERROR_TYPES.get(
            error.get("status", ""), ("server_error" if status >= 500 else "invalid_request_error", None)
        )
    return {"message": upstream_error_message(error, payload, status), "type": kind, "param": None, "code": code}


class StreamTranslator(OpenAIChunkWriter):
    """Gemini's SSE responses in, OpenAI chunks out; Gemini has no end event, so `finish` closes the stream."""

    def __init__(self, *, include_usage: bool) -> None:
        super().__init__(include_usage=include_usage, chunk_id=f"chatcmpl-{time.time_ns()}")
        self.started = False
        self.usage: dict[str, Any] = {}
        self.calls = 0

    def _event(self, raw: bytes) -> bytes:
        payload = next((line[5:].strip() for line in raw.split(b"\n") if line.startswith(b"data:")), b"")
        try:
            response = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(response, dict):
            return b""
        if "error" in response:
            error = error_from_upstream(500, payload)
            return self.error_event(error)
        self.model = response.get("modelVersion", self.model)
        self.usage = response.get("usageMetadata") or self.usage
        out = b""
        if not self.started:
            self.started = True
            out += self.chunk({"role": "assistant", "content": ""})
        text, calls, reason = _candidate_parts(response)
        if text:
            out += self.chunk({"content": text})
        for call in calls:
            out += self.chunk(
                {
                    "tool_calls": [
                        {"index": self.calls, "id": f"call_{self.calls}", "type": "function", "function": call}
                    ]
                }
            )
            self.calls += 1
        if reason:
            out += self.chunk({}, "tool_calls" if self.calls else FINISH_REASONS.get(reason, "stop"))
        return out

    def finish(self) -> bytes:
        tail = self.event(self.pending) if self.pending.strip() else b""
        self.pending = b""
        return tail + self.usage_chunk(openai_usage(self.usage)) + DONE


ADAPTER = WireFormat(
    build=build_request,
    error=error_from_upstream,
    translate=translate_response,
    translator=partial(StreamTranslator, include_usage=True),
)
