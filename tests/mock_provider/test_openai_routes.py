"""OpenAI's routes of the mock provider over real HTTP, driven by the official openai SDK."""

import json

import httpx
import pytest

from tests.conftest import UPSTREAM_API_KEY
from tests.live import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "wire" / "openai"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _keys(data: dict) -> set[str]:
    return set(data)


def test_chat_completion_has_openais_shape_and_real_usage(client):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there friend"}]
    first = client.chat.completions.create(model="mock-gpt-4o-mini", messages=messages)
    again = client.chat.completions.create(model="mock-gpt-4o-mini", messages=messages)
    assert first.model_dump() == again.model_dump()  # deterministic
    reference = _fixture("chat_completion.json")
    body = first.model_dump(exclude_none=True)
    assert _keys(reference) - {"service_tier"} <= _keys(body)
    assert first.choices[0].message.content.startswith("Mock reply to: hello there friend")
    assert first.usage.prompt_tokens == (2 + 4) + (3 + 4)
    assert first.usage.completion_tokens == len(first.choices[0].message.content.split())
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


def test_max_tokens_bounds_the_completion(client):
    reply = client.chat.completions.create(
        model="mock-gpt-4o-mini", messages=[{"role": "user", "content": "count"}], max_tokens=40
    )
    assert reply.usage.completion_tokens == 40


def test_stream_with_usage_matches_the_recorded_wire_format(client, mock_url):
    stream = client.chat.completions.create(
        model="mock-gpt-4o-mini",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-mock-chunks": "20"},
    )
    chunks = list(stream)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 20
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    plain = client.chat.completions.create(
        model="mock-gpt-4o-mini", messages=[{"role": "user", "content": "stream please"}]
    )
    assert text == plain.choices[0].message.content
    # Raw bytes: the same framing as the recorded OpenAI stream.
    recorded = (FIXTURES / "chat_stream_with_usage.sse").read_text()
    raw = httpx.post(
        f"{mock_url}/chat/completions",
        headers={"Authorization": f"Bearer {UPSTREAM_API_KEY}"},
        json={
            "model": "mock-gpt-4o-mini",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        },
    ).text
    assert raw.endswith("data: [DONE]\n\n") and recorded.endswith("data: [DONE]\n\n")
    events = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    recorded_events = [json.loads(line[6:]) for line in recorded.split("\n\n") if line.startswith("data: {")]
    assert [set(e) for e in events[:1]] == [set(recorded_events[0])]
    assert set(events[-1]["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_tool_calls_plain_and_streamed(client):
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": parameters}}]
    messages = [{"role": "user", "content": "weather in NYC?"}]
    assert (
        client.chat.completions.create(model="mock-gpt-4o", messages=messages, tools=tools)
        .choices[0]
        .message.tool_calls
        is None
    )
    ask = {"model": "mock-gpt-4o", "messages": messages, "tools": tools, "tool_choice": "required"}
    reply = client.chat.completions.create(**ask)
    assert reply.choices[0].finish_reason == "tool_calls"
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "mock"}
    chunks = list(client.chat.completions.create(**ask, stream=True))
    arguments = "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for tc in c.choices[0].delta.tool_calls
    )
    assert json.loads(arguments) == {"city": "mock"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    recorded = [
        json.loads(line[6:])
        for line in (FIXTURES / "chat_stream_tool_calls.sse").read_text().split("\n\n")
        if line.startswith("data: {")
    ]
    first = chunks[0].model_dump(exclude_unset=True)["choices"][0]["delta"]
    assert set(first) == set(recorded[0]["choices"][0]["delta"])  # role, content, tool_calls, refusal


def test_json_response_format(client):
    reply = client.chat.completions.create(
        model="mock-gpt-4o", messages=[{"role": "user", "content": "json"}], response_format={"type": "json_object"}
    )
    assert "reply" in json.loads(reply.choices[0].message.content)


def test_completions_embeddings_and_models(client):
    completion = client.completions.create(model="mock-gpt-4o-mini", prompt="say this is a test", max_tokens=7)
    assert set(_fixture("completions.json")) <= set(completion.model_dump())
    assert completion.usage.completion_tokens == 7 and completion.usage.prompt_tokens == 5
    embedding = client.embeddings.create(model="mock-embedding-small", input=["a", "b c"], dimensions=16)
    assert [len(item.embedding) for item in embedding.data] == [16, 16]
    assert embedding.usage.prompt_tokens == 3
    assert (
        embedding.data[0].embedding == client.embeddings.create(model="m", input="a", dimensions=16).data[0].embedding
    )
    assert {model.id for model in client.models.list()} >= {"mock-gpt-4o-mini", "mock-gpt-4o"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[]", None),
        (b'{"messages": []}', "model"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}', "max_tokens"),
    ],
)
def test_bad_input_gets_a_400_in_openai_shape(mock_url, body, param):
    response = httpx.post(
        f"{mock_url}/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {UPSTREAM_API_KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
