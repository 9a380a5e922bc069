"""The translation against an independent Responses implementation, over real HTTP: the mock provider answers
a Responses body itself (/v1/responses) and its chat translation (/v1/chat/completions) from one plan, so the
two answers must agree: the same text, the same function call, the same usage (the translated prompt has the
same words, message by message), the same conversation through previous_response_id. The official SDK reads
every translated answer, plain and streamed."""

import contextlib
import copy
import uuid
from typing import Any

import httpx
import jsonschema
import openai
import orjson
import pytest
from pydantic import TypeAdapter

from apps.gateway.dialects.responses_request import input_chat_messages, responses_to_chat
from apps.gateway.dialects.responses_response import chat_to_response, response_output_messages
from apps.gateway.dialects.responses_shape import responses_shape
from apps.gateway.dialects.responses_stream import ChatStreamToResponses
from apps.gateway.request_shape import request_shape
from tests.conftest import UPSTREAM_API_KEY
from tests.gateway.dialects.responses_grammar import assert_responses_stream, final_response, output_text

AUTH = {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "units"],
        "additionalProperties": False,
    },
    "strict": True,
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
EVENTS = TypeAdapter(openai.types.responses.ResponseStreamEvent)


def bodies() -> dict[str, dict[str, Any]]:
    return {
        "plain": {"input": "hello there friend", "instructions": "be brief"},
        "limited": {"input": "count to many", "max_output_tokens": 30},
        "tool call": {"input": "weather in Paris [mock:tool]", "tools": [WEATHER]},
        "forced tool": {"input": "anything", "tools": [WEATHER], "tool_choice": "required"},
        "named tool": {"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
        "tool result": {
            "tools": [WEATHER],
            "input": [
                {"type": "message", "role": "developer", "content": "use tools"},
                {"role": "user", "content": [{"type": "input_text", "text": "weather in Paris [mock:tool]"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "b3BhcXVl"},
                {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": '{"city":"P"}'},
                {"type": "function_call_output", "call_id": "call_9", "output": "sunny and warm"},
            ],
        },
        "json schema": {
            "input": "a person",
            "text": {"format": {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True}},
        },
    }


def post(url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    answer = httpx.post(url, content=orjson.dumps(body), headers={**AUTH, **headers}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def direct(mock_url: str, body: dict[str, Any]) -> openai.types.responses.Response:
    """The mock's own answer to the Responses body, read by the SDK as it reads answers (leniently: the
    mock's usage leaves out input_tokens_details.cache_write_tokens, which the SDK's types now require)."""
    with openai.OpenAI(api_key=UPSTREAM_API_KEY, base_url=mock_url, max_retries=0, timeout=10) as client:
        return client.responses.create(**body)


def translated(mock_url: str, body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> bytes:
    """The mock's chat answer to the body's translation, translated back (the pipeline's path)."""
    responses_shape(body, image_tokens=1000)
    chat = responses_to_chat(body, history=history)
    request_shape("/chat/completions", chat, image_tokens=1000)  # what the gateway would check on its route
    answer = post(f"{mock_url}/chat/completions", chat)
    return chat_to_response(answer.content, model=body["model"], response_id="resp_t1", request=body, created_at=1)


def with_model(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "mock-gpt-4o", "store": False, **body, **extra}


# Prompt tokens the mock counts on its Responses route and not in the translation: the reasoning item (4, a
# message's share; the translation drops it) and the call's arguments (1 word; the mock's chat route counts an
# assistant message's content only).
UNCOUNTED_IN_CHAT = {"tool result": 4 + 1}


def same_answer(
    ours: openai.types.responses.Response, theirs: openai.types.responses.Response, *, uncounted: int = 0
) -> None:
    assert ours.output_text == theirs.output_text and ours.status == theirs.status
    assert [item.type for item in ours.output] == [item.type for item in theirs.output]
    for mine, reference in zip(ours.output, theirs.output, strict=True):
        if mine.type == "function_call":
            assert mine.name == reference.name  # type: ignore[union-attr]
            jsonschema.validate(orjson.loads(mine.arguments), WEATHER["parameters"])  # type: ignore[union-attr]
    assert ours.usage is not None and theirs.usage is not None
    assert ours.usage.input_tokens == theirs.usage.input_tokens - uncounted
    assert ours.usage.output_tokens == theirs.usage.output_tokens


@pytest.mark.parametrize("case", list(bodies()))
def test_translated_answers_agree_with_the_mocks_own(mock_provider_url, case):
    body = with_model(bodies()[case])
    theirs = direct(mock_provider_url, body)
    ours = openai.types.responses.Response.model_validate_json(translated(mock_provider_url, body))
    same_answer(ours, theirs, uncounted=UNCOUNTED_IN_CHAT.get(case, 0))
    if case == "json schema":
        jsonschema.validate(orjson.loads(ours.output_text), PERSON)
    assert ours.tools == theirs.tools and ours.text == theirs.text and ours.instructions == theirs.instructions


def stream_through(mock_url: str, body: dict[str, Any], **headers: str) -> tuple[str, ChatStreamToResponses]:
    chat = responses_to_chat(body)
    stream = ChatStreamToResponses(body["model"], "resp_s1", body, 1)
    with httpx.stream(
        "POST", f"{mock_url}/chat/completions", content=orjson.dumps(chat), headers={**AUTH, **headers}, timeout=10
    ) as answer:
        out: list[bytes] = []
        with contextlib.suppress(httpx.RemoteProtocolError):  # the upstream dropped the connection: it ends here
            out.extend(stream.feed(piece) for piece in answer.iter_raw())
    return (b"".join(out) + stream.finish()).decode(), stream


@pytest.mark.parametrize("case", ["plain", "tool call", "tool result", "json schema"])
def test_translated_streams_agree_with_the_mocks_own(mock_provider_url, case):
    body = with_model(bodies()[case], stream=True)
    sse, stream = stream_through(mock_provider_url, body, **{"x-mock-chunks": "6"})
    events = assert_responses_stream(sse)
    for event in events:
        EVENTS.validate_python(event)  # the SDK's types, strictly
    ours = openai.types.responses.Response.model_validate(final_response(events))
    assert output_text(events) == ours.output_text and stream.response == final_response(events)
    same_answer(ours, direct(mock_provider_url, {**body, "stream": False}), uncounted=UNCOUNTED_IN_CHAT.get(case, 0))


def test_a_broken_upstream_stream_fails_the_response(mock_provider_url):
    sse, stream = stream_through(
        mock_provider_url, with_model({"input": "hello"}, stream=True), **{"x-mock-break-after": "3"}
    )
    events = assert_responses_stream(sse)
    assert events[-1]["type"] == "response.failed" and output_text(events).startswith("Mock")
    assert stream.response is not None and stream.response["error"]["code"] == "server_error"


def test_previous_response_history_gives_the_mocks_conversation(mock_provider_url):
    """The second turn through the gateway's history (the first turn's input and output as chat messages)
    is the prompt the mock builds itself from previous_response_id."""
    first = with_model({"input": f"first turn {uuid.uuid4().hex[:8]}", "instructions": "old rules", "store": True})
    theirs_first = direct(mock_provider_url, first)
    ours_first = orjson.loads(translated(mock_provider_url, first))
    history = input_chat_messages(first) + response_output_messages(ours_first)
    second = with_model({"input": "second turn", "instructions": "new rules"})
    theirs = direct(mock_provider_url, {**second, "previous_response_id": theirs_first.id})
    ours = openai.types.responses.Response.model_validate_json(translated(mock_provider_url, second, history))
    same_answer(ours, theirs)


def test_a_tool_turn_through_history_reaches_the_tool_result(mock_provider_url):
    first = with_model({"input": "weather in Rome [mock:tool]", "tools": [WEATHER]})
    ours_first = orjson.loads(translated(mock_provider_url, first))
    [call] = ours_first["output"]
    history = input_chat_messages(first) + response_output_messages(ours_first)
    assert history[-1]["tool_calls"][0]["id"] == call["call_id"]
    second = with_model(
        {"tools": [WEATHER], "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "hot"}]}
    )
    answer = openai.types.responses.Response.model_validate_json(translated(mock_provider_url, second, history))
    assert answer.output_text.startswith("Mock reply to: hot")


def sdk_client(answer: bytes, content_type: str) -> openai.OpenAI:
    """The SDK reading `answer` as the body of any request: how it parses what the gateway would send."""
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=answer, headers={"content-type": content_type})
    )
    return openai.OpenAI(
        api_key="k", base_url="http://gateway.test/v1", http_client=httpx.Client(transport=transport), max_retries=0
    )


def test_the_sdk_stream_helper_assembles_our_stream(mock_provider_url):
    for case in ("plain", "tool call"):
        body = with_model(bodies()[case], stream=True)
        sse, stream = stream_through(mock_provider_url, body)
        request = copy.deepcopy({name: value for name, value in body.items() if name != "stream"})
        with sdk_client(sse.encode(), "text/event-stream") as client, client.responses.stream(**request) as events:
            final = events.get_final_response()
        assembled = final.model_dump(exclude_none=True)
        for item in assembled["output"]:
            item.pop("parsed_arguments", None)  # the SDK's own parse of a strict tool's arguments
        assert assembled == openai.types.responses.Response.model_validate(stream.response).model_dump(
            exclude_none=True
        )


def test_the_sdk_reads_our_plain_response(mock_provider_url):
    body = with_model(bodies()["plain"])
    with sdk_client(translated(mock_provider_url, body), "application/json") as client:
        response = client.responses.create(**body)
    assert response.output_text.startswith("Mock reply to: hello there friend") and response.id == "resp_t1"
