"""An Anthropic Messages request as the gateway's internal request: an OpenAI chat completions body.

Call it on a body `messages_shape` accepted (it reads the shapes that check guarantees).

What does not carry over, and why:
- thinking and redacted_thinking blocks of the history are dropped: their signatures are Anthropic's, and
  OpenAI-format models take no reasoning back (DeepSeek refuses it);
- `top_k`, `cache_control`, citations, `service_tier` and unknown (beta) parameters: OpenAI has no such field;
- server tools (a tool with a `type` such as `web_search_20250305`): only Anthropic runs them;
- a tool_result's images: OpenAI's tool messages carry text only, so they follow in the user message after
  the tool messages.
`thinking` becomes `reasoning_effort` by its budget (REASONING_EFFORT_BUDGETS), `adaptive` leaves the
model's default; `disabled` sends nothing (not every model can turn reasoning off).
"""

from typing import Any

import orjson

REASONING_EFFORT_BUDGETS = ((4096, "low"), (16384, "medium"))  # budget_tokens below the bound → effort
HIGHEST_REASONING_EFFORT = "high"
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
TOOL_ERROR_PREFIX = "Error: "
IMAGE_BELOW = "(image attached below)"
DEFAULT_PDF_NAME = "document.pdf"

Part = dict[str, Any]
Message = dict[str, Any]


def messages_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat body for an Anthropic Messages body (already checked by `messages_shape`)."""
    chat: dict[str, Any] = {"model": body["model"], "messages": chat_messages(body), "max_tokens": body["max_tokens"]}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str) and user:
        chat["user"] = user
    if isinstance(body.get("stream"), bool):
        chat["stream"] = body["stream"]
        if body["stream"]:
            chat["stream_options"] = {"include_usage": True}
    chat.update(_tool_params(body.get("tools"), body.get("tool_choice")))
    effort = reasoning_effort(body.get("thinking"))
    if effort is not None:
        chat["reasoning_effort"] = effort
    return chat


def reasoning_effort(thinking: Any) -> str | None:
    """OpenAI's reasoning_effort for an Anthropic thinking budget (None: leave the model's default)."""
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return None
    return next((effort for bound, effort in REASONING_EFFORT_BUDGETS if budget < bound), HIGHEST_REASONING_EFFORT)


def chat_messages(body: dict[str, Any]) -> list[Message]:
    messages: list[Message] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body["messages"]:
        if message["role"] == "user":
            messages.extend(_user_messages(message["content"]))
        else:
            messages.extend(_assistant_messages(message["content"]))
    return messages


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "\n\n".join(block["text"] for block in system or () if block["text"])


def _content(parts: list[Part]) -> str | list[Part]:
    """One text as a string (what every OpenAI-compatible server reads), else the parts."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        text: str = parts[0]["text"]
        return text
    return parts


def _user_messages(content: Any) -> list[Message]:
    """Tool results first, as tool messages in their order, then the rest of the turn as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[Message] = []
    moved: list[Part] = []  # a tool result's images: tool messages carry text only
    parts: list[Part] = []
    for block in content:
        if block["type"] == "tool_result":
            message, images = _tool_message(block)
            tool_messages.append(message)
            moved.extend(images)
        else:
            parts.extend(_parts(block))
    rest = moved + parts
    return tool_messages + ([{"role": "user", "content": _content(rest)}] if rest else [])


def _tool_message(block: dict[str, Any]) -> tuple[Message, list[Part]]:
    content = block.get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else []
    for item in content if isinstance(content, list) else ():
        parts.extend(_parts(item))
    texts = [part["text"] for part in parts if part["type"] == "text"]
    others = [part for part in parts if part["type"] != "text"]
    text = "\n".join(texts) or (IMAGE_BELOW if others else "")
    if block.get("is_error"):
        text = TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}, others


def _assistant_messages(content: Any) -> list[Message]:
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}]
    texts = [block["text"] for block in content if block["type"] == "text"]
    calls = [_tool_call(block) for block in content if block["type"] == "tool_use"]
    text = "\n\n".join(texts)
    if not calls:
        return [{"role": "assistant", "content": text}] if texts else []  # thinking only: nothing to forward
    return [{"role": "assistant", "content": text or None, "tool_calls": calls}]


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    arguments = orjson.dumps(block["input"]).decode()
    return {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}


def _parts(block: dict[str, Any]) -> list[Part]:
    """The OpenAI content parts of a user-side block (text, image, document)."""
    kind = block["type"]
    if kind == "text":
        return [{"type": "text", "text": block["text"]}]
    if kind == "image":
        return [_image_part(block["source"])]
    return _document_parts(block)


def _image_part(source: dict[str, Any]) -> Part:
    url = f"data:{source['media_type']};base64,{source['data']}" if source["type"] == "base64" else source["url"]
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict[str, Any]) -> list[Part]:
    source = block["source"]
    heading = [value for value in (block.get("title"), block.get("context")) if isinstance(value, str) and value]
    if source["type"] == "base64":
        file_data = f"data:{source['media_type']};base64,{source['data']}"
        filename = block.get("title") or DEFAULT_PDF_NAME
        return [{"type": "file", "file": {"filename": filename, "file_data": file_data}}]
    if source["type"] == "text":
        return [{"type": "text", "text": "\n\n".join([*heading, source["data"]])}]
    content = source["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": "\n\n".join([*heading, content])}]
    parts = [{"type": "text", "text": "\n\n".join(heading)}] if heading else []
    for item in content:
        parts.extend(_parts(item))
    return parts


def _tool_params(tools: Any, choice: Any) -> dict[str, Any]:
    functions = [_function(tool) for tool in tools or () if tool.get("type") in (None, "custom")]
    if not functions:  # OpenAI refuses tool_choice without tools
        return {}
    params: dict[str, Any] = {"tools": functions}
    if isinstance(choice, dict):
        if choice["type"] == "tool":
            params["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        else:
            params["tool_choice"] = TOOL_CHOICES[choice["type"]]
        if choice.get("disable_parallel_tool_use"):
            params["parallel_tool_calls"] = False
    return params


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    function["parameters"] = tool["input_schema"]
    return {"type": "function", "function": function}
