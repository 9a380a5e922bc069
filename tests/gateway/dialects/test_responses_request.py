"""Responses requests become the gateway's internal OpenAI chat body, mapping by mapping; any body the check
lets through translates into a chat body the gateway's own chat check accepts, and any it refuses is a 400."""

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.errors import HyditeError
from apps.gateway.dialects.responses_request import input_chat_messages, input_items, responses_to_chat
from apps.gateway.dialects.responses_shape import responses_shape
from apps.gateway.errors import InvalidParameter, InvalidRequest
from apps.gateway.request_shape import request_shape
from tests.gateway.dialects.hostile import json_values
from tests.gateway.dialects.responses_bodies import PDF, PNG, READ_FILE, SHELL, codex_body, plain


def chat_for(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses_shape(body, image_tokens=0)  # the pipeline's order: checked, then translated
    return responses_to_chat(body, history=history)


def test_codex_conversation_translates_to_chat_messages():
    assert chat_for(codex_body())["messages"] == [
        {"role": "system", "content": "You are Codex, a coding agent."},
        {"role": "system", "content": "<permissions/>"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<environment_context/>"},
                {"type": "text", "text": "Fix the failing test; the screenshot shows it."},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
                {"type": "file", "file": {"filename": "spec.pdf", "file_data": PDF}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": '{"command":["ls"]}'}},
                {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": '{"path":"a.py"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a.py\nb.py"},
        {"role": "tool", "tool_call_id": "call_2", "content": "print(1)"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/render.png"}}]},
        {"role": "user", "content": "Thanks, go on."},
    ]


def test_codex_parameters():
    chat = chat_for(codex_body())
    assert chat["model"] == "gpt-5-codex" and chat["max_completion_tokens"] == 4096
    assert chat["temperature"] == 0.5 and chat["top_p"] == 0.9 and chat["user"] == "user-42"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["reasoning_effort"] == "medium"
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "shell",
                "description": SHELL["description"],
                "parameters": SHELL["parameters"],
                "strict": False,
            },
        },
        {"type": "function", "function": {"name": "read_file", "parameters": READ_FILE["parameters"]}},
    ]
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    assert set(chat) == {
        "model",
        "messages",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "user",
        "stream",
        "stream_options",
        "reasoning_effort",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    }


def test_translated_body_is_a_valid_openai_chat_body():
    chat = chat_for(codex_body())
    shape = request_shape("/chat/completions", orjson.loads(orjson.dumps(chat)), image_tokens=1000)
    responses = responses_shape(codex_body(), image_tokens=1000)
    assert shape.images == responses.images == 2 and shape.completion_tokens == responses.completion_tokens == 4096
    assert responses.choices == 1


def test_instructions_then_history_then_input():
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "answer"}]
    chat = chat_for(plain(instructions="rules", previous_response_id="resp_1"), history)
    assert chat["messages"] == [
        {"role": "system", "content": "rules"},
        *history,
        {"role": "user", "content": "hello"},
    ]
    assert chat_for({"model": "m", "previous_response_id": "resp_1"}, history)["messages"] == history
    assert "instructions" not in chat and "previous_response_id" not in chat


def test_a_plain_request_is_a_plain_chat_request():
    assert chat_for(plain()) == {"model": "gpt-5", "messages": [{"role": "user", "content": "hello"}]}
    assert chat_for(plain(stream=False))["stream"] is False and "stream_options" not in chat_for(plain(stream=False))


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "name": "shell"}, {"type": "function", "function": {"name": "shell"}}),
    ],
)
def test_tool_choice(choice, expected):
    chat = chat_for(plain(tools=[SHELL, READ_FILE], tool_choice=choice))
    assert chat["tool_choice"] == expected and len(chat["tools"]) == 2 and "parallel_tool_calls" not in chat


def test_allowed_tools_narrow_the_tools():
    choice = {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "read_file"}]}
    chat = chat_for(plain(tools=[SHELL, READ_FILE], tool_choice=choice, parallel_tool_calls=False))
    assert [tool["function"]["name"] for tool in chat["tools"]] == ["read_file"]
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False


def test_no_tools_means_no_tool_choice():
    chat = chat_for(plain(tool_choice="none", parallel_tool_calls=False, tools=[]))
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(chat)


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "name": "person", "schema": {"type": "object"}, "strict": True, "description": "A"},
            {
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": {"type": "object"}, "description": "A", "strict": True},
            },
        ),
        (
            {"type": "json_schema", "name": "p", "schema": {}},
            {"type": "json_schema", "json_schema": {"name": "p", "schema": {}}},
        ),
    ],
)
def test_text_format_becomes_response_format(form, expected):
    assert chat_for(plain(text={"format": form, "verbosity": "high"})).get("response_format") == expected


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "high", "xhigh"])
def test_reasoning_effort(effort):
    assert chat_for(plain(reasoning={"effort": effort}))["reasoning_effort"] == effort
    assert "reasoning_effort" not in chat_for(plain(reasoning={"summary": "auto"}))


def test_calls_open_their_own_assistant_message_when_nothing_precedes_them():
    items = [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_file", "file_id": "file-1"}]},
    ]
    messages = chat_for({"model": "m", "input": items})["messages"]
    assert [(m["role"], m.get("content")) for m in messages] == [
        ("assistant", None),
        ("tool", "one"),
        ("assistant", None),
        ("tool", "(the tool's images and files are attached below)"),
        ("user", [{"type": "file", "file": {"file_id": "file-1"}}]),
    ]


def test_assistant_text_parts_and_refusals_become_one_string():
    item = {
        "role": "assistant",
        "content": [{"type": "output_text", "text": "First."}, {"type": "refusal", "refusal": "Not that."}],
    }
    assert input_chat_messages({"model": "m", "input": [item]}) == [
        {"role": "assistant", "content": "First.\n\nNot that."}
    ]


def test_input_items_as_openai_lists_them():
    items = input_items(codex_body(), response_id="resp_abc")
    assert [item["id"] for item in items] == [
        "msg_abc_in0",
        "msg_abc_in1",
        "rs_01",
        "msg_01",
        "fc_abc_in4",
        "fc_abc_in5",
        "fco_abc_in6",
        "fco_abc_in7",
        "msg_abc_in8",
    ]
    assert items[-1] == {
        "role": "user",
        "content": [{"type": "input_text", "text": "Thanks, go on."}],
        "type": "message",
        "id": "msg_abc_in8",
        "status": "completed",
    }
    assert input_items(plain(), response_id="resp_x")[0]["content"] == [{"type": "input_text", "text": "hello"}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (the whole body's too)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_paths(inner, (*prefix, index)))
    return found


BODY_PATHS = [path for path in _paths(codex_body()) if path]


def _replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any, *, drop: bool) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def _translates_or_refuses(body: Any) -> None:
    """A 400 from the check (never another error), or a translation the gateway's chat check accepts."""
    try:
        shape = responses_shape(body, image_tokens=100)
    except HyditeError as refusal:
        assert isinstance(refusal, InvalidParameter | InvalidRequest) and refusal.status == 400 and refusal.message
        return
    chat = responses_to_chat(body)
    if chat["messages"]:
        request_shape("/chat/completions", orjson.loads(orjson.dumps(chat)), image_tokens=100)
    assert shape.prompt_tokens > 0 and shape.choices == 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(BODY_PATHS), value=json_values, drop=st.booleans())
def test_a_body_broken_anywhere_translates_or_is_refused_with_a_400(path, value, drop):
    _translates_or_refuses(_replaced(codex_body(), path, value, drop=drop))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(sorted(codex_body())), json_values, max_size=8))
def test_any_json_body_translates_or_is_refused_with_a_400(body):
    _translates_or_refuses({"model": "m", **body} if "model" not in body else body)
