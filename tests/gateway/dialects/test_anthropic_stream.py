"""OpenAI chunk streams become Anthropic Messages streams: recorded streams cut anywhere, reasoning, parallel
tools, usage, upstream errors, cut streams, and hostile bytes."""

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.gateway.dialects.anthropic_stream import ChatStreamToMessages
from apps.gateway.usage import ImpossibleUsage, Usage
from tests.gateway.dialects.anthropic_grammar import assert_messages_stream, stream_text, tool_inputs
from tests.gateway.dialects.hostile import json_values
from tests.gateway.upstreams.wire import WIRE, sse_events

FIXTURES = ["chat_stream_with_usage.sse", "chat_stream_tool_calls.sse"]
DONE = b"data: [DONE]\n\n"


def recorded(name: str) -> bytes:
    return (WIRE / "openai" / name).read_bytes()


def translate(pieces: list[bytes], model: str = "claude-alias") -> tuple[bytes, ChatStreamToMessages]:
    translator = ChatStreamToMessages(model)
    out = b"".join(translator.feed(piece) for piece in pieces) + translator.finish()
    return out, translator


def split_at(raw: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(bounds)]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return b"data: " + orjson.dumps({"id": "chatcmpl-1", "choices": choices, **extra}) + b"\n\n"


def upstream_text(raw: bytes) -> str:
    return "".join(choice["delta"].get("content") or "" for event in sse_events(raw) for choice in event["choices"])


def upstream_arguments(raw: bytes) -> str:
    return "".join(
        call["function"].get("arguments", "")
        for event in sse_events(raw)
        for choice in event["choices"]
        for call in choice["delta"].get("tool_calls") or ()
    )


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_stream_whole_is_a_valid_message_stream(name):
    raw = recorded(name)
    out, translator = translate([raw])
    events = assert_messages_stream(out.decode())
    assert events[0]["message"]["model"] == "claude-alias" and events[0]["message"]["id"].startswith("msg_")
    assert stream_text(events) == upstream_text(raw)
    assert "".join(arguments for _name, arguments in tool_inputs(events)) == upstream_arguments(raw)
    usage = sse_events(raw)[-1]["usage"]
    assert events[-2]["usage"]["input_tokens"] == usage["prompt_tokens"]
    assert events[-2]["usage"]["output_tokens"] == usage["completion_tokens"]
    assert translator.usage == Usage(usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_stream_byte_by_byte_gives_the_same_events(name):
    raw = recorded(name)
    whole, _ = translate([raw])
    by_byte, _ = translate([raw[at : at + 1] for at in range(len(raw))])
    assert by_byte == whole


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_stream_with_crlf_gives_the_same_events(name):
    raw = recorded(name)
    crlf = raw.replace(b"\n", b"\r\n")
    assert translate(split_at(crlf, list(range(1, len(crlf), 7))))[0] == translate([raw])[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_recorded_streams_cut_anywhere_give_the_same_events(data):
    name = data.draw(st.sampled_from(FIXTURES))
    raw = recorded(name)
    cuts = data.draw(st.lists(st.integers(min_value=1, max_value=len(raw) - 1), max_size=40))
    assert translate(split_at(raw, cuts))[0] == translate([raw])[0]


def test_tool_arguments_go_out_as_they_arrive():
    """Each upstream event holding an argument fragment yields its input_json_delta at once."""
    events = recorded("chat_stream_tool_calls.sse").split(b"\n\n")
    translator = ChatStreamToMessages("claude-alias")
    fragments = 0
    for event in events:
        out = translator.feed(event + b"\n\n")
        if b'"arguments":"' in event and b'"arguments":""' not in event:
            fragments += 1
            assert out.count(b'"type":"input_json_delta"') == 1
    assert fragments == 7
    assert tool_inputs(assert_messages_stream(_whole_tool_stream())) == [("get_weather", '{"city":"New York City"}')]


def _whole_tool_stream() -> str:
    return translate([recorded("chat_stream_tool_calls.sse")])[0].decode()


def test_tool_call_stop_reason_and_block():
    events = assert_messages_stream(_whole_tool_stream())
    start = next(event for event in events if event["type"] == "content_block_start")
    assert start["content_block"] == {
        "type": "tool_use",
        "id": "call_4XzlGBLtUe9dy3GVNV4jhq7h",
        "name": "get_weather",
        "input": {},
    }
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def reasoning_stream() -> list[bytes]:
    return [
        chunk({"role": "assistant", "content": "", "reasoning_content": None}),
        chunk({"reasoning_content": "The user"}),
        chunk({"reasoning_content": " wants a greeting."}),
        chunk({"content": "Hel", "reasoning_content": None}),
        chunk({"content": "lo!"}),
        chunk({}, "stop"),
        chunk(usage={"prompt_tokens": 40, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 32}}),
        DONE,
    ]


def test_reasoning_content_becomes_a_signed_thinking_block_before_the_text():
    out, translator = translate(reasoning_stream())
    events = assert_messages_stream(out.decode())
    starts = [event["content_block"] for event in events if event["type"] == "content_block_start"]
    assert starts == [{"type": "thinking", "thinking": ""}, {"type": "text", "text": ""}]
    deltas = [event["delta"] for event in events if event["type"] == "content_block_delta"]
    assert deltas[:3] == [
        {"type": "thinking_delta", "thinking": "The user"},
        {"type": "thinking_delta", "thinking": " wants a greeting."},
        {"type": "signature_delta", "signature": ""},
    ]
    assert stream_text(events) == "Hello!"
    assert events[-2]["usage"] == {
        "input_tokens": 8,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 32,
        "output_tokens": 12,
    }
    assert translator.usage == Usage(40, 12, 52, cached_tokens=32)


def test_openrouter_reasoning_field_is_read_too():
    out, _ = translate([chunk({"reasoning": "thinking"}), chunk({"content": "ok"}, "stop"), DONE])
    events = assert_messages_stream(out.decode())
    assert events[3]["delta"] == {"type": "thinking_delta", "thinking": "thinking"}


def call(index: int, arguments: str, *, name: str | None = None, call_id: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    tool: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        tool.update(id=call_id, type="function")
    return tool


def test_parallel_tool_calls_are_blocks_in_order_after_the_text():
    out, translator = translate(
        [
            chunk({"role": "assistant", "content": "Checking both."}),
            chunk({"tool_calls": [call(0, "", name="weather", call_id="call_a")]}),
            chunk({"tool_calls": [call(0, '{"city":')]}),
            chunk({"tool_calls": [call(0, '"Paris"}')]}),
            chunk({"tool_calls": [call(1, '{"city":"Rome"}', name="weather", call_id="call_b")]}),
            chunk({"tool_calls": [call(0, ' "late"')]}),  # an earlier call's block is closed: dropped, counted
            chunk({}, "tool_calls"),
            DONE,
        ]
    )
    events = assert_messages_stream(out.decode())
    starts = [(event["index"], event["content_block"]["type"]) for event in events if "content_block" in event]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert tool_inputs(events) == [("weather", '{"city":"Paris"}'), ("weather", '{"city":"Rome"}')]
    assert translator.late_arguments == 1
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_a_tool_call_waits_for_its_name():
    out, _ = translate(
        [
            chunk({"tool_calls": [{"index": 0, "id": "call_x", "function": {"arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "lookup", "arguments": ":1}"}}]}),
            chunk({}, "tool_calls"),
            DONE,
        ]
    )
    events = assert_messages_stream(out.decode())
    assert events[2]["content_block"]["id"] == "call_x"
    assert tool_inputs(events) == [("lookup", '{"a":1}')]


def test_tool_calls_without_index_or_id_continue_the_open_call():
    out, _ = translate(
        [
            chunk({"tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{"}}]}),
            chunk({"tool_calls": [{"function": {"arguments": "}"}}]}),
            chunk({}, "stop"),  # some servers say stop after tool calls: the client must still run them
            DONE,
        ]
    )
    events = assert_messages_stream(out.decode())
    assert tool_inputs(events) == [("f", "{}")]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), ("function_call", "tool_use")],
)
def test_finish_reasons(finish, stop_reason):
    out, _ = translate([chunk({"content": "x"}), chunk({}, finish), DONE])
    assert assert_messages_stream(out.decode())[-2]["delta"]["stop_reason"] == stop_reason


def test_a_matched_stop_sequence_is_named_when_the_server_says_it():
    matched = b'data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"END"}]}\n\n'
    out, _ = translate([chunk({"content": "x"}), matched, DONE])
    assert assert_messages_stream(out.decode())[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_upstream_error_event_ends_the_stream_with_anthropic_error():
    error = b'data: {"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit"}}\n\n'
    translator = ChatStreamToMessages("m")
    out = translator.feed(chunk({"content": "partial"}) + error)
    out += translator.feed(chunk({"content": "more"}) + DONE) + translator.finish()
    events = assert_messages_stream(out.decode())
    assert events[-1] == {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}}
    assert stream_text(events) == "partial"


def test_error_event_first_and_status_codes():
    out, _ = translate([b'event: error\ndata: {"message":"boom","code":503}\n\n'])
    assert assert_messages_stream(out.decode()) == [
        {"type": "error", "error": {"type": "overloaded_error", "message": "boom"}}
    ]


def test_cut_after_finish_reason_still_closes_the_message():
    raw = recorded("chat_stream_with_usage.sse")
    cut = raw[: raw.index(b'"choices":[],"usage"')]  # the usage chunk torn mid-way, no [DONE]
    out, translator = translate([cut])
    events = assert_messages_stream(out.decode())
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and events[-2]["usage"] == {"output_tokens": 0}
    assert translator.usage is None


def test_cut_before_finish_reason_ends_with_an_error_event():
    raw = recorded("chat_stream_with_usage.sse")
    out, _ = translate([raw[: len(raw) // 2]])
    events = assert_messages_stream(out.decode())
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    assert not any(event["type"] == "message_stop" for event in events)


def test_last_event_without_blank_line_is_read_at_finish():
    raw = recorded("chat_stream_with_usage.sse").rstrip(b"\n")
    assert translate([raw])[0] == translate([recorded("chat_stream_with_usage.sse")])[0]


def test_done_without_finish_reason_ends_the_turn():
    events = assert_messages_stream(translate([chunk({"content": "hi"}), DONE])[0].decode())
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_empty_upstream_stream_is_an_error_and_done_alone_an_empty_message():
    assert assert_messages_stream(translate([])[0].decode())[-1]["type"] == "error"
    events = assert_messages_stream(translate([DONE])[0].decode())
    assert [event["type"] for event in events] == ["message_start", "ping", "message_delta", "message_stop"]


def test_comments_keepalives_and_garbage_are_skipped():
    pieces = [
        b": keep-alive\n\n",
        b"data: not json\n\n",
        b"data: [1, 2]\n\n",
        b"data: null\n\n",
        b'data: {"choices": 5}\n\n',
        b'data: {"choices": [null, 3, {"index": 0, "delta": null}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": [1]}, {"index": 0, "delta": "x", "finish_reason": 4}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": 7, "tool_calls": "x"}}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"tool_calls": [null, {"index": true}]}}]}\n\n',
        b'data: {"choices": [{"index": 1, "delta": {"content": "other choice"}}]}\n\n',
        chunk({"content": "fine"}, "stop"),
        DONE,
    ]
    out, translator = translate(pieces)
    assert stream_text(assert_messages_stream(out.decode())) == "fine"
    assert translator.malformed == 3


def test_impossible_reported_usage_is_refused_when_read():
    out, translator = translate([chunk({"content": "x"}, "stop"), chunk(usage={"prompt_tokens": -5}), DONE])
    assert assert_messages_stream(out.decode())[-2]["usage"]["input_tokens"] == 0
    with pytest.raises(ImpossibleUsage):
        _ = translator.usage


def test_nothing_goes_out_after_the_end():
    translator = ChatStreamToMessages("m")
    translator.feed(chunk({"content": "x"}, "stop") + DONE)
    assert translator.feed(chunk({"content": "again"})) == b"" and translator.finish() == b""


tool_call_deltas = st.fixed_dictionaries(
    {},
    optional={
        "index": st.integers(-1, 3) | json_values,
        "id": st.text(max_size=4) | json_values,
        "function": st.fixed_dictionaries(
            {}, optional={"name": st.text(max_size=4) | json_values, "arguments": st.text(max_size=6) | json_values}
        ),
    },
)
delta_keys = st.sampled_from(["content", "reasoning_content", "tool_calls", "refusal", "role", "function_call"])
hostile_deltas = st.dictionaries(delta_keys, json_values | st.lists(tool_call_deltas, max_size=3), max_size=4)
hostile_choices = st.lists(
    json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "index": st.just(0) | json_values,
            "delta": hostile_deltas | json_values,
            "finish_reason": json_values,
        },
    ),
    max_size=3,
)
hostile_events = st.one_of(
    hostile_choices.map(lambda choices: b"data: " + orjson.dumps({"id": "x", "choices": choices}) + b"\n\n"),
    st.binary(max_size=40).map(lambda raw: b"data: " + raw + b"\n\n"),
    st.binary(max_size=40),
    json_values.map(lambda value: b"data: " + orjson.dumps(value) + b"\n\n"),
    hostile_deltas.map(lambda delta: chunk(delta)),
    st.sampled_from(["stop", "length", "tool_calls", "weird", None]).map(lambda reason: chunk({}, reason)),
    json_values.map(lambda usage: chunk(usage=usage)),
    json_values.map(lambda error: b"data: " + orjson.dumps({"error": error}) + b"\n\n"),
    st.just(DONE),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(hostile_events, max_size=12), cuts=st.lists(st.integers(min_value=1, max_value=400)))
def test_hostile_upstream_streams_never_raise_and_keep_the_grammar(events, cuts):
    raw = b"".join(events)
    out, _ = translate(split_at(raw, [cut for cut in cuts if cut < len(raw)]))
    assert_messages_stream(out.decode(), tool_json=False)
