"""The Gemini adapter on recorded wire fixtures: requests, responses, streams, errors."""

import json

import openai
import orjson
import pytest

from apps.gateway.upstreams import gemini
from tests.gateway.upstreams.wire import WIRE, sse_events


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
    events = sse_events(out)
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
