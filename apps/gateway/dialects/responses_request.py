"""An OpenAI Responses request as the gateway's internal request: an OpenAI chat completions body.

Call it on a body `responses_shape` accepted (it reads the shapes that check guarantees).

The chat messages are: `instructions` as the system message (first), then `history` (the chat messages of
the turns a `previous_response_id` names, which the pipeline loads from its store: each stored turn's
`input_chat_messages` and its `response_output_messages`, instructions left out, as OpenAI does not carry
them over), then this request's input items:
- messages keep their role, except `developer`, which becomes `system` (not every OpenAI-compatible server
  knows the developer role); a single text stays a string (what every server reads);
- function_call items become the tool_calls of an assistant message, consecutive ones (and the assistant
  text before them) merged into one, as a chat model answers;
- function_call_output items become tool messages; their images and files follow, after the run of tool
  messages, in a user message (OpenAI's tool messages carry text only);
- reasoning items are dropped: OpenAI-format chat models take no reasoning back.

Not carried over: `store`, `metadata`, `truncation`, `include`, `prompt_cache_key`, `text.verbosity`,
`reasoning.summary`, `service_tier`, `max_tool_calls` (the chat API has no equivalent, or only OpenAI's
has one). Function tools keep `strict` only when the client set it (the Responses API defaults it to true;
OpenAI-compatible servers differ).
"""

from typing import Any

TOOL_OUTPUT_BELOW = "(the tool's images and files are attached below)"
TOOL_CHOICES = ("auto", "none", "required")
ITEM_ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}

Message = dict[str, Any]
Part = dict[str, Any]


def responses_to_chat(body: dict[str, Any], *, history: list[Message] | None = None) -> dict[str, Any]:
    """The OpenAI chat body for a Responses body (already checked by `responses_shape`); `history`: the chat
    messages of the earlier turns `previous_response_id` names (None or [] without one)."""
    messages: list[Message] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages.extend(history or ())
    messages.extend(input_chat_messages(body))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("user"):
        chat["user"] = body["user"]
    if isinstance(body.get("stream"), bool):
        chat["stream"] = body["stream"]
        if body["stream"]:
            chat["stream_options"] = {"include_usage": True}
    chat.update(_tool_params(body))
    response_format = _response_format((body.get("text") or {}).get("format"))
    if response_format is not None:
        chat["response_format"] = response_format
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        chat["reasoning_effort"] = effort
    return chat


def input_chat_messages(body: dict[str, Any]) -> list[Message]:
    """The chat messages of the request's `input` alone (no instructions, no history): what a stored
    response's turn contributes to the history of the next, besides its output."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    messages: list[Message] = []
    moved: list[Part] = []  # the images and files of the run of tool outputs going on
    for item in given or ():
        kind = item.get("type") or "message"
        if kind != "function_call_output" and moved:
            messages.append({"role": "user", "content": moved})
            moved = []
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            _add_call(messages, item)
        elif kind == "function_call_output":
            message, parts = _tool_message(item)
            messages.append(message)
            moved.extend(parts)
    if moved:
        messages.append({"role": "user", "content": moved})
    return messages


def _message(item: dict[str, Any]) -> Message:
    role = "system" if item["role"] == "developer" else item["role"]
    content = item["content"]
    if isinstance(content, str):
        return {"role": role, "content": content}
    if role != "user":  # text parts only (checked): one string
        return {"role": role, "content": "\n\n".join(_part_text(part) for part in content)}
    parts = [_part(part) for part in content]
    if len(parts) == 1 and parts[0]["type"] == "text":
        return {"role": role, "content": parts[0]["text"]}
    return {"role": role, "content": parts}


def _part_text(part: dict[str, Any]) -> str:
    text: str = part["refusal"] if part["type"] == "refusal" else part["text"]
    return text


def _part(part: dict[str, Any]) -> Part:
    """The chat content part of a Responses input part (input_text, input_image, input_file)."""
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") is not None:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    file = {name: part[name] for name in ("filename", "file_data", "file_id") if part.get(name) is not None}
    return {"type": "file", "file": file}


def _add_call(messages: list[Message], item: dict[str, Any]) -> None:
    call = {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item["arguments"]},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and isinstance(last.get("content"), str | None):
        last.setdefault("tool_calls", []).append(call)
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_message(item: dict[str, Any]) -> tuple[Message, list[Part]]:
    output = item["output"]
    if isinstance(output, str):
        return {"role": "tool", "tool_call_id": item["call_id"], "content": output}, []
    texts = [part["text"] for part in output if part["type"] == "input_text"]
    others = [_part(part) for part in output if part["type"] != "input_text"]
    text = "\n".join(texts) or (TOOL_OUTPUT_BELOW if others else "")
    return {"role": "tool", "tool_call_id": item["call_id"], "content": text}, others


def _tool_params(body: dict[str, Any]) -> dict[str, Any]:
    functions = [tool for tool in body.get("tools") or () if tool["type"] == "function"]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice["type"] == "allowed_tools":  # the tools narrowed to those allowed
        allowed = {tool["name"] for tool in choice["tools"] if tool["type"] == "function"}
        functions = [tool for tool in functions if tool["name"] in allowed]
        choice = choice["mode"]
    if not functions:  # OpenAI refuses tool_choice and parallel_tool_calls without tools
        return {}
    params: dict[str, Any] = {"tools": [_function(tool) for tool in functions]}
    if isinstance(choice, str) and choice in TOOL_CHOICES:
        params["tool_choice"] = choice
    elif isinstance(choice, dict) and choice["type"] == "function":
        params["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    if isinstance(body.get("parallel_tool_calls"), bool):
        params["parallel_tool_calls"] = body["parallel_tool_calls"]
    return params


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    if tool.get("parameters") is not None:
        function["parameters"] = tool["parameters"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _response_format(form: Any) -> dict[str, Any] | None:
    if not isinstance(form, dict) or form["type"] == "text":
        return None
    if form["type"] == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": form["name"], "schema": form["schema"]}
    for name in ("description", "strict"):
        if form.get(name) is not None:
            schema[name] = form[name]
    return {"type": "json_schema", "json_schema": schema}


def input_items(body: dict[str, Any], *, response_id: str) -> list[dict[str, Any]]:
    """The request's input as the items OpenAI lists for `GET /v1/responses/{id}/input_items`: each with an
    id (the client's, or one made from the response's), a message's content as parts."""
    given = body.get("input")
    items = [{"type": "message", "role": "user", "content": given}] if isinstance(given, str) else given or []
    suffix = response_id.removeprefix("resp_")
    listed = []
    for index, item in enumerate(items):
        kind = item.get("type") or "message"
        entry = {**item, "type": kind}
        if not isinstance(entry.get("id"), str):
            entry["id"] = f"{ITEM_ID_PREFIXES.get(kind, 'item')}_{suffix}_in{index}"
        if kind == "message" and isinstance(item["content"], str):
            part_type = "output_text" if item["role"] == "assistant" else "input_text"
            entry["content"] = [{"type": part_type, "text": item["content"]}]
        if kind in ("message", "function_call", "function_call_output") and entry.get("status") is None:
            entry["status"] = "completed"
        listed.append(entry)
    return listed
