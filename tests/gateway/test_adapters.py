"""Provider adapters: requests they build and errors they translate, on recorded wire fixtures."""

import json

import openai
import orjson
import pytest

from apps.gateway.upstreams import (
    ADAPTERS,
    ProviderNotSupported,
    adapter_for,
    anthropic,
    azure,
    gemini,
    openai_compatible,
)
from tests.live import ROOT

WIRE = ROOT / "tests" / "fixtures" / "wire"


def test_openai_compatible_request():
    request = openai_compatible.build_request(
        deployment={"upstream_model": "deepseek-chat", "api_base": "https://api.deepseek.com/v1"},
        path="/chat/completions",
        body={"model": "alias", "messages": []},
        secret="sk-up",
    )
    assert request.url == "https://api.deepseek.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-up"
    assert orjson.loads(request.body)["model"] == "deepseek-chat"


def test_azure_request_uses_deployment_path_version_and_api_key_header():
    request = azure.build_request(
        deployment={"upstream_model": "gpt-4o prod", "api_base": "https://acme.openai.azure.com", "api_version": ""},
        path="/chat/completions",
        body={"model": "alias", "messages": []},
        secret="azure-key",
    )
    assert request.url == (
        "https://acme.openai.azure.com/openai/deployments/gpt-4o%20prod/chat/completions?api-version=2024-10-21"
    )
    assert request.headers == {"Content-Type": "application/json", "api-key": "azure-key"}
    assert "model" not in orjson.loads(request.body)


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("openai/error_401_invalid_api_key.json", 401, ("invalid_request_error", "invalid_api_key")),
        ("openai/error_404_model_not_found.json", 404, ("invalid_request_error", "model_not_found")),
        ("openai/error_429_rate_limit.json", 429, ("tokens", "rate_limit_exceeded")),
        ("openai/error_429_insufficient_quota.json", 429, ("insufficient_quota", "insufficient_quota")),
        ("openai/error_500.json", 500, ("server_error", None)),
        ("openai/context_length_exceeded.json", 400, ("invalid_request_error", "context_length_exceeded")),
        ("azure_openai/error_content_filter_400.json", 400, ("invalid_request_error", "content_filter")),
    ],
)
def test_provider_errors_keep_message_type_and_code(fixture, status, expected):
    payload = (WIRE / fixture).read_bytes()
    error = openai_compatible.error_from_upstream(status, payload)
    original = json.loads(payload)["error"]
    assert error["message"] == original["message"]
    assert (error["type"], error["code"]) == expected
    assert set(error) == {"message", "type", "param", "code"}


def test_non_json_upstream_errors_are_wrapped():
    error = openai_compatible.error_from_upstream(502, b"<html>Bad gateway</html>")
    assert error["type"] == "server_error" and "502" in error["message"] and "Bad gateway" in error["message"]


def test_unknown_providers_are_refused_not_guessed():
    assert adapter_for("azure") is azure.ADAPTER and ADAPTERS["deepseek"] is openai_compatible.ADAPTER
    with pytest.raises(ProviderNotSupported):
        adapter_for("bedrock")


@pytest.mark.django_db
def test_azure_deployment_through_the_gateway(world, live_server_url):
    client = openai.OpenAI(api_key=world.key, base_url=f"{live_server_url}/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="azure-gpt", messages=[{"role": "user", "content": "hello azure"}]
    )
    assert raw.headers["x-gateway-model-resolved"] == "azure/mock-gpt-4o-mini"
    assert raw.parse().choices[0].message.content.startswith("Mock reply to: hello azure")
    chunks = list(
        client.chat.completions.create(
            model="azure-gpt", stream=True, messages=[{"role": "user", "content": "stream azure"}]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Mock reply")


def _sse_events(raw: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n\n") if line.startswith(b"data: {")]


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
        "prompt_tokens_details": {"cached_tokens": 0},  # cache reads, in OpenAI's field
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
    events = _sse_events(out)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "[12345,67890]"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"] == {
        "prompt_tokens": 135,
        "completion_tokens": 10,
        "total_tokens": 145,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert out.endswith(b"data: [DONE]\n\n")

    raw = (WIRE / "anthropic/messages_stream_tool_use.sse").read_bytes()
    events = _sse_events(anthropic.StreamTranslator(include_usage=False).feed(raw))
    calls = [tc for e in events if e["choices"] for tc in e["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("toolu_")
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls))["location"].startswith("San Francisco")
    assert not any("usage" in e for e in events)

    error = _sse_events(
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
        model="claude", tools=tools, messages=[{"role": "user", "content": "weather?"}]
    )
    assert tool_reply.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_gemini_request_translation():
    body = {
        "model": "alias",
        "max_tokens": 64,
        "temperature": 0.1,
        "stream": True,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "days until new year?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "now", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": "2026-11-23"},
        ],
        "tools": [{"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
    }
    request = gemini.build_request(
        deployment={
            "upstream_model": "gemini-2.5-flash",
            "api_base": "https://generativelanguage.googleapis.com/v1beta",
        },
        path="/chat/completions",
        body=body,
        secret="g-key",
    )
    assert request.url.endswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert request.headers["x-goog-api-key"] == "g-key"
    sent = orjson.loads(request.body)
    assert sent["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["contents"][1]["parts"][0] == {"functionCall": {"name": "now", "args": {}}}
    assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "now"
    assert sent["generationConfig"] == {
        "temperature": 0.1,
        "maxOutputTokens": 64,
        "responseMimeType": "application/json",
    }
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "now"
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_gemini_responses_and_streams_from_recorded_fixtures():
    plain = orjson.loads(gemini.translate_response((WIRE / "gemini/generate_content.json").read_bytes()))
    assert "Mountain View" in plain["choices"][0]["message"]["content"]
    assert plain["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 22,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    call = orjson.loads(gemini.translate_response((WIRE / "gemini/generate_content_function_call.json").read_bytes()))
    assert call["choices"][0]["finish_reason"] == "tool_calls"
    assert call["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
    assert "Thinking" not in (call["choices"][0]["message"]["content"] or "")  # thought parts are not the answer
    raw = (WIRE / "gemini/stream_generate_content.sse").read_bytes()
    translator = gemini.StreamTranslator(include_usage=True)
    out = b"".join(translator.feed(raw[i : i + 11]) for i in range(0, len(raw), 11)) + translator.finish()
    events = _sse_events(out)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == (
        "The capital of Wyoming is **Cheyenne**.\n"
    )
    assert events[-1]["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 10,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert out.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("gemini/error_400.json", 400, ("invalid_request_error", "invalid_api_key")),
        ("gemini/error_429.json", 429, ("rate_limit_error", "rate_limit_exceeded")),
    ],
)
def test_gemini_errors(fixture, status, expected):
    payload = (WIRE / fixture).read_bytes()
    error = gemini.error_from_upstream(status, payload)
    assert (error["type"], error["code"]) == expected
    assert error["message"] == json.loads(payload)["error"]["message"]


@pytest.mark.django_db
def test_gemini_deployment_through_the_gateway(world, live_server_url):
    client = openai.OpenAI(api_key=world.key, base_url=f"{live_server_url}/v1", max_retries=0)
    reply = client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "hello gemini"}])
    assert reply.choices[0].message.content.startswith("Mock reply to: hello gemini")
    chunks = list(
        client.chat.completions.create(
            model="gemini", stream=True, messages=[{"role": "user", "content": "hello gemini"}]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert all(c.choices for c in chunks)  # the usage chunk the client did not ask for is removed
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="gemini", input="no embeddings through this adapter")
