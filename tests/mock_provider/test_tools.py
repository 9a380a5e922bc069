"""When the mock calls a tool, in every wire format it serves: text unless the tool choice forces a tool or the
last user message holds `[mock:tool]` / `[mock:tool=NAME]`; text after a tool result; arguments valid against
the tool's JSON Schema, streamed in several pieces."""

import json
from typing import Any

import httpx
import jsonschema
import pytest

from tests.conftest import UPSTREAM_API_KEY

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "minLength": 2},
        "timeout": {"type": "number", "maximum": 600000},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "count": {"type": "integer", "minimum": 3, "maximum": 9},
        "ratio": {"type": "number", "exclusiveMinimum": 0.5, "multipleOf": 0.25},
        "paths": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
        "options": {
            "type": "object",
            "properties": {"deep": {"type": "boolean"}, "depth": {"type": ["integer", "null"]}},
            "required": ["deep", "depth"],
            "additionalProperties": False,
        },
        "target": {"anyOf": [{"$ref": "#/$defs/Target"}, {"type": "null"}]},
        "kind": {"const": "edit"},
        "when": {"type": "string", "format": "date-time"},
        "limit": {"type": "integer", "default": 7},
        "both": {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"required": ["b"]}]},
    },
    "required": ["command", "timeout", "mode", "count", "ratio", "paths", "options", "target", "kind", "when", "both"],
    "additionalProperties": False,
    "$defs": {
        "Target": {
            "type": "object",
            "properties": {"line": {"type": "integer", "exclusiveMinimum": 0}},
            "required": ["line"],
        }
    },
}
TOOLS = [
    ("first_tool", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
    ("edit", SCHEMA),
]


def _openai(mock_root: str, choice: Any, last: str, text: str) -> tuple[str, dict, dict]:
    tools = [{"type": "function", "function": {"name": name, "parameters": schema}} for name, schema in TOOLS]
    messages: list[dict] = [{"role": "user", "content": text}]
    if last == "tool_result":
        call = {"id": "call_1", "type": "function", "function": {"name": "edit", "arguments": "{}"}}
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "it is done"},
        ]
    body: dict[str, Any] = {"model": "mock-gpt-4o", "messages": messages, "tools": tools}
    if choice is not None:
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice[1]}} if isinstance(choice, tuple) else choice
        )
    return f"{mock_root}/v1/chat/completions", {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}, body


def _anthropic(mock_root: str, choice: Any, last: str, text: str) -> tuple[str, dict, dict]:
    tools = [{"name": name, "input_schema": schema} for name, schema in TOOLS]
    messages: list[dict] = [{"role": "user", "content": text}]
    if last == "tool_result":
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "edit", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "it is done"}]},
        ]
    body: dict[str, Any] = {"model": "claude-mock", "max_tokens": 30, "messages": messages, "tools": tools}
    if choice is not None:
        modes = {"required": {"type": "any"}, "none": {"type": "none"}, "auto": {"type": "auto"}}
        body["tool_choice"] = {"type": "tool", "name": choice[1]} if isinstance(choice, tuple) else modes[choice]
    return f"{mock_root}/v1/messages", {"x-api-key": UPSTREAM_API_KEY, "anthropic-version": "2023-06-01"}, body


def _gemini(mock_root: str, choice: Any, last: str, text: str) -> tuple[str, dict, dict]:
    declarations = [{"name": name, "parametersJsonSchema": schema} for name, schema in TOOLS]
    contents: list[dict] = [{"role": "user", "parts": [{"text": text}]}]
    if last == "tool_result":
        contents += [
            {"role": "model", "parts": [{"functionCall": {"name": "edit", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "edit", "response": {"result": "it is done"}}}]},
        ]
    body: dict[str, Any] = {"contents": contents, "tools": [{"functionDeclarations": declarations}]}
    if choice is not None:
        config = (
            {"mode": "ANY", "allowedFunctionNames": [choice[1]]}
            if isinstance(choice, tuple)
            else {"mode": {"required": "ANY", "none": "NONE", "auto": "AUTO"}[choice]}
        )
        body["toolConfig"] = {"functionCallingConfig": config}
    url = f"{mock_root}/v1beta/models/gemini-mock:generateContent"
    return url, {"x-goog-api-key": UPSTREAM_API_KEY}, body


def _responses(mock_root: str, choice: Any, last: str, text: str) -> tuple[str, dict, dict]:
    tools = [{"type": "function", "name": name, "parameters": schema} for name, schema in TOOLS]
    items: list[dict] = [{"role": "user", "content": text}]
    if last == "tool_result":
        items += [
            {"type": "function_call", "call_id": "call_1", "name": "edit", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "it is done"},
        ]
    body: dict[str, Any] = {"model": "mock-gpt-4o", "input": items, "tools": tools, "store": False}
    if choice is not None:
        body["tool_choice"] = {"type": "function", "name": choice[1]} if isinstance(choice, tuple) else choice
    return f"{mock_root}/v1/responses", {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}, body


def _answer(wire: str, body: dict) -> tuple[str, Any]:
    """("text", the text) or ("tool", (name, arguments)) from a plain answer in `wire`'s format."""
    if wire == "openai":
        message = body["choices"][0]["message"]
        if message.get("tool_calls"):
            assert body["choices"][0]["finish_reason"] == "tool_calls"
            function = message["tool_calls"][0]["function"]
            return "tool", (function["name"], json.loads(function["arguments"]))
        return "text", message["content"]
    if wire == "anthropic":
        block = body["content"][-1]
        if block["type"] == "tool_use":
            assert body["stop_reason"] == "tool_use"
            return "tool", (block["name"], block["input"])
        return "text", block["text"]
    if wire == "gemini":
        part = body["candidates"][0]["content"]["parts"][0]
        if "functionCall" in part:
            return "tool", (part["functionCall"]["name"], part["functionCall"]["args"])
        return "text", part["text"]
    item = body["output"][0]
    if item["type"] == "function_call":
        return "tool", (item["name"], json.loads(item["arguments"]))
    return "text", item["content"][0]["text"]


WIRES = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini, "responses": _responses}
CASES = [
    # (tool choice, last message, the user's text, expected: None for text, else the tool called)
    (None, "user", "please edit the file", None),
    ("auto", "user", "please edit the file", None),
    ("required", "user", "please edit the file", "first_tool"),
    ("required", "user", "please [mock:tool=edit] it", "edit"),
    (("named", "edit"), "user", "please edit the file", "edit"),
    (None, "user", "please [mock:tool] now", "first_tool"),
    (None, "user", "please [mock:tool=edit] now", "edit"),
    (None, "user", "please [mock:tool=unknown] now", None),
    ("none", "user", "please [mock:tool=edit] now", None),
    (None, "tool_result", "please [mock:tool=edit] now", None),
    ("auto", "tool_result", "please [mock:tool] now", None),
    ("required", "tool_result", "please edit", "first_tool"),
]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(("choice", "last", "text", "expected"), CASES)
def test_text_unless_forced_or_marked_and_valid_arguments(mock_root, wire, choice, last, text, expected):
    url, headers, body = WIRES[wire](mock_root, choice, last, text)
    response = httpx.post(url, headers=headers, json=body)
    assert response.status_code == 200, response.text
    kind, value = _answer(wire, response.json())
    if expected is None:
        assert kind == "text" and value.startswith("Mock reply to:")
        if last == "tool_result":
            assert value.startswith("Mock reply to: it is done")  # the tool's result is what is answered
        return
    assert kind == "tool" and value[0] == expected
    jsonschema.validate(value[1], dict(TOOLS)[expected], format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("wire", ["openai", "anthropic", "responses"])
def test_a_forced_tool_that_is_not_declared_is_a_400(mock_root, wire):
    url, headers, body = WIRES[wire](mock_root, ("named", "nope"), "user", "hi")
    refused = httpx.post(url, headers=headers, json=body)
    assert refused.status_code == 400 and "nope" in json.dumps(refused.json())


def test_openai_streams_the_arguments_in_several_chunks(client):
    tools = [{"type": "function", "function": {"name": "edit", "parameters": SCHEMA}}]
    chunks = list(
        client.chat.completions.create(
            model="mock-gpt-4o",
            messages=[{"role": "user", "content": "go [mock:tool]"}],
            tools=tools,
            stream=True,
            extra_headers={"x-mock-chunks": "6"},
        )
    )
    calls = [tc for c in chunks if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
    assert calls[0].id.startswith("call_") and calls[0].function.name == "edit" and calls[0].function.arguments == ""
    pieces = [call.function.arguments for call in calls[1:]]
    assert len(pieces) == 6 and all(pieces)
    jsonschema.validate(json.loads("".join(pieces)), SCHEMA)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    plain = client.chat.completions.create(
        model="mock-gpt-4o", messages=[{"role": "user", "content": "go [mock:tool]"}], tools=tools
    )
    assert plain.choices[0].message.tool_calls[0].function.arguments == "".join(pieces)
    assert plain.usage.completion_tokens >= 1


def test_a_structured_answer_follows_its_schema(client):
    reply = client.chat.completions.create(
        model="mock-gpt-4o",
        messages=[{"role": "user", "content": "fill it"}],
        response_format={"type": "json_schema", "json_schema": {"name": "edit", "schema": SCHEMA, "strict": True}},
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content), SCHEMA)
