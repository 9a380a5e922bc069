"""The Responses stream grammar checker accepts the mock provider's own Responses streams (over real HTTP)
and refuses each kind of broken one."""

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import UPSTREAM_API_KEY
from tests.gateway.dialects.responses_grammar import (
    GrammarError,
    assert_responses_stream,
    final_response,
    function_calls,
    output_text,
    parse_events,
)

Events = list[dict[str, Any]]
AUTH = {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def mock_stream(mock_url: str, body: dict[str, Any], chunks: int = 5) -> str:
    response = httpx.post(
        f"{mock_url}/responses",
        json={"model": "mock-gpt-4o", "stream": True, "store": False, **body},
        headers={**AUTH, "x-mock-chunks": str(chunks)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture(scope="module")
def text_stream(mock_provider_url) -> str:  # type: ignore[no-untyped-def]
    return mock_stream(mock_provider_url, {"input": "tell me about the grammar of streams"})


@pytest.fixture(scope="module")
def tool_stream(mock_provider_url) -> str:  # type: ignore[no-untyped-def]
    return mock_stream(mock_provider_url, {"input": "weather in Paris [mock:tool]", "tools": [WEATHER]})


def test_the_mocks_text_stream_is_accepted(text_stream):
    events = assert_responses_stream(text_stream)
    assert sum(event["type"] == "response.output_text.delta" for event in events) == 5
    assert output_text(events) == final_response(events)["output"][0]["content"][0]["text"]
    assert output_text(events).startswith("Mock reply to: tell me about")


def test_the_mocks_function_call_stream_is_accepted(tool_stream):
    events = assert_responses_stream(tool_stream)
    [(name, arguments)] = function_calls(events)
    assert name == "get_weather" and isinstance(orjson.loads(arguments)["city"], str)
    assert final_response(events)["output"][0]["arguments"] == arguments


def test_many_chunks_and_one_chunk_are_accepted(mock_provider_url):
    for chunks in (1, 40):
        events = assert_responses_stream(mock_stream(mock_provider_url, {"input": f"chunks {chunks}"}, chunks))
        assert final_response(events)["status"] == "completed"


def to_sse(events: Events) -> str:
    """The events as a stream, numbered 0, 1, … again (so that only the intended break is there)."""
    numbered = [{**event, "sequence_number": number} for number, event in enumerate(events)]
    return "".join(f"event: {event['type']}\ndata: {orjson.dumps(event).decode()}\n\n" for event in numbered)


def _index(events: Events, kind: str, nth: int = 0) -> int:
    return [at for at, event in enumerate(events) if event["type"] == kind][nth]


def _without(kind: str, nth: int = 0) -> Callable[[Events], Events]:
    return lambda events: [event for at, event in enumerate(events) if at != _index(events, kind, nth)]


def _changed(kind: str, **fields: Any) -> Callable[[Events], Events]:
    def change(events: Events) -> Events:
        at = _index(events, kind)
        return [*events[:at], {**events[at], **fields}, *events[at + 1 :]]

    return change


def _moved(kind: str, to: int) -> Callable[[Events], Events]:
    def move(events: Events) -> Events:
        at = _index(events, kind)
        rest = [*events[:at], *events[at + 1 :]]
        return [*rest[:to], events[at], *rest[to:]]

    return move


def _output_changed(events: Events) -> Events:
    last = events[-1]
    return [*events[:-1], {**last, "response": {**last["response"], "output": []}}]


def _text_part_changed(events: Events) -> Events:
    at = _index(events, "response.content_part.done")
    part = {**events[at]["part"], "text": "something else"}
    return [*events[:at], {**events[at], "part": part}, *events[at + 1 :]]


def _arguments_not_json(events: Events) -> Events:
    garbled = []
    for event in events:
        if event["type"] == "response.function_call_arguments.delta":
            event = {**event, "delta": event["delta"].replace("{", "[")}
        elif event["type"] == "response.function_call_arguments.done":
            event = {**event, "arguments": event["arguments"].replace("{", "[")}
        elif event["type"] in ("response.output_item.done", "response.completed"):
            continue
        garbled.append(event)
    return garbled


def _second_item_inside(events: Events) -> Events:
    at = _index(events, "response.output_item.added")
    return [*events[: at + 1], {**events[at], "output_index": 1}, *events[at + 1 :]]


def _after_end(events: Events) -> Events:
    return [*events, events[-2]]


def _failed_then_more(events: Events) -> Events:
    failed = {"type": "response.failed", "response": {**events[0]["response"], "status": "failed"}}
    failed["response"]["error"] = {"code": "server_error", "message": "boom"}
    return [*events[:3], failed, *events[3:]]


TEXT_BREAKS: dict[str, Callable[[Events], Events]] = {
    "no response.created": _without("response.created"),
    "two response.created": lambda events: [events[0], *events],
    "in_progress after an item": _moved("response.in_progress", 3),
    "an item added inside another": _second_item_inside,
    "output_index of another item": _changed("response.output_text.delta", output_index=1),
    "item_id of another item": _changed("response.output_text.delta", item_id="msg_other"),
    "content_index of another part": _changed("response.output_text.delta", content_index=1),
    "a delta lost": _without("response.output_text.delta", 2),
    "a delta after .done": _moved("response.output_text.done", 5),
    "no content_part.done": _without("response.content_part.done"),
    "content_part.done of other text": _text_part_changed,
    "no output_item.done": _without("response.output_item.done"),
    "output_item.done of another id": _changed("response.output_item.done", item={"id": "x", "type": "message"}),
    "the last Response lists other output": _output_changed,
    "no terminal event": _without("response.completed"),
    "an event after the end": _after_end,
    "an event after response.failed": _failed_then_more,
    "an unknown event": _changed("response.output_text.delta", type="response.output_text.delta_extra"),
}
TOOL_BREAKS: dict[str, Callable[[Events], Events]] = {
    "an arguments delta lost": _without("response.function_call_arguments.delta", 1),
    "no arguments done": _without("response.function_call_arguments.done"),
    "arguments not a JSON object": _arguments_not_json,
    "a call done with other arguments": _changed("response.function_call_arguments.done", arguments="{}"),
}


@pytest.mark.parametrize("case", TEXT_BREAKS)
def test_broken_text_streams_are_refused(case, text_stream):
    events = parse_events(text_stream)
    assert_responses_stream(to_sse(events))  # the renumbered stream is valid: only the break can fail
    with pytest.raises(GrammarError):
        assert_responses_stream(to_sse(TEXT_BREAKS[case](events)))


@pytest.mark.parametrize("case", TOOL_BREAKS)
def test_broken_function_call_streams_are_refused(case, tool_stream):
    events = parse_events(tool_stream)
    assert_responses_stream(to_sse(events))
    with pytest.raises(GrammarError):
        assert_responses_stream(to_sse(TOOL_BREAKS[case](events)))


def test_sequence_numbers_must_count_from_zero(text_stream):
    events = parse_events(text_stream)
    skipped = [*events[:3], *[{**event, "sequence_number": event["sequence_number"] + 1} for event in events[3:]]]
    for broken in (skipped, [{**event, "sequence_number": event["sequence_number"] + 1} for event in events]):
        with pytest.raises(GrammarError, match="sequence_number"):
            assert_responses_stream(
                "".join(f"event: {e['type']}\ndata: {orjson.dumps(e).decode()}\n\n" for e in broken)
            )


def test_event_name_must_match_its_data(text_stream):
    with pytest.raises(GrammarError):
        assert_responses_stream(text_stream.replace("event: response.in_progress", "event: response.created", 1))


def test_data_without_event_line_is_refused(text_stream):
    with pytest.raises(GrammarError):
        assert_responses_stream(text_stream.replace("event: response.in_progress\n", "", 1))


@pytest.mark.parametrize("garbage", ["event: x\ndata: {\n\n", "event: x\ndata: [1]\n\n", "event: error\ndata: {}\n\n"])
def test_garbage_is_refused_with_a_grammar_error(garbage):
    with pytest.raises(GrammarError):
        assert_responses_stream(garbage)
