"""The internal answer (an OpenAI chat.completion) as the Anthropic Message the client asked for.

The upstream body is untrusted: what cannot be a chat completion (not JSON, no choice, no message) raises one
of `translation.MALFORMED`; a field of the wrong type inside one is read as absent, never trusted.
"""

import uuid
from typing import Any

import orjson

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
MAX_ID_CHARS = 128


def _count(value: Any) -> int:
    """A token count the upstream reported; anything but a non-negative integer reads as 0 (metering checks
    the upstream's usage itself, on the OpenAI body)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def message_usage(usage: Any) -> dict[str, int]:
    """Anthropic's usage for OpenAI's: Anthropic's input_tokens leave out cache reads, OpenAI's prompt_tokens
    count them (prompt_tokens_details.cached_tokens)."""
    if not isinstance(usage, dict):
        usage = {}
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        details = {}
    prompt = _count(usage.get("prompt_tokens"))
    cached = min(_count(details.get("cached_tokens")), prompt)
    written = min(_count(details.get("cache_write_tokens")), prompt - cached)  # our extension (see usage.py)
    return {
        "input_tokens": prompt - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": _count(usage.get("completion_tokens")),
    }


def stop_reason(finish_reason: Any, *, stop_sequence: str | None = None, used_tools: bool = False) -> str:
    """Anthropic's stop_reason for OpenAI's finish_reason. A turn that called tools ends in tool_use whatever
    the server said (some answer "stop" after tool calls): the client runs tools only on tool_use."""
    reason = STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    if reason == "end_turn" and used_tools:
        return "tool_use"
    if reason == "end_turn" and stop_sequence is not None:
        return "stop_sequence"
    return reason


def matched_stop_sequence(choice: dict[str, Any]) -> str | None:
    """The stop sequence that ended the choice, when the server says which (vLLM and SGLang put the matched
    string in `stop_reason`; OpenAI does not say)."""
    matched = choice.get("stop_reason")
    if choice.get("finish_reason") == "stop" and isinstance(matched, str) and matched:
        return matched
    return None


def message_id(upstream_id: Any) -> str:
    if not isinstance(upstream_id, str) or not upstream_id:
        return f"msg_{uuid.uuid4().hex}"
    if upstream_id.startswith("msg_"):
        return upstream_id[:MAX_ID_CHARS]
    return "msg_" + upstream_id.removeprefix("chatcmpl-")[:MAX_ID_CHARS]


def tool_use_id(call_id: Any) -> str:
    """The upstream's call id, kept as it is so the client's tool_result names it back; one of our own when
    the upstream gave none."""
    if isinstance(call_id, str) and call_id:
        return call_id[:MAX_ID_CHARS]
    return f"toolu_{uuid.uuid4().hex}"


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments (JSON text, or an object from servers that send one) as Anthropic's input
    object; arguments that are not a JSON object read as {}."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str | bytes) or not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def reasoning_text(holder: dict[str, Any]) -> str:
    """The reasoning a message or delta carries: `reasoning_content` (DeepSeek, Qwen, vLLM) or `reasoning`
    (OpenRouter, newer vLLM)."""
    for name in ("reasoning_content", "reasoning"):
        value = holder.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, from servers that answer with them
        return "".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _tool_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    calls = list(calls) if isinstance(calls, list) else []
    if isinstance(message.get("function_call"), dict):  # the legacy single call
        calls.append({"function": message["function_call"]})
    blocks = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call.get("id")),
                "name": function["name"],
                "input": tool_input(function.get("arguments")),
            }
        )
    return blocks


def _content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    thinking = reasoning_text(message)
    if thinking:
        blocks.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = _text(message.get("content")) or _text(message.get("refusal"))
    tools = _tool_blocks(message)
    if text or not tools:
        blocks.append({"type": "text", "text": text})
    return blocks + tools


def _first_choice(completion: Any) -> dict[str, Any]:
    if not isinstance(completion, dict):
        raise TypeError("the upstream's chat completion is not a JSON object")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the upstream's chat completion has no choice")
    if not isinstance(choices[0].get("message"), dict):
        raise ValueError("the upstream's choice has no message")
    return choices[0]


def chat_to_message(payload: bytes, *, model: str) -> bytes:
    """An OpenAI chat.completion body as an Anthropic Message body; `model` is the name the client asked for.
    One of `translation.MALFORMED` if the payload is not a chat completion."""
    completion = orjson.loads(payload)
    choice = _first_choice(completion)
    content = _content_blocks(choice["message"])
    if not _text(choice["message"].get("content")) and _text(choice["message"].get("refusal")):
        reason, matched = "refusal", None
    else:
        matched = matched_stop_sequence(choice)
        used_tools = any(block["type"] == "tool_use" for block in content)
        reason = stop_reason(choice.get("finish_reason"), stop_sequence=matched, used_tools=used_tools)
    message = {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": matched if reason == "stop_sequence" else None,
        "usage": message_usage(completion.get("usage")),
    }
    return orjson.dumps(message)
