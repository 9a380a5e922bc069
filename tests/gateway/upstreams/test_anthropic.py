"""The Anthropic adapter on recorded wire fixtures: requests, responses, streams in pieces, errors."""

import json

import openai
import orjson
import pytest

from apps.gateway.upstreams import anthropic
from tests.gateway.upstreams.wire import WIRE, sse_events


def test_anthropic_request_translation():
    body = {
        "model": "alias",
        "max_tokens": 50,
        "stop": "END",
        "temperature": 0.2,
        "user": "u-1",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"SF"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "68F"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": "required",
    }
    request = anthropic.build_request(
        deployment={"upstream_model": "claude-sonnet-4-5", "api_base": "https://api.anthropic.com"},
        path="/chat/completions",
        body=body,
        secret="sk-ant",
    )
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant" and request.headers["anthropic-version"] == "2023-06-01"
    sent = orjson.loads(request.body)
    assert sent["system"] == "be brief" and sent["max_tokens"] == 50 and sent["stop_sequences"] == ["END"]
    assert sent["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert sent["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {"city": "SF"},
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "68F"}],
    }
    assert sent["tools"][0]["input_schema"] == {"type": "object"} and sent["tool_choice"] == {"type": "any"}
    assert sent["metadata"] == {"user_id": "u-1"}
    with pytest.raises(ValueError):
        anthropic.build_request(
            deployment={"upstream_model": "c", "api_base": "https://x"}, path="/embeddings", body={}, secret=None
        )


def test_anthropic_responses_from_recorded_fixtures():
    plain = orjson.loads(anthropic.translate_response((WIRE / "anthropic/messages.json").read_bytes()))
    assert plain["choices"][0]["message"]["content"].startswith("The weather in San Francisco")
    assert plain["choices"][0]["finish_reason"] == "stop"
    assert plain["usage"] == {
        "prompt_tokens": 770,
        "completion_tokens": 26,
        "total_tokens": 796,
        # cache reads in OpenAI's field; cache writes (and of them, one-hour writes) in Hydite's own
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "cache_write_1h_tokens": 0},
    }
    tools = orjson.loads(anthropic.translate_response((WIRE / "anthropic/messages_tool_use.json").read_bytes()))
    call = tools["choices"][0]["message"]["tool_calls"][0]
    assert tools["choices"][0]["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA", "units": "f"}


def test_anthropic_streams_from_recorded_fixtures_in_arbitrary_pieces():
    raw = (WIRE / "anthropic/messages_stream.sse").read_bytes()
    translator = anthropic.StreamTranslator(include_usage=True)
    out = b"".join(translator.feed(raw[i : i + 7]) for i in range(0, len(raw), 7))
    events = sse_events(out)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "[12345,67890]"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"] == {
        "prompt_tokens": 135,
        "completion_tokens": 10,
        "total_tokens": 145,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "cache_write_1h_tokens": 0},
    }
    assert out.endswith(b"data: [DONE]\n\n")

    raw = (WIRE / "anthropic/messages_stream_tool_use.sse").read_bytes()
    events = sse_events(anthropic.StreamTranslator(include_usage=False).feed(raw))
    calls = [tc for e in events if e["choices"] for tc in e["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("toolu_")
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls))["location"].startswith("San Francisco")
    assert not any("usage" in e for e in events)

    error = sse_events(
        anthropic.StreamTranslator(include_usage=True).feed(
            (WIRE / "anthropic/stream_error_event.sse").read_bytes() + b"\n\n"
        )
    )
    assert error[0]["error"]["message"] == "Overloaded" and error[0]["error"]["type"] == "server_error"


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("anthropic/error_400.json", 400, "invalid_request_error"),
        ("anthropic/error_401.json", 401, "invalid_request_error"),
        ("anthropic/error_429_rate_limit.json", 429, "rate_limit_error"),
        ("anthropic/error_529_overloaded.json", 529, "server_error"),
    ],
)
def test_anthropic_errors(fixture, status, expected):
    payload = (WIRE / fixture).read_bytes()
    error = anthropic.error_from_upstream(status, payload)
    assert error["type"] == expected and error["message"] == json.loads(payload)["error"]["message"]
    assert anthropic.STATUS_FOR_CLIENT.get(529) == 503


@pytest.mark.django_db
def test_anthropic_deployment_through_the_gateway(world, live_server_url):
    client = openai.OpenAI(api_key=world.key, base_url=f"{live_server_url}/v1", max_retries=0)
    reply = client.chat.completions.create(
        model="claude", messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "hello claude"}]
    )
    assert reply.choices[0].message.content.startswith("Mock reply to: hello claude")
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="claude",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "hello claude"}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    tool_reply = client.chat.completions.create(
        model="claude", tools=tools, tool_choice="required", messages=[{"role": "user", "content": "weather?"}]
    )
    assert tool_reply.choices[0].message.tool_calls[0].function.name == "get_weather"
