"""A /v1/responses body checked as OpenAI checks it (its messages, `param` and codes), and read as a prompt.

`input` is a string or a list of items: messages (`role`, `content` as a string or parts), `function_call`
and `function_call_output` items; item types the mock does not know (reasoning, item_reference, …) are
kept and add no words. Fields the mock does not use are accepted and ignored, as a newer API adds them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from apps.mock_provider.behaviour import MockError
from apps.mock_provider.plan import Prompt
from apps.mock_provider.responses_store import StoredResponse
from apps.mock_provider.tools import ChoiceMode, LastMessage, ToolChoice, ToolSpec

ROLES = ("user", "assistant", "system", "developer")
TEXT_FORMATS = ("text", "json_object", "json_schema")
MIN_OUTPUT_TOKENS = 16
_KIND = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string", list: "an array", dict: "an object"}
_ITEM_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


@dataclass(frozen=True)
class ResponsesAsk:
    prompt: Prompt
    items: list[dict[str, Any]]  # this request's input as items with ids (what input_items lists)
    conversation: tuple[str, ...]  # the words of the conversation so far, instructions left out
    previous: StoredResponse | None


def _kind(value: Any) -> str:
    return "null" if value is None else _KIND.get(type(value), "a value of another type")


def _type_error(param: str, expected: str, value: Any) -> MockError:
    message = f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead."
    return MockError(400, message, param=param, code="invalid_type")


def _missing(param: str) -> MockError:
    return MockError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _value_error(param: str, value: Any, allowed: tuple[str, ...]) -> MockError:
    supported = ", ".join(f"'{option}'" for option in allowed)
    message = f"Invalid value: '{str(value)[:100]}'. Supported values are: {supported}."
    return MockError(400, message, param=param, code="invalid_value")


def _optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...], expected: str) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind))):
        raise _type_error(name, expected, value)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def check_model(body: dict[str, Any]) -> str:
    if "model" not in body or body["model"] is None:
        raise _missing("model")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _type_error("model", "a string", body["model"])
    return body["model"]


def responses_ask(body: dict[str, Any], raw: bytes, previous: StoredResponse | None) -> ResponsesAsk:
    """The checked body (`previous`: the stored response `previous_response_id` names, looked up already)."""
    check_model(body)
    _check_scalars(body)
    items = _items(body, raw, previous)
    instructions = body.get("instructions")
    words = tuple(_item_text(item) for item in items)
    conversation = (previous.conversation if previous else ()) + words
    form = _text_format(body.get("text"))
    tools, choice = _tools(body.get("tools")), _tool_choice(body.get("tool_choice"))
    prompt = Prompt(
        model=body["model"],
        texts=((instructions,) if instructions else ()) + conversation,
        last=_last(items),
        tools=tools,
        tool_choice=choice,
        max_tokens=body.get("max_output_tokens"),
        max_tokens_param="max_output_tokens",
        output_schema=_schema(form),
        json_object=form.get("type") == "json_object",
    )
    return ResponsesAsk(prompt=prompt, items=items, conversation=conversation, previous=previous)


def _check_scalars(body: dict[str, Any]) -> None:
    _optional(body, "instructions", str, "a string")
    _optional(body, "previous_response_id", str, "a string")
    for flag in ("stream", "store", "parallel_tool_calls", "background"):
        _optional(body, flag, bool, "a boolean")
    for name in ("metadata", "reasoning", "text"):
        _optional(body, name, dict, "an object")
    _optional(body, "tools", list, "an array")
    _optional(body, "include", list, "an array")
    for name, high in (("temperature", 2), ("top_p", 1)):
        _optional(body, name, (int, float), "a decimal")
        value = body.get(name)
        if value is not None and not 0 <= value <= high:
            message = f"Invalid '{name}': expected a value from 0 to {high}, but got {value} instead."
            raise MockError(400, message, param=name, code="invalid_value")
    limit = body.get("max_output_tokens")
    _optional(body, "max_output_tokens", int, "an integer")
    if limit is not None and limit < MIN_OUTPUT_TOKENS:
        message = (
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= {MIN_OUTPUT_TOKENS}, "
            f"but got {limit} instead."
        )
        raise MockError(400, message, param="max_output_tokens", code="integer_below_min_value")


def _items(body: dict[str, Any], raw: bytes, previous: StoredResponse | None) -> list[dict[str, Any]]:
    given = body.get("input")
    if given is None or given == []:
        if previous is None:
            raise _missing("input")
        return []
    if isinstance(given, str):
        given = [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list):
        raise _type_error("input", "one of a string or array of input items", given)
    seed = hashlib.sha256(raw).hexdigest()[:20]
    return [_item(item, f"input[{index}]", f"{seed}{index:04d}") for index, item in enumerate(given)]


def _item(item: Any, param: str, suffix: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _type_error(param, "an object", item)
    kind = item.get("type", "message" if "role" in item else None)
    if not isinstance(kind, str):
        raise _missing(f"{param}.type")
    normal = {**item, "type": kind}
    if kind == "message":
        normal = _message(item, param)
    elif kind == "function_call":
        for field in ("call_id", "name", "arguments"):
            if field not in item:
                raise _missing(f"{param}.{field}")
            if not isinstance(item[field], str):
                raise _type_error(f"{param}.{field}", "a string", item[field])
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise _missing(f"{param}.call_id")
        if not isinstance(item.get("output"), str | list):
            raise _type_error(f"{param}.output", "a string or an array", item.get("output"))
    prefix = _ITEM_PREFIX.get(kind)
    if prefix is not None and not isinstance(normal.get("id"), str):
        normal["id"] = f"{prefix}_mock{suffix}"
    return normal


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ROLES:
        raise _missing(f"{param}.role") if role is None else _value_error(f"{param}.role", role, ROLES)
    content = item.get("content")
    part_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        content = [{"type": part_type, "text": content}]
    elif not isinstance(content, list):
        raise _type_error(f"{param}.content", "one of a string or array of input content", content)
    for index, part in enumerate(content):
        where = f"{param}.content[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _type_error(where, "an object with a type", part)
        if part["type"] in {"input_text", "output_text"} and not isinstance(part.get("text"), str):
            raise _type_error(f"{where}.text", "a string", part.get("text"))
    message = {"type": "message", "role": role, "content": content, "status": "completed"}
    if isinstance(item.get("id"), str):
        message["id"] = item["id"]
    return message


def _item_text(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind == "message":
        return " ".join(part["text"] for part in item["content"] if isinstance(part.get("text"), str))
    if kind == "function_call":
        return str(item["arguments"])
    if kind == "function_call_output":
        output = item["output"]
        if isinstance(output, str):
            return output
        return " ".join(part["text"] for part in output if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _last(items: list[dict[str, Any]]) -> LastMessage:
    if not items:
        return "other"
    last = items[-1]
    if last["type"] == "function_call_output":
        return "tool_result"
    return "user" if last["type"] == "message" and last["role"] == "user" else "other"


def _tools(tools: Any) -> tuple[ToolSpec, ...]:
    specs = []
    for index, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise _type_error(f"tools[{index}]", "an object", tool)
        if not isinstance(tool.get("type"), str):
            raise _missing(f"tools[{index}].type")
        if tool["type"] != "function":
            continue  # hosted tools (web search, file search, …): the mock never calls them
        if not isinstance(tool.get("name"), str):
            raise _missing(f"tools[{index}].name")
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise _type_error(f"tools[{index}].parameters", "an object", tool["parameters"])
        specs.append(ToolSpec(tool["name"], tool.get("parameters")))
    return tuple(specs)


def _tool_choice(choice: Any) -> ToolChoice:
    if isinstance(choice, str):
        modes: dict[str, ChoiceMode] = {"auto": "auto", "none": "none", "required": "any"}
        if choice not in modes:
            raise _value_error("tool_choice", choice, ("none", "auto", "required"))
        return ToolChoice(modes[choice])
    if choice is None:
        return ToolChoice()
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise _type_error("tool_choice", "a string or an object with a type", choice)
    if choice["type"] == "function":
        if not isinstance(choice.get("name"), str):
            raise _missing("tool_choice.name")
        return ToolChoice("named", choice["name"])
    if choice["type"] == "allowed_tools" and choice.get("mode") == "required":
        return ToolChoice("any")
    return ToolChoice()


def _text_format(text: Any) -> dict[str, Any]:
    form = (text or {}).get("format")
    if form is None:
        return {"type": "text"}
    if not isinstance(form, dict):
        raise _type_error("text.format", "an object", form)
    if form.get("type") not in TEXT_FORMATS:
        raise _value_error("text.format.type", form.get("type"), TEXT_FORMATS)
    if form["type"] == "json_schema":
        if not isinstance(form.get("name"), str):
            raise _missing("text.format.name")
        if "schema" not in form:
            raise _missing("text.format.schema")
        if not isinstance(form["schema"], dict):
            raise _type_error("text.format.schema", "an object", form["schema"])
    return form


def _schema(form: dict[str, Any]) -> Any:
    return form.get("schema") if form.get("type") == "json_schema" else None


def text_format_echo(body: dict[str, Any]) -> dict[str, Any]:
    """The `text` a response object shows: the request's format (text by default)."""
    return {"format": _text_format(body.get("text")), "verbosity": "medium"}
