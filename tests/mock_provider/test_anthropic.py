"""Anthropic's Messages API on the mock provider: plain and streamed (the recorded event grammar), thinking,
prompt-cache usage, count_tokens, forward-compatible bodies and Anthropic's own 400s."""

import json
import re

import httpx
import pytest

from tests.conftest import UPSTREAM_API_KEY
from tests.live import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "wire" / "anthropic"
HEADERS = {"x-api-key": UPSTREAM_API_KEY, "anthropic-version": "2023-06-01"}
ASK = {
    "model": "claude-mock",
    "max_tokens": 12,
    "system": "be brief",
    "messages": [{"role": "user", "content": "hello there"}],
}
WEATHER = {
    "name": "get_weather",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "units": {"type": "string", "enum": ["c", "f"]}},
        "required": ["location", "units"],
    },
}


def parse_events(text: str) -> list[dict]:
    events = []
    for frame in (frame for frame in text.split("\n\n") if frame):
        name, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: ").removeprefix("data:"))
        assert name == f"event: {event['type']}"
        events.append(event)
    return events


def grammar(events: list[dict]) -> list[str]:
    """The event types, a run of deltas of one block as one `content_block_delta+`."""
    kinds: list[str] = []
    for event in events:
        kind = event["type"] + ("+" if event["type"] == "content_block_delta" else "")
        if not (kinds and kind == kinds[-1] == "content_block_delta+"):
            kinds.append(kind)
    return kinds


def _post(mock_url: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{mock_url}/messages", headers={**HEADERS, **headers}, json=body)


def _stream(mock_url: str, body: dict, **headers: str) -> list[dict]:
    response = _post(mock_url, {**body, "stream": True}, **headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    return parse_events(response.text)


def test_a_stream_tells_what_the_plain_answer_says(mock_url):
    plain = _post(mock_url, ASK).json()
    assert plain["type"] == "message" and plain["stop_reason"] == "end_turn" and plain["stop_sequence"] is None
    assert plain["content"][0]["text"].startswith("Mock reply to: hello there")
    assert plain["usage"] == {
        "input_tokens": (2 + 4) + (2 + 4),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 12,
        "service_tier": "standard",
    }
    events = _stream(mock_url, ASK, **{"x-mock-chunks": "3"})
    assert [event["type"] for event in events] == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0]["message"]["id"].startswith("msg_mock") and plain["id"].startswith("msg_mock")
    assert "".join(event["delta"]["text"] for event in events[3:6]) == plain["content"][0]["text"]
    assert events[-2]["usage"] == {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 12,
    }


@pytest.mark.parametrize(
    ("fixture", "body"),
    [
        ("messages_stream.sse", ASK),
        ("messages_stream_tool_use.sse", {**ASK, "tools": [WEATHER], "tool_choice": {"type": "any"}}),
    ],
)
def test_the_stream_follows_the_recorded_grammar(mock_url, fixture, body):
    recorded = parse_events((FIXTURES / fixture).read_text())
    events = _stream(mock_url, body)
    assert grammar(events) == grammar(recorded)
    mine, theirs = {e["type"]: e for e in events}, {e["type"]: e for e in recorded}
    for kind in ("message_start", "content_block_start", "content_block_stop", "message_delta", "message_stop"):
        assert set(mine[kind]) == set(theirs[kind]), kind
    assert set(theirs["message_start"]["message"]) <= set(mine["message_start"]["message"])
    assert set(theirs["message_start"]["message"]["usage"]) - {"inference_geo"} <= set(
        mine["message_start"]["message"]["usage"]
    )
    assert set(mine["message_delta"]["usage"]) == set(theirs["message_delta"]["usage"])
    assert set(theirs["content_block_start"]["content_block"]) - {"caller"} == set(
        mine["content_block_start"]["content_block"]
    )
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert {delta["type"] for delta in deltas} == {
        e["delta"]["type"] for e in recorded if "index" in e and "delta" in e
    }


def test_a_tool_call_streams_its_input_in_pieces(mock_url):
    body = {**ASK, "tools": [WEATHER], "tool_choice": {"type": "tool", "name": "get_weather"}}
    plain = _post(mock_url, body).json()
    assert plain["stop_reason"] == "tool_use" and plain["content"][0]["type"] == "tool_use"
    assert plain["content"][0]["input"] == {"location": "mock", "units": "c"}
    events = _stream(mock_url, body, **{"x-mock-chunks": "4"})
    pieces = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert pieces[0] == "" and len(pieces) >= 4  # like Anthropic: an empty piece first, then the JSON
    assert json.loads("".join(pieces)) == plain["content"][0]["input"]
    opening = events[1]["content_block"]
    assert opening == {**plain["content"][0], "input": {}, "id": opening["id"]} and opening["id"].startswith("toolu_")
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_thinking_comes_first_with_a_signature(mock_url):
    body = {**ASK, "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    plain = _post(mock_url, body).json()
    thinking, text = plain["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] and thinking["signature"]
    assert text["type"] == "text"
    thought = len(thinking["thinking"].split())
    assert plain["usage"]["output_tokens"] == thought + len(text["text"].split()) == 2048  # max_tokens holds both
    events = _stream(mock_url, body, **{"x-mock-chunks": "3"})
    assert grammar(events) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta+",
        "content_block_stop",
        "content_block_start",
        "content_block_delta+",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    block_zero = [e["delta"] for e in events if e["type"] == "content_block_delta" and e["index"] == 0]
    assert [d["type"] for d in block_zero] == ["thinking_delta"] * 3 + ["signature_delta"]
    assert "".join(d["thinking"] for d in block_zero[:-1]) == thinking["thinking"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{40,}={0,2}", block_zero[-1]["signature"])
    assert events[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    adaptive = _post(mock_url, {**ASK, "thinking": {"type": "adaptive"}}).json()
    assert [block["type"] for block in adaptive["content"]] == ["thinking", "text"]


@pytest.mark.parametrize(
    ("thinking", "max_tokens", "message"),
    [
        ({"type": "enabled", "budget_tokens": 100}, 4000, "greater than or equal to 1024"),
        ({"type": "enabled", "budget_tokens": 2000}, 2000, "`max_tokens` must be greater than"),
        ({"type": "enabled"}, 4000, "budget_tokens"),
        ("yes", 4000, "thinking"),
    ],
)
def test_bad_thinking_is_refused_in_anthropics_shape(mock_url, thinking, max_tokens, message):
    refused = _post(mock_url, {**ASK, "max_tokens": max_tokens, "thinking": thinking})
    assert refused.status_code == 400
    body = refused.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert message in body["error"]["message"]


def test_cache_control_reports_the_prefix_as_written_or_read(mock_url):
    body = {
        "model": "claude-mock",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "a long system prompt", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first question", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
                ],
            },
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "next one please"},
        ],
    }
    prefix, rest = (4 + 4) + (2 + 4), (2 + 4) + (3 + 4)
    written = _post(mock_url, body, **{"anthropic-beta": "prompt-caching-2024-07-31,extended-cache-ttl-2025-04-11"})
    usage = written.json()["usage"]
    assert usage["input_tokens"] == rest and usage["cache_creation_input_tokens"] == prefix
    assert usage["cache_read_input_tokens"] == 0
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": prefix}
    read = _post(mock_url, body, **{"x-mock-cache-read": "1"}).json()["usage"]
    assert (read["input_tokens"], read["cache_creation_input_tokens"], read["cache_read_input_tokens"]) == (
        rest,
        0,
        prefix,
    )
    by_model = _post(mock_url, {**body, "model": "claude-mock-cache-read"}).json()["usage"]
    assert by_model["cache_read_input_tokens"] == prefix
    automatic = _post(mock_url, {**body, "cache_control": {"type": "ephemeral"}}).json()["usage"]
    assert automatic["input_tokens"] == 0 and automatic["cache_creation_input_tokens"] == prefix + rest
    counted = httpx.post(f"{mock_url}/messages/count_tokens", headers=HEADERS, json=body).json()
    assert counted == {"input_tokens": prefix + rest}


def test_count_tokens_counts_as_the_usage_does(mock_url):
    body = {"model": "claude-mock", "system": "be brief", "messages": ASK["messages"], "tools": [WEATHER]}
    counted = httpx.post(f"{mock_url}/messages/count_tokens", headers=HEADERS, json=body)
    assert counted.status_code == 200 and counted.json() == {"input_tokens": 12}
    assert _post(mock_url, {**body, "max_tokens": 5}).json()["usage"]["input_tokens"] == 12
    missing = httpx.post(f"{mock_url}/messages/count_tokens", headers=HEADERS, json={"model": "claude-mock"})
    assert missing.status_code == 400 and missing.json()["error"]["message"] == "messages: Field required"


def test_unknown_fields_betas_and_blocks_are_accepted(mock_url):
    body = {
        **ASK,
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "mcp_servers": [],
        "service_tier": "auto",
        "metadata": {"user_id": "u1"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "document", "source": {}}]},
            {
                "role": "assistant",
                "content": [{"type": "redacted_thinking", "data": "xx"}, {"type": "text", "text": "ok"}],
            },
            {
                "role": "user",
                "content": [{"type": "future_block_type", "anything": 1}, {"type": "text", "text": "go on"}],
            },
        ],
    }
    answer = httpx.post(
        f"{mock_url}/messages?beta=true",
        headers={**HEADERS, "anthropic-beta": "context-management-2025-06-27,fine-grained-tool-streaming-2025-05-14"},
        json=body,
    )
    assert answer.status_code == 200 and answer.json()["content"][0]["text"].startswith("Mock reply to: go on")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Field required"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        ({"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": "hello"}, "messages: Input should be a valid list"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 3}]}, "messages.0.content"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [3]}]}, "messages.0.content.0"),
        ({**ASK, "tools": ["x"]}, "tools.0.name"),
        ({**ASK, "tools": {"name": "x"}}, "tools"),
        ({**ASK, "tool_choice": "any"}, "tool_choice"),
        ({**ASK, "tool_choice": {"type": "tool"}}, "tool_choice.tool.name"),
        ({**ASK, "tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}, "nope"),
        ({**ASK, "system": 5}, "system"),
        ({**ASK, "stream": "yes"}, "stream"),
    ],
)
def test_bad_bodies_are_400s_in_anthropics_shape(mock_url, body, message):
    refused = _post(mock_url, body)
    assert refused.status_code == 400, refused.text
    error = refused.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"] and re.fullmatch(r"req_[0-9a-f]+", error["request_id"])


def test_an_asked_failure_answers_in_anthropics_shape(mock_url):
    failed = _post(mock_url, {**ASK, "model": "mock-status-529"})
    assert failed.status_code == 529 and failed.json()["error"]["type"] == "overloaded_error"
    assert httpx.get(f"{mock_url}/messages", headers=HEADERS).json()["type"] == "error"  # 405
