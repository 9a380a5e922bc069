"""Anthropic's Messages API on the mock provider, plain and streamed."""

import json

import httpx

from tests.conftest import UPSTREAM_API_KEY

HEADERS = {"x-api-key": UPSTREAM_API_KEY, "anthropic-version": "2023-06-01"}
ASK = {"model": "claude-mock", "system": "be brief", "messages": [{"role": "user", "content": "hello there"}]}


def _events(text: str) -> list[dict]:
    frames = [frame for frame in text.split("\n\n") if frame]
    events = []
    for frame in frames:
        name, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        events.append(event)
    return events


def test_a_stream_tells_what_the_plain_answer_says(mock_url):
    plain = httpx.post(f"{mock_url}/messages", headers=HEADERS, json=ASK).json()
    assert plain["type"] == "message" and plain["stop_reason"] == "end_turn"
    assert plain["content"][0]["text"].startswith("Mock reply to: hello there")
    assert plain["usage"] == {"input_tokens": (2 + 4) + (2 + 4), "output_tokens": 12}
    streamed = httpx.post(
        f"{mock_url}/messages", headers={**HEADERS, "x-mock-chunks": "3"}, json={**ASK, "stream": True}
    )
    events = _events(streamed.text)
    assert [event["type"] for event in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0]["message"]["id"].startswith("msg_mock")  # named after the request's body, like plain["id"]
    assert "".join(event["delta"]["text"] for event in events[2:5]) == plain["content"][0]["text"]
    assert events[-2]["usage"] == {"output_tokens": 12}


def test_a_tool_is_called_plain_and_streamed(mock_url):
    ask = {**ASK, "tools": [{"name": "weather", "input_schema": {"type": "object"}}]}
    plain = httpx.post(f"{mock_url}/messages", headers=HEADERS, json=ask).json()
    assert plain["stop_reason"] == "tool_use"
    assert plain["content"][0]["name"] == "weather" and plain["content"][0]["input"] == {"mock": True}
    events = _events(httpx.post(f"{mock_url}/messages", headers=HEADERS, json={**ask, "stream": True}).text)
    block = events[1]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "weather" and block["input"] == {}
    assert json.loads(events[2]["delta"]["partial_json"]) == {"mock": True}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
