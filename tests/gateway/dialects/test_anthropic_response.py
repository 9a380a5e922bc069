"""An OpenAI chat.completion becomes an Anthropic Message: recorded bodies, reasoning, tools, stop reasons,
usage with cache reads, and malformed upstream bodies."""

from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from apps.gateway.dialects.anthropic_response import chat_to_message, message_usage
from apps.gateway.upstreams.translation import MALFORMED
from tests.gateway.dialects.hostile import json_values
from tests.gateway.upstreams.wire import WIRE


def recorded(provider: str, name: str) -> bytes:
    return (WIRE / provider / name).read_bytes()


def message(completion: dict[str, Any], model: str = "claude-alias") -> dict[str, Any]:
    return orjson.loads(chat_to_message(orjson.dumps(completion), model=model))


def completion(reply: dict[str, Any], finish: Any = "stop", **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", **reply}, "finish_reason": finish}
    return {"id": "chatcmpl-7", "object": "chat.completion", "choices": [choice], **extra}


def test_recorded_completion_becomes_a_message_shaped_like_anthropics():
    translated = orjson.loads(chat_to_message(recorded("openai", "chat_completion.json"), model="claude-alias"))
    assert translated == {
        "id": "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "type": "message",
        "role": "assistant",
        "model": "claude-alias",
        "content": [{"type": "text", "text": "Hello! How can I assist you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 19,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 10,
        },
    }
    anthropic = orjson.loads(recorded("anthropic", "messages.json"))
    assert set(translated) <= set(anthropic) and set(translated["usage"]) <= set(anthropic["usage"])


def test_recorded_tool_calls_become_tool_use_blocks():
    translated = orjson.loads(chat_to_message(recorded("openai", "chat_completion_tool_calls.json"), model="m"))
    assert translated["content"] == [
        {"type": "tool_use", "id": "call_abc123", "name": "get_current_weather", "input": {"location": "Boston, MA"}}
    ]
    assert translated["stop_reason"] == "tool_use" and translated["id"] == "msg_abc123"
    anthropic = orjson.loads(recorded("anthropic", "messages_tool_use.json"))
    assert set(translated["content"][0]) <= set(anthropic["content"][1])


def test_azure_completion_with_content_filter_results_translates():
    body = recorded("azure_openai", "chat_completion_with_content_filter_results.json")
    translated = orjson.loads(chat_to_message(body, model="m"))
    assert translated["content"][0]["type"] == "text" and translated["stop_reason"] == "end_turn"


def test_reasoning_comes_first_as_a_thinking_block_and_text_is_kept_beside_tools():
    reply = {
        "content": "Let me look.",
        "reasoning_content": "Need the weather.",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"q":1}'}}],
    }
    assert message(completion(reply, "tool_calls"))["content"] == [
        {"type": "thinking", "thinking": "Need the weather.", "signature": ""},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "w", "input": {"q": 1}},
    ]


def test_unreadable_arguments_give_an_empty_input_and_missing_ids_a_toolu_id():
    calls = [
        {"function": {"name": "a", "arguments": "{not json"}},
        {"id": "", "function": {"name": "b", "arguments": "[1, 2]"}},
        {"id": "call_c", "function": {"name": "c", "arguments": {"already": "object"}}},
        {"id": "call_d", "function": {"arguments": "{}"}},  # no name: not a call
        "garbage",
    ]
    content = message(completion({"content": None, "tool_calls": calls}, "tool_calls"))["content"]
    assert [block["input"] for block in content] == [{}, {}, {"already": "object"}]
    assert content[0]["id"].startswith("toolu_") and content[1]["id"].startswith("toolu_")
    assert content[2]["id"] == "call_c"


def test_legacy_function_call_is_a_tool_use():
    reply = {"content": None, "function_call": {"name": "f", "arguments": '{"x": true}'}}
    translated = message(completion(reply, "function_call"))
    assert translated["content"][0]["name"] == "f" and translated["content"][0]["input"] == {"x": True}
    assert translated["stop_reason"] == "tool_use"


STOP_REASONS = [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")]


@pytest.mark.parametrize(("finish", "stop_reason"), [*STOP_REASONS, (5, "end_turn")])
def test_stop_reasons(finish, stop_reason):
    assert message(completion({"content": "x"}, finish))["stop_reason"] == stop_reason


def test_tool_calls_with_stop_still_end_in_tool_use():
    reply = {"content": "", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]}
    translated = message(completion(reply, "stop"))
    assert translated["stop_reason"] == "tool_use" and [b["type"] for b in translated["content"]] == ["tool_use"]


def test_matched_stop_sequence_when_the_server_names_it():
    body = completion({"content": "x"}, "stop")
    body["choices"][0]["stop_reason"] = "###"
    translated = message(body)
    assert (translated["stop_reason"], translated["stop_sequence"]) == ("stop_sequence", "###")


def test_refusal_is_text_with_stop_reason_refusal():
    translated = message(completion({"content": None, "refusal": "I can't help with that."}))
    assert translated["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert translated["stop_reason"] == "refusal"


def test_empty_answer_is_one_empty_text_block_and_content_parts_are_joined():
    assert message(completion({"content": None}))["content"] == [{"type": "text", "text": ""}]
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}, 3]
    assert message(completion({"content": parts}))["content"] == [{"type": "text", "text": "ab"}]


def test_usage_splits_cache_reads_out_of_input_tokens():
    usage = {"prompt_tokens": 1000, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 800}}
    assert message(completion({"content": "x"}, usage=usage))["usage"] == {
        "input_tokens": 200,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
        "output_tokens": 50,
    }


@pytest.mark.parametrize(
    "usage",
    [None, "lots", {"prompt_tokens": -3, "completion_tokens": True}, {"prompt_tokens": 5, "prompt_tokens_details": 7}],
)
def test_unreadable_usage_reads_as_zero(usage):
    translated = message(completion({"content": "x"}, usage=usage))
    assert translated["usage"]["input_tokens"] in (0, 5) and translated["usage"]["output_tokens"] == 0


def test_message_ids():
    assert message({**completion({"content": "x"}), "id": "msg_kept"})["id"] == "msg_kept"
    assert message({**completion({"content": "x"}), "id": 12})["id"].startswith("msg_")
    assert message({**completion({"content": "x"}), "id": "abc"})["id"] == "msg_abc"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"choices": []}',
        b'{"choices": [1]}',
        b'{"choices": [{"message": null}]}',
        b'{"choices": "x"}',
    ],
)
def test_malformed_upstream_bodies_raise_a_malformed_error(payload):
    with pytest.raises(MALFORMED):
        chat_to_message(payload, model="m")


@settings(max_examples=300, deadline=None)
@given(reply=json_values, finish=json_values, usage=json_values, body_id=json_values)
def test_hostile_fields_never_raise_anything_but_malformed(reply, finish, usage, body_id):
    payload = orjson.dumps({"id": body_id, "choices": [{"message": reply, "finish_reason": finish}], "usage": usage})
    try:
        translated = orjson.loads(chat_to_message(payload, model="m"))
    except MALFORMED:
        assert not isinstance(reply, dict)
        return
    assert translated["type"] == "message" and isinstance(translated["content"], list)


def test_cache_writes_and_reads_come_back_in_anthropics_fields():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300},
    }
    assert message_usage(usage) == {
        "input_tokens": 100,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 600,
        "output_tokens": 7,
    }
    lying = {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 9}}
    assert message_usage(lying)["input_tokens"] == 0 and message_usage(lying)["cache_creation_input_tokens"] == 2
