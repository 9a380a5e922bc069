"""Anthropic Messages requests become the gateway's internal OpenAI chat body, mapping by mapping."""

import orjson
import pytest

from apps.gateway.dialects.anthropic_request import messages_to_chat, reasoning_effort
from apps.gateway.dialects.anthropic_shape import messages_shape
from apps.gateway.request_shape import request_shape
from tests.gateway.dialects.anthropic_bodies import PDF, PNG, WEATHER_SCHEMA, rich_body, user


def chat_for(body):
    messages_shape(body, image_tokens=0)  # the pipeline's order: checked, then translated
    return messages_to_chat(body)


def test_rich_conversation_translates_to_openai_messages():
    chat = chat_for(rich_body())
    assert chat["messages"] == [
        {"role": "system", "content": "You are a coding agent.\n\nBe brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture, and the weather in Paris?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {
                    "type": "file",
                    "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
                },
                {"type": "text", "text": "Notes\n\nnote body"},
            ],
        },
        {
            "role": "assistant",
            "content": "A cat. Checking the weather.",
            "tool_calls": [
                {
                    "id": "toolu_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "toolu_02", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18°C, sunny"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "Error: partial capture"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
                {"type": "text", "text": "Here you go."},
            ],
        },
    ]


def test_rich_conversation_parameters():
    chat = chat_for(rich_body())
    assert chat["model"] == "claude-sonnet-4-5" and chat["max_tokens"] == 8192
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather of a city", "parameters": WEATHER_SCHEMA},
        },
        {"type": "function", "function": {"name": "screenshot", "parameters": {"type": "object"}}},
    ]  # the server tool (web_search) only Anthropic runs
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is False
    assert chat["stop"] == ["\n\nHuman:"] and chat["temperature"] == 0.7 and chat["top_p"] == 0.9
    assert chat["user"] == "user-42" and chat["reasoning_effort"] == "medium"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert not {"top_k", "thinking", "metadata", "system", "context_management", "stop_sequences"} & set(chat)


def test_translated_body_is_a_valid_openai_chat_body():
    chat = chat_for(rich_body())
    shape = request_shape("/chat/completions", orjson.loads(orjson.dumps(chat)), image_tokens=1000)
    anthropic_shape = messages_shape(rich_body(), image_tokens=1000)
    assert shape.images == anthropic_shape.images == 3  # the tool result's image moved to a user turn
    assert shape.completion_tokens == anthropic_shape.completion_tokens == 8192


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice, expected):
    tools = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    chat = chat_for(user("hi", tools=tools, tool_choice=choice))
    assert chat["tool_choice"] == expected and "parallel_tool_calls" not in chat


def test_no_tool_choice_without_function_tools():
    server_only = [{"type": "web_search_20250305", "name": "web_search"}]
    chat = chat_for(user("hi", tools=server_only, tool_choice={"type": "any"}))
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(chat)


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (4095, "low"), (4096, "medium"), (16383, "medium"), (16384, "high")]
)
def test_thinking_budget_maps_to_reasoning_effort(budget, effort):
    chat = chat_for(user("hi", max_tokens=40000, thinking={"type": "enabled", "budget_tokens": budget}))
    assert chat["reasoning_effort"] == effort


@pytest.mark.parametrize("thinking", [None, {"type": "disabled"}, {"type": "adaptive"}])
def test_thinking_off_or_adaptive_leaves_the_models_default(thinking):
    assert reasoning_effort(thinking) is None
    assert "reasoning_effort" not in chat_for(user("hi", thinking=thinking))


def test_plain_strings_and_single_texts_stay_strings():
    chat = chat_for(
        {
            "model": "m",
            "max_tokens": 5,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hello"}]},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "bye"},
                {"role": "assistant", "content": [{"type": "text", "text": "{"}]},  # a prefill
            ],
            "stream": False,
        }
    )
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "bye"},
        {"role": "assistant", "content": "{"},
    ]
    assert chat["stream"] is False and "stream_options" not in chat


def test_tool_results_come_first_in_their_order_and_alone_leave_no_user_message():
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                    {"type": "tool_use", "id": "b", "name": "f", "input": {"n": [1, {"deep": None}]}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "b", "content": [{"type": "text", "text": "B"}]},
                    {"type": "tool_result", "tool_use_id": "a"},
                ],
            },
        ],
    }
    messages = chat_for(body)["messages"]
    assert messages[1]["content"] is None
    assert messages[1]["tool_calls"][1]["function"]["arguments"] == '{"n":[1,{"deep":null}]}'
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "b", "content": "B"},
        {"role": "tool", "tool_call_id": "a", "content": ""},
    ]


def test_a_tool_result_of_only_an_image_says_where_it_is():
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    messages = chat_for(user([{"type": "tool_result", "tool_use_id": "t", "content": [image]}]))["messages"]
    assert messages == [
        {"role": "tool", "tool_call_id": "t", "content": "(image attached below)"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
    ]


def test_assistant_turn_of_only_thinking_is_dropped():
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}]},
            {"role": "user", "content": "b"},
        ],
    }
    assert [message["role"] for message in chat_for(body)["messages"]] == ["user", "user"]


def test_document_content_source_and_titles():
    document = {
        "type": "document",
        "title": "Spec",
        "context": "From the wiki",
        "source": {
            "type": "content",
            "content": [
                {"type": "text", "text": "part one"},
                {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
            ],
        },
    }
    pdf = {
        "type": "document",
        "title": "report.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
    }
    assert chat_for(user([document, pdf]))["messages"][0]["content"] == [
        {"type": "text", "text": "Spec\n\nFrom the wiki"},
        {"type": "text", "text": "part one"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
    ]
    plain = {"type": "document", "source": {"type": "content", "content": "just text"}}
    assert chat_for(user([plain]))["messages"][0]["content"] == "just text"


def test_empty_system_and_metadata_without_user_are_left_out():
    chat = chat_for(user("hi", system=[], metadata={"user_id": None}, stop_sequences=[]))
    assert chat["messages"] == [{"role": "user", "content": "hi"}]
    assert not {"user", "stop"} & set(chat)
