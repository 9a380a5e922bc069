"""The stream grammar checker accepts Anthropic's recorded streams and refuses each kind of broken one."""

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.gateway.dialects.anthropic_grammar import GrammarError, assert_messages_stream, parse_events
from tests.gateway.upstreams.wire import WIRE

Events = list[dict[str, Any]]


def recorded(name: str) -> str:
    return (WIRE / "anthropic" / name).read_text()


def to_sse(events: Events) -> str:
    return "".join(f"event: {event['type']}\ndata: {orjson.dumps(event).decode()}\n\n" for event in events)


def test_recorded_text_stream_is_accepted():
    events = assert_messages_stream(recorded("messages_stream.sse"))
    assert [event["type"] for event in events][:3] == ["message_start", "content_block_start", "ping"]
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and events[-1]["type"] == "message_stop"


def test_recorded_tool_use_stream_is_accepted():
    events = assert_messages_stream(recorded("messages_stream_tool_use.sse"))
    assert sum(event["type"] == "content_block_delta" for event in events) == 10


def test_recorded_error_event_is_accepted():
    assert assert_messages_stream(recorded("stream_error_event.sse"))[0]["error"]["type"] == "overloaded_error"


def _text_events() -> Events:
    return parse_events(recorded("messages_stream.sse"))


def _tool_events() -> Events:
    return parse_events(recorded("messages_stream_tool_use.sse"))


def _without(kind: str) -> Callable[[Events], Events]:
    return lambda events: [event for event in events if event["type"] != kind]


def _second_block(events: Events) -> Events:
    """A second text block, started before the first one stops."""
    start = {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}
    return [*events[:4], start, *events[4:]]


def _reindexed(events: Events) -> Events:
    return [{**event, "index": 1} if "index" in event else event for event in events]


def _wrong_delta(events: Events) -> Events:
    return [
        {**event, "delta": {"type": "input_json_delta", "partial_json": "{}"}}
        if event["type"] == "content_block_delta"
        else event
        for event in events
    ]


def _swap_end(events: Events) -> Events:
    return [*events[:-2], events[-1], events[-2]]


def _after_stop(events: Events) -> Events:
    return [*events, {"type": "ping"}]


def _error_then_more(events: Events) -> Events:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return [*events[:3], error, *events[3:]]


def _thinking_unsigned(events: Events) -> Events:
    thinking = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_stop", "index": 0},
    ]
    return [events[0], *thinking, *events[-2:]]


def _tool_input_not_json(events: Events) -> Events:
    return [event for event in events if event.get("delta", {}).get("partial_json") != 'units": "f"}']


BROKEN = {
    "no message_start": (_text_events, _without("message_start")),
    "two message_starts": (_text_events, lambda events: [events[0], *events]),
    "block interleaved": (_text_events, _second_block),
    "block index skipped": (_text_events, _reindexed),
    "delta type of another block": (_text_events, _wrong_delta),
    "block never stopped": (_text_events, _without("content_block_stop")),
    "message_stop before message_delta": (_text_events, _swap_end),
    "no message_delta": (_text_events, _without("message_delta")),
    "no end": (_text_events, _without("message_stop")),
    "event after message_stop": (_text_events, _after_stop),
    "event after error": (_text_events, _error_then_more),
    "thinking without signature": (_text_events, _thinking_unsigned),
    "tool input not a JSON object": (_tool_events, _tool_input_not_json),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_sequences_are_refused(case):
    events, breaking = BROKEN[case]
    assert_messages_stream(to_sse(events()))  # the sequence before the break is valid
    with pytest.raises(GrammarError):
        assert_messages_stream(to_sse(breaking(events())))


def test_event_name_must_match_its_data():
    with pytest.raises(GrammarError):
        assert_messages_stream(recorded("messages_stream.sse").replace("event: ping", "event: message_stop", 1))


def test_data_without_event_line_is_refused():
    with pytest.raises(GrammarError):
        assert_messages_stream(recorded("messages_stream.sse").replace("event: ping\n", "", 1))
