"""The internal answer (an OpenAI chat.completion) as the Response object the client asked for, and the
chat messages a stored Response gives the next turn's history.

A Response carries the request's settings back (instructions, tools, tool_choice, temperature, …, as OpenAI
echoes them, with OpenAI's defaults for those the request left out); its output is a reasoning item when
the model reasoned (`reasoning_content`: its text as the item's `reasoning_text` content, not a summary), a
message item with the text (and a refusal part for a refusal), then a function_call item per tool call.
`finish_reason` "length" makes the response `incomplete` (reason `max_output_tokens`), "content_filter"
too (reason `content_filter`); the last output item is then `incomplete` as well.

The upstream body is untrusted: what cannot be a chat completion (not JSON, no choice, no message) raises one
of `translation.MALFORMED`; a field of the wrong type inside one is read as absent, never trusted.
"""

import uuid
from typing import Any

import orjson

from apps.gateway.dialects.anthropic_response import reasoning_text

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
MAX_ID_CHARS = 128
DEFAULT_TEXT = {"format": {"type": "text"}, "verbosity": "medium"}

Item = dict[str, Any]


def item_id(prefix: str, response_id: str, output_index: int) -> str:
    """An output item's id (msg_…, fc_…, rs_…), made from its response's: the same in a stream and out."""
    return f"{prefix}_{response_id.removeprefix('resp_')}_{output_index}"


def call_id(upstream_id: Any) -> str:
    """The upstream's tool call id, kept so that the client's function_call_output names it back; one of our
    own when the upstream gave none."""
    if isinstance(upstream_id, str) and upstream_id:
        return upstream_id[:MAX_ID_CHARS]
    return f"call_{uuid.uuid4().hex}"


def arguments_text(arguments: Any) -> str:
    """A tool call's arguments as the JSON text the Responses API carries (some servers send an object)."""
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict):
        try:
            return orjson.dumps(arguments).decode()
        except orjson.JSONEncodeError:
            return ""
    return ""


def response_status(finish_reason: Any) -> tuple[str, dict[str, str] | None]:
    """The Response's status and incomplete_details for OpenAI's finish_reason."""
    reason = INCOMPLETE_REASONS.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def _count(value: Any) -> int:
    """A token count the upstream reported; anything but a non-negative integer reads as 0 (metering checks
    the upstream's usage itself, on the OpenAI body)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _details(usage: dict[str, Any], name: str) -> dict[str, Any]:
    details = usage.get(name)
    return details if isinstance(details, dict) else {}


def response_usage(usage: Any) -> dict[str, Any] | None:
    """The Responses API's usage for OpenAI chat usage (None: the upstream reported none). Tokens counted in
    the total only (reasoning, with some servers) are output tokens, as metering bills them."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    output = max(completion, _count(usage.get("total_tokens")) - prompt)
    prompt_details = _details(usage, "prompt_tokens_details")
    cached = min(_count(prompt_details.get("cached_tokens")), prompt)
    written = min(_count(prompt_details.get("cache_write_tokens")), prompt - cached)  # Hydite's (see usage.py)
    reasoning = min(_count(_details(usage, "completion_tokens_details").get("reasoning_tokens")), output)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def _tool_echo(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return tool
    defaults = {"description": None, "parameters": None, "strict": True}
    return {**defaults, **{name: value for name, value in tool.items() if value is not None}}


def response_object(
    request: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created_at: int,
    status: str,
    output: list[Item],
    usage: dict[str, Any] | None,
    incomplete_details: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Response object: its state, and the request's settings as OpenAI echoes them."""
    text: dict[str, Any] = request["text"] if isinstance(request.get("text"), dict) else {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None, **(request.get("reasoning") or {})},
        "safety_identifier": request.get("safety_identifier"),
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": {**DEFAULT_TEXT, **{name: value for name, value in text.items() if value is not None}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": [_tool_echo(tool) for tool in request.get("tools") or () if isinstance(tool, dict)],
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(refusal: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def message_item(item: str, content: list[dict[str, Any]], status: str) -> Item:
    return {"id": item, "type": "message", "status": status, "role": "assistant", "content": content}


def reasoning_item(item: str, reasoning: str | None, status: str) -> Item:
    content = [] if reasoning is None else [{"type": "reasoning_text", "text": reasoning}]
    return {"id": item, "type": "reasoning", "status": status, "summary": [], "content": content}


def function_call_item(item: str, call: str, name: str, arguments: str, status: str) -> Item:
    return {
        "id": item,
        "type": "function_call",
        "status": status,
        "call_id": call,
        "name": name,
        "arguments": arguments,
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, from servers that answer with them
        return "".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _calls(message: dict[str, Any]) -> list[tuple[Any, str, Any]]:
    """(id, name, arguments) of each tool call of a chat message (a legacy function_call too)."""
    calls = message.get("tool_calls")
    calls = list(calls) if isinstance(calls, list) else []
    if isinstance(message.get("function_call"), dict):
        calls.append({"function": message["function_call"]})
    found = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]:
            found.append((call.get("id"), function["name"], function.get("arguments")))
    return found


def output_items(message: dict[str, Any], response_id: str, *, incomplete: bool) -> list[Item]:
    """The output items of a chat message: reasoning, then the message, then the function calls."""
    items: list[Item] = []
    reasoning = reasoning_text(message)
    if reasoning:
        items.append(reasoning_item(item_id("rs", response_id, 0), reasoning, "completed"))
    text, refusal = _text(message.get("content")), _text(message.get("refusal"))
    calls = _calls(message)
    if text or refusal or not calls:
        content = ([text_part(text)] if text or not refusal else []) + ([refusal_part(refusal)] if refusal else [])
        items.append(message_item(item_id("msg", response_id, len(items)), content, "completed"))
    for upstream_id, name, arguments in calls:
        fc_id = item_id("fc", response_id, len(items))
        items.append(function_call_item(fc_id, call_id(upstream_id), name, arguments_text(arguments), "completed"))
    if incomplete:
        items[-1]["status"] = "incomplete"
    return items


def _first_choice(completion: Any) -> dict[str, Any]:
    if not isinstance(completion, dict):
        raise TypeError("the upstream's chat completion is not a JSON object")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the upstream's chat completion has no choice")
    if not isinstance(choices[0].get("message"), dict):
        raise ValueError("the upstream's choice has no message")
    return choices[0]


def chat_to_response(
    payload: bytes, *, model: str, response_id: str, request: dict[str, Any], created_at: int
) -> bytes:
    """An OpenAI chat.completion body as a Response body; `model` is the name the client asked for,
    `request` its (checked) Responses body. One of `translation.MALFORMED` if the payload is not a chat
    completion."""
    completion = orjson.loads(payload)
    choice = _first_choice(completion)
    status, incomplete_details = response_status(choice.get("finish_reason"))
    response = response_object(
        request,
        model=model,
        response_id=response_id,
        created_at=created_at,
        status=status,
        output=output_items(choice["message"], response_id, incomplete=status == "incomplete"),
        usage=response_usage(completion.get("usage")),
        incomplete_details=incomplete_details,
    )
    return orjson.dumps(response)


def response_output_messages(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages a stored Response's output adds to the next turn's history: its message text as an
    assistant message, its function calls as that message's tool_calls (reasoning is not taken back)."""
    messages: list[dict[str, Any]] = []
    output = response.get("output")
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            content = item.get("content")
            texts = (
                [_part_text(part) for part in content if isinstance(part, dict)] if isinstance(content, list) else []
            )
            messages.append({"role": "assistant", "content": "".join(texts)})
        elif item.get("type") == "function_call" and isinstance(item.get("name"), str):
            call = {
                "id": call_id(item.get("call_id")),
                "type": "function",
                "function": {"name": item["name"], "arguments": arguments_text(item.get("arguments"))},
            }
            if messages and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    return messages


def _part_text(part: dict[str, Any]) -> str:
    value = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
    return value if isinstance(value, str) else ""
