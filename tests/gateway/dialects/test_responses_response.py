"""An OpenAI chat.completion becomes a Response object the official SDK reads: recorded bodies, reasoning,
refusals, tools, incomplete answers, usage with cache reads and reasoning, malformed upstream bodies; and a
stored Response becomes the next turn's chat history."""

from typing import Any

import openai
import orjson
import pytest
from hypothesis import given, settings

from apps.gateway.dialects.responses_response import chat_to_response, response_output_messages, response_usage
from apps.gateway.upstreams.translation import MALFORMED
from tests.gateway.dialects.hostile import json_values
from tests.gateway.dialects.responses_bodies import SHELL
from tests.gateway.upstreams.wire import WIRE

REQUEST = {"model": "alias", "input": "hi", "tools": [SHELL], "instructions": "be brief", "max_output_tokens": 100}
Response = openai.types.responses.Response


def recorded(provider: str, name: str) -> bytes:
    return (WIRE / provider / name).read_bytes()


def translate(payload: bytes, request: dict[str, Any] | None = None) -> dict[str, Any]:
    body = chat_to_response(payload, model="alias", response_id="resp_42", request=request or REQUEST, created_at=7)
    Response.model_validate_json(body)  # the SDK's types, strictly
    translated: dict[str, Any] = orjson.loads(body)
    return translated


def completion(reply: dict[str, Any], finish: Any = "stop", **extra: Any) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", **reply}, "finish_reason": finish}
    return orjson.dumps({"id": "chatcmpl-7", "object": "chat.completion", "choices": [choice], **extra})


def test_recorded_completion_becomes_a_response():
    response = translate(recorded("openai", "chat_completion.json"))
    assert response["output"] == [
        {
            "id": "msg_42_0",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hello! How can I assist you today?", "annotations": [], "logprobs": []}
            ],
        }
    ]
    assert response["usage"] == {
        "input_tokens": 19,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 10,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 29,
    }
    assert (response["id"], response["object"], response["created_at"], response["model"]) == (
        "resp_42",
        "response",
        7,
        "alias",
    )
    assert response["status"] == "completed" and response["error"] is None and response["incomplete_details"] is None
    assert response["instructions"] == "be brief" and response["max_output_tokens"] == 100
    assert response["tools"] == [{**SHELL}] and response["store"] is True and response["tool_choice"] == "auto"


def test_recorded_tool_calls_become_function_call_items():
    response = translate(recorded("openai", "chat_completion_tool_calls.json"))
    assert response["output"] == [
        {
            "id": "fc_42_0",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_abc123",
            "name": "get_current_weather",
            "arguments": '{\n"location": "Boston, MA"\n}',
        }
    ]
    assert Response.model_validate(response).output[0].type == "function_call"


def test_azure_completion_with_content_filter_results_translates():
    response = translate(recorded("azure_openai", "chat_completion_with_content_filter_results.json"))
    assert response["output"][0]["type"] == "message" and response["status"] == "completed"


def test_reasoning_text_and_calls_in_order():
    reply = {
        "content": "Let me look.",
        "reasoning_content": "Need the shell.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": '{"command":["ls"]}'}},
            {"type": "function", "function": {"name": "shell", "arguments": {"command": ["pwd"]}}},
        ],
    }
    reasoning, message, first, second = translate(completion(reply, "tool_calls"))["output"]
    assert reasoning == {
        "id": "rs_42_0",
        "type": "reasoning",
        "status": "completed",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "Need the shell."}],
    }
    assert message["content"][0]["text"] == "Let me look." and message["id"] == "msg_42_1"
    assert (first["id"], first["call_id"], first["arguments"]) == ("fc_42_2", "call_1", '{"command":["ls"]}')
    assert second["call_id"].startswith("call_") and second["arguments"] == '{"command":["pwd"]}'


def test_a_refusal_is_a_refusal_part():
    [message] = translate(completion({"content": None, "refusal": "I can't help with that."}))["output"]
    assert message["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]


def test_an_empty_answer_is_an_empty_message():
    [message] = translate(completion({"content": None}))["output"]
    assert message["content"] == [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}]


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_a_cut_answer_is_incomplete(finish, reason):
    response = translate(completion({"content": "partial"}, finish))
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": reason}
    assert response["output"][-1]["status"] == "incomplete"


def test_usage_with_cache_reads_writes_and_reasoning():
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 30,
        "total_tokens": 150,  # 20 counted in the total only: output, as metering bills them
        "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 70},
        "completion_tokens_details": {"reasoning_tokens": 25},
    }
    assert response_usage(usage) == {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 40},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 25},
        "total_tokens": 150,
    }
    assert response_usage(None) is None and response_usage({"prompt_tokens": "x"})["input_tokens"] == 0


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b"{}", b'{"choices": []}', b'{"choices": [3]}', b'{"choices": [{"message": "x"}]}'],
)
def test_malformed_completions_raise_malformed(payload):
    with pytest.raises(MALFORMED):
        chat_to_response(payload, model="m", response_id="resp_1", request=REQUEST, created_at=0)


@settings(max_examples=300, deadline=None)
@given(reply=json_values, finish=json_values, usage=json_values)
def test_hostile_completions_are_malformed_or_a_valid_response(reply, finish, usage):
    payload = orjson.dumps({"choices": [{"message": reply, "finish_reason": finish}], "usage": usage})
    try:
        body = chat_to_response(payload, model="m", response_id="resp_1", request=REQUEST, created_at=0)
    except MALFORMED:
        assert not isinstance(reply, dict)
        return
    Response.model_validate_json(body)


def test_a_stored_response_gives_the_next_turns_history():
    reply = {
        "content": "Let me look.",
        "reasoning_content": "hm",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": "shell", "arguments": '{"a":1}'}},
        ],
    }
    assert response_output_messages(translate(completion(reply, "tool_calls"))) == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": "{}"}},
                {"id": "call_2", "type": "function", "function": {"name": "shell", "arguments": '{"a":1}'}},
            ],
        }
    ]
    only_call = translate(recorded("openai", "chat_completion_tool_calls.json"))
    assert response_output_messages(only_call)[0]["content"] is None
    refused = translate(completion({"content": None, "refusal": "No."}))
    assert response_output_messages(refused) == [{"role": "assistant", "content": "No."}]


@settings(max_examples=200, deadline=None)
@given(output=json_values)
def test_odd_stored_output_never_raises(output):
    for message in response_output_messages({"output": output}):
        assert message["role"] == "assistant"
