"""OpenAI's Responses API on the mock provider, driven by the official openai SDK: plain and streamed (the typed
event sequence), function calls, structured output, stored responses, previous_response_id and OpenAI's 400s."""

import json
import uuid

import httpx
import jsonschema
import openai
import pytest

from apps.mock_provider.responses_store import ResponseStore, StoredResponse
from tests.conftest import UPSTREAM_API_KEY
from tests.mock_provider.conftest import AUTH, fault_put, target_stats

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "units"],
        "additionalProperties": False,
    },
    "strict": True,
}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
CALL_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
]


def _runs(types: list[str]) -> list[str]:
    """Event types with a run of one type (the deltas) as one."""
    return [kind for index, kind in enumerate(types) if index == 0 or types[index - 1] != kind]


def _unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"  # the mock's ids follow the body: a test of its own has its own


def test_a_plain_response_has_openais_shape_and_usage(client):
    response = client.responses.create(model="mock-gpt-4o", input="hello there friend", instructions="be brief")
    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.output_text.startswith("Mock reply to: hello there friend")
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    assert response.instructions == "be brief" and response.store is True and response.text.format.type == "text"
    usage = response.usage
    assert usage.input_tokens == (2 + 4) + (3 + 4) and usage.output_tokens == 12
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0
    again = client.responses.create(model="mock-gpt-4o", input="hello there friend", instructions="be brief")
    assert again.model_dump() == response.model_dump()  # deterministic
    limited = client.responses.create(model="mock-gpt-4o", input="count", max_output_tokens=30)
    assert limited.usage.output_tokens == 30 and limited.max_output_tokens == 30


def test_a_stream_sends_the_typed_events_in_order(client):
    events = list(
        client.responses.create(
            model="mock-gpt-4o", input=_unique("stream it"), stream=True, extra_headers={"x-mock-chunks": "5"}
        )
    )
    types = [event.type for event in events]
    assert _runs(types) == TEXT_EVENTS and types.count("response.output_text.delta") == 5
    assert [event.sequence_number for event in events] == list(range(len(events)))
    created, completed = events[0].response, events[-1].response
    assert created.status == "in_progress" and created.output == [] and created.usage is None
    assert completed.status == "completed" and completed.id == created.id and completed.usage.total_tokens > 0
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    done = next(event for event in events if event.type == "response.output_text.done")
    assert text == done.text == completed.output[0].content[0].text
    added = next(event for event in events if event.type == "response.output_item.added")
    assert added.item.status == "in_progress" and added.item.id == completed.output[0].id
    with client.responses.stream(model="mock-gpt-4o", input=_unique("stream it")) as stream:  # the SDK's checks
        assert [event.type for event in stream][-1] == "response.completed"
        assert stream.get_final_response().output_text.startswith("Mock reply to: stream it")


def test_a_function_call_streams_its_arguments(client):
    events = list(
        client.responses.create(
            model="mock-gpt-4o", input="weather [mock:tool]", tools=[WEATHER], stream=True, store=False
        )
    )
    types = [event.type for event in events]
    assert _runs(types) == CALL_EVENTS and types.count("response.function_call_arguments.delta") >= 2
    assert [event.sequence_number for event in events] == list(range(len(events)))
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    call = events[-1].response.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    assert arguments == call.arguments == events[-3].arguments
    jsonschema.validate(json.loads(arguments), WEATHER["parameters"])
    with client.responses.stream(model="mock-gpt-4o", input="weather", tools=[WEATHER], tool_choice="required") as s:
        final = s.get_final_response()
    assert final.output[0].type == "function_call"


def test_input_items_and_a_tool_result_end_the_loop(client):
    items = [
        {"type": "message", "role": "developer", "content": "use tools"},
        {"role": "user", "content": [{"type": "input_text", "text": "weather in Paris [mock:tool]"}]},
        {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_9", "output": "sunny and warm"},
    ]
    answer = client.responses.create(model="mock-gpt-4o", input=items, tools=[WEATHER], store=False)
    assert answer.output[0].type == "message"
    assert answer.output_text.startswith("Mock reply to: sunny and warm")
    assert answer.usage.input_tokens == (2 + 4) + (4 + 4) + (1 + 4) + (3 + 4)


def test_structured_output_follows_the_schema(client):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 18},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "person", "schema": schema, "strict": True}
    answer = client.responses.create(model="mock-gpt-4o", input="a person", text={"format": fmt}, store=False)
    jsonschema.validate(json.loads(answer.output_text), schema)
    assert answer.text.format.type == "json_schema"
    json_object = client.responses.create(
        model="mock-gpt-4o", input="json please", text={"format": {"type": "json_object"}}, store=False
    )
    assert "reply" in json.loads(json_object.output_text)


def test_stored_responses_are_read_listed_chained_and_deleted(client, mock_url):
    first = client.responses.create(model="mock-gpt-4o", input=_unique("first turn"))
    assert client.responses.retrieve(first.id).model_dump() == first.model_dump()
    items = client.responses.input_items.list(first.id)
    assert [item.type for item in items.data] == ["message"] and items.data[0].content[0].text.startswith("first")
    second = client.responses.create(model="mock-gpt-4o", previous_response_id=first.id, input="second turn")
    assert second.previous_response_id == first.id
    # the whole conversation is the prompt: the first turn, its answer, the second turn
    assert second.usage.input_tokens == (3 + 4) + (first.usage.output_tokens + 4) + (2 + 4)
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(first.id)
    assert caught.value.body == {
        "message": f"Response with id '{first.id}' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="mock-gpt-4o", previous_response_id=first.id, input="third")
    assert caught.value.body["param"] == "previous_response_id"
    assert httpx.delete(f"{mock_url}/responses/{first.id}", headers=AUTH).status_code == 404
    assert httpx.get(f"{mock_url}/responses/resp_unknown/input_items", headers=AUTH).status_code == 404
    unstored = client.responses.create(model="mock-gpt-4o", input=_unique("not kept"), store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_input_items_pages_in_either_order(client, mock_url):
    texts = [f"item {n}" for n in range(5)]
    response = client.responses.create(
        model="mock-gpt-4o", input=[{"role": "user", "content": _unique(t)} for t in texts]
    )
    listed = client.responses.input_items.list(response.id, order="asc", limit=2)
    ids = [item.id for item in listed.data]
    assert len(ids) == 2 and listed.has_more and listed.first_id == ids[0] and listed.last_id == ids[1]
    everything = [item.id for item in client.responses.input_items.list(response.id, order="asc")]  # pages on
    assert len(everything) == 5 and everything[:2] == ids
    newest_first = httpx.get(f"{mock_url}/responses/{response.id}/input_items", headers=AUTH).json()
    assert [item["id"] for item in newest_first["data"]] == everything[::-1]
    bad = httpx.get(f"{mock_url}/responses/{response.id}/input_items?limit=0", headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": 5, "input": "hi"}, "model"),
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": {"role": "user"}}, "input"),
        ({"model": "m", "input": [5]}, "input[0]"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"role": "user", "content": 5}]}, "input[0].content"),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
        ({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]}, "input[0].arguments"),
        ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"model": "m", "input": "hi", "instructions": 3}, "instructions"),
        ({"model": "m", "input": "hi", "max_output_tokens": 3}, "max_output_tokens"),
        ({"model": "m", "input": "hi", "max_output_tokens": "30"}, "max_output_tokens"),
        ({"model": "m", "input": "hi", "temperature": 3}, "temperature"),
        ({"model": "m", "input": "hi", "stream": "yes"}, "stream"),
        ({"model": "m", "input": "hi", "store": 1}, "store"),
        ({"model": "m", "input": "hi", "tools": {"type": "function"}}, "tools"),
        ({"model": "m", "input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "m", "input": "hi", "tools": [{"name": "f"}]}, "tools[0].type"),
        ({"model": "m", "input": "hi", "tool_choice": "always"}, "tool_choice"),
        ({"model": "m", "input": "hi", "tool_choice": {"type": "function"}}, "tool_choice.name"),
        ({"model": "m", "input": "hi", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
        ({"model": "m", "input": "hi", "previous_response_id": 7}, "previous_response_id"),
    ],
)
def test_bad_bodies_are_400s_in_openais_shape(mock_url, body, param):
    refused = httpx.post(f"{mock_url}/responses", headers=AUTH, json=body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_unknown_fields_and_item_types_are_accepted(client):
    answer = client.responses.create(
        model="mock-gpt-4o",
        input=[
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": "https://example.com/a.png"},
                    {"type": "input_text", "text": "describe"},
                ],
            },
        ],
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        store=False,
        extra_body={"a_future_parameter": {"x": 1}},
    )
    assert answer.output_text.startswith("Mock reply to: describe")


def test_faults_and_virtual_providers_serve_responses(mock_root, target):
    base_url = f"{mock_root}/mock/{target}/v1"
    with openai.OpenAI(api_key=UPSTREAM_API_KEY, base_url=base_url, max_retries=0) as prefixed:
        answer = prefixed.responses.create(model="mock-gpt-4o", input=_unique("through a target"))
        assert prefixed.responses.retrieve(answer.id).id == answer.id
        fault_put(mock_root, target, status=429, count=1, retry_after="1")
        with pytest.raises(openai.RateLimitError) as caught:
            prefixed.responses.create(model="mock-gpt-4o", input="again")
        assert caught.value.response.headers["retry-after"] == "1"
        fault_put(mock_root, target, break_after=3, count=1)
        received = []
        with (
            prefixed.responses.create(model="mock-gpt-4o", input="stream", stream=True) as stream,
            pytest.raises((httpx.RemoteProtocolError, openai.APIError)),
        ):
            received.extend(stream)
    assert len(received) == 3
    assert target_stats(mock_root, target) == {"requests": 4, "failed": 2}


def test_the_store_forgets_the_least_recently_used():
    store = ResponseStore(max_responses=2, max_bytes=100)

    def stored(name: str, size: int = 10) -> StoredResponse:
        return StoredResponse({"id": name}, [], (), size=size)

    store.put(stored("a"))
    store.put(stored("b"))
    assert store.get("a") is not None  # a is now the most recently used
    store.put(stored("c"))
    assert store.get("b") is None and store.get("a") is not None and len(store) == 2
    store.put(stored("big", size=95))
    assert len(store) == 1 and store.get("big") is not None  # bytes bound it too
    assert store.delete("big") and not store.delete("big")
