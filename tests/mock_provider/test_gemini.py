"""Gemini's generateContent and streamGenerateContent on the mock provider."""

import json

import httpx

from tests.conftest import UPSTREAM_API_KEY

HEADERS = {"x-goog-api-key": UPSTREAM_API_KEY}
ASK = {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}], "generationConfig": {"maxOutputTokens": 9}}


def _url(mock_url: str, model: str, method: str) -> str:
    return f"{mock_url.removesuffix('/v1')}/v1beta/models/{model}:{method}"


def test_a_stream_tells_what_the_plain_answer_says(mock_url):
    plain = httpx.post(_url(mock_url, "gemini-mock", "generateContent"), headers=HEADERS, json=ASK).json()
    candidate = plain["candidates"][0]
    assert candidate["finishReason"] == "STOP" and plain["modelVersion"] == "gemini-mock"
    text = candidate["content"]["parts"][0]["text"]
    assert text.startswith("Mock reply to: hello there") and len(text.split()) == 9
    assert plain["usageMetadata"] == {"promptTokenCount": 6, "candidatesTokenCount": 9, "totalTokenCount": 15}
    streamed = httpx.post(
        _url(mock_url, "gemini-mock", "streamGenerateContent") + "?alt=sse",
        headers={**HEADERS, "x-mock-chunks": "4"},
        json=ASK,
    )
    frames = [json.loads(frame.removeprefix("data: ")) for frame in streamed.text.split("\r\n\r\n") if frame]
    assert len(frames) == 4
    assert "".join(frame["candidates"][0]["content"]["parts"][0]["text"] for frame in frames) == text
    assert ["finishReason" in frame["candidates"][0] for frame in frames] == [False, False, False, True]


def test_a_function_is_called_when_the_mode_is_any(mock_url):
    declaration = {
        "name": "weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
    }
    ask = {**ASK, "tools": [{"functionDeclarations": [declaration]}]}
    url = _url(mock_url, "gemini-mock", "generateContent")
    assert "text" in httpx.post(url, headers=HEADERS, json=ask).json()["candidates"][0]["content"]["parts"][0]
    forced = {**ask, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    plain = httpx.post(url, headers=HEADERS, json=forced).json()
    assert plain["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "weather", "args": {"city": "mock"}}}
    ]


def test_only_post_and_the_asked_failure_in_geminis_shape(mock_url):
    refused = httpx.get(_url(mock_url, "gemini-mock", "generateContent"), headers=HEADERS)
    assert refused.status_code == 405 and refused.json()["error"]["code"] == 405
    failing = httpx.post(_url(mock_url, "mock-status-503", "generateContent"), headers=HEADERS, json=ASK)
    assert failing.status_code == 503 and failing.json()["error"]["status"] == "UNAVAILABLE"
    bad = httpx.post(_url(mock_url, "gemini-mock", "generateContent"), headers=HEADERS, json={"contents": "hi"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
