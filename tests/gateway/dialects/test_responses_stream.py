"""OpenAI chunk streams become Responses streams: recorded streams cut anywhere, tool calls streamed as they
arrive, reasoning, refusals, incomplete and failed responses, cut streams, and hostile bytes."""

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.gateway.dialects.responses_stream import STREAM_CUT, ChatStreamToResponses
from apps.gateway.usage import ImpossibleUsage, Usage
from tests.gateway.dialects.hostile import json_values
from tests.gateway.dialects.responses_grammar import (
    assert_responses_stream,
    final_response,
    function_calls,
    output_text,
)
from tests.gateway.upstreams.wire import WIRE, sse_events

FIXTURES = ["chat_stream_with_usage.sse", "chat_stream_tool_calls.sse"]
DONE = b"data: [DONE]\n\n"
RESPONSE_ID = "resp_0123abcd"
CREATED_AT = 1_700_000_000
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
REQUEST = {"model": "codex-alias", "input": "what's the weather in NYC?", "tools": [WEATHER], "stream": True}


def recorded(name: str) -> bytes:
    return (WIRE / "openai" / name).read_bytes()


def translator(request: dict[str, Any] | None = None) -> ChatStreamToResponses:
    return ChatStreamToResponses("codex-alias", RESPONSE_ID, request or REQUEST, CREATED_AT)


def translate(pieces: list[bytes], request: dict[str, Any] | None = None) -> tuple[bytes, ChatStreamToResponses]:
    stream = translator(request)
    out = b"".join(stream.feed(piece) for piece in pieces) + stream.finish()
    return out, stream


def split_at(raw: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(bounds)]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return b"data: " + orjson.dumps({"id": "chatcmpl-1", "choices": choices, **extra}) + b"\n\n"


def events_of(pieces: list[bytes], **checks: Any) -> list[dict[str, Any]]:
    return assert_responses_stream(translate(pieces)[0].decode(), **checks)


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
def test_recorded_stream_whole_is_a_valid_responses_stream(name):
    raw = recorded(name)
    out, stream = translate([raw])
    events = assert_responses_stream(out.decode())
    response = final_response(events)
    assert events[-1]["type"] == "response.completed" and response == stream.response
    assert response["id"] == RESPONSE_ID and response["model"] == "codex-alias" and response["created_at"] == CREATED_AT
    assert output_text(events) == upstream_text(raw)
    assert "".join(arguments for _name, arguments in function_calls(events)) == upstream_arguments(raw)
    usage = sse_events(raw)[-1]["usage"]
    assert response["usage"] == {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage["total_tokens"],
    }
    assert stream.usage == Usage(usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    assert response["tools"] == [{**WEATHER, "description": None, "strict": True}]  # OpenAI's echo


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_stream_byte_by_byte_gives_the_same_events(name):
    raw = recorded(name)
    assert translate([raw[at : at + 1] for at in range(len(raw))])[0] == translate([raw])[0]


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_stream_with_crlf_gives_the_same_events(name):
    raw = recorded(name)
    crlf = raw.replace(b"\n", b"\r\n")
    assert translate(split_at(crlf, list(range(1, len(crlf), 7))))[0] == translate([raw])[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_recorded_streams_cut_anywhere_give_the_same_events(data):
    raw = recorded(data.draw(st.sampled_from(FIXTURES)))
    cuts = data.draw(st.lists(st.integers(min_value=1, max_value=len(raw) - 1), max_size=40))
    assert translate(split_at(raw, cuts))[0] == translate([raw])[0]


def test_function_call_arguments_go_out_as_they_arrive():
    """Each upstream event holding an argument fragment yields its function_call_arguments.delta at once."""
    stream = translator()
    fragments, whole = 0, b""
    for event in recorded("chat_stream_tool_calls.sse").split(b"\n\n"):
        out = stream.feed(event + b"\n\n")
        whole += out
        if b'"arguments":"' in event and b'"arguments":""' not in event:
            fragments += 1
            assert out.count(b"event: response.function_call_arguments.delta\n") == 1
    assert fragments == 7
    assert_responses_stream((whole + stream.finish()).decode())
    assert stream.response is not None
    [call] = stream.response["output"]
    assert call == {
        "id": "fc_0123abcd_0",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_4XzlGBLtUe9dy3GVNV4jhq7h",
        "name": "get_weather",
        "arguments": '{"city":"New York City"}',
    }


def test_reasoning_is_a_reasoning_item_before_the_message():
    events = events_of(
        [
            chunk({"role": "assistant", "content": "", "reasoning_content": None}),
            chunk({"reasoning_content": "The user"}),
            chunk({"reasoning_content": " wants a greeting."}),
            chunk({"content": "Hel", "reasoning_content": None}),
            chunk({"content": "lo!"}),
            chunk({}, "stop"),
            chunk(
                usage={
                    "prompt_tokens": 40,
                    "completion_tokens": 12,
                    "prompt_tokens_details": {"cached_tokens": 32},
                    "completion_tokens_details": {"reasoning_tokens": 7},
                }
            ),
            DONE,
        ]
    )
    reasoning, message = final_response(events)["output"]
    assert reasoning == {
        "id": "rs_0123abcd_0",
        "type": "reasoning",
        "status": "completed",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "The user wants a greeting."}],
    }
    assert message["id"] == "msg_0123abcd_1" and message["content"][0]["text"] == "Hello!"
    deltas = [event["delta"] for event in events if event["type"] == "response.reasoning_text.delta"]
    assert deltas == ["The user", " wants a greeting."]
    usage = final_response(events)["usage"]
    assert (
        usage["input_tokens_details"]["cached_tokens"] == 32 and usage["output_tokens_details"]["reasoning_tokens"] == 7
    )


def test_openrouter_reasoning_field_is_read_too():
    events = events_of([chunk({"reasoning": "thinking"}), chunk({"content": "ok"}, "stop"), DONE])
    assert [item["type"] for item in final_response(events)["output"]] == ["reasoning", "message"]


def test_a_refusal_is_a_refusal_part():
    events = events_of([chunk({"refusal": "I can't"}), chunk({"refusal": " help."}), chunk({}, "stop"), DONE])
    [message] = final_response(events)["output"]
    assert message["content"] == [{"type": "refusal", "refusal": "I can't help."}]
    assert [e["type"] for e in events if "refusal" in e["type"]] == [
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
    ]


def call(index: int, arguments: str, *, name: str | None = None, call_id: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    tool: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        tool.update(id=call_id, type="function")
    return tool


def test_text_then_parallel_calls_are_items_in_order():
    out, stream = translate(
        [
            chunk({"role": "assistant", "content": "Checking both."}),
            chunk({"tool_calls": [call(0, "", name="weather", call_id="call_a")]}),
            chunk({"tool_calls": [call(0, '{"city":')]}),
            chunk({"tool_calls": [call(0, '"Paris"}')]}),
            chunk({"tool_calls": [call(1, '{"city":"Rome"}', name="weather", call_id="call_b")]}),
            chunk({"tool_calls": [call(0, ' "late"')]}),  # an earlier call's item is done: dropped, counted
            chunk({}, "tool_calls"),
            DONE,
        ]
    )
    events = assert_responses_stream(out.decode())
    output = final_response(events)["output"]
    assert [(item["type"], item["id"]) for item in output] == [
        ("message", "msg_0123abcd_0"),
        ("function_call", "fc_0123abcd_1"),
        ("function_call", "fc_0123abcd_2"),
    ]
    assert [(item["call_id"], item["arguments"]) for item in output[1:]] == [
        ("call_a", '{"city":"Paris"}'),
        ("call_b", '{"city":"Rome"}'),
    ]
    assert stream.late_arguments == 1 and final_response(events)["status"] == "completed"


def test_a_call_waits_for_its_name_and_a_call_without_id_gets_one():
    events = events_of(
        [
            chunk({"tool_calls": [{"index": 0, "id": "call_x", "function": {"arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "lookup", "arguments": ":1}"}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"name": "other", "arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
            DONE,
        ]
    )
    first, second = final_response(events)["output"]
    assert (first["call_id"], first["arguments"]) == ("call_x", '{"a":1}')
    assert second["call_id"].startswith("call_") and len(second["call_id"]) > len("call_")


def test_the_legacy_function_call_delta_is_a_call():
    events = events_of([chunk({"function_call": {"name": "f", "arguments": "{}"}}), chunk({}, "function_call"), DONE])
    assert function_calls(events) == [("f", "{}")]


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_a_cut_answer_is_an_incomplete_response(finish, reason):
    events = events_of([chunk({"content": "partial"}), chunk({}, finish), DONE])
    response = final_response(events)
    assert events[-1]["type"] == "response.incomplete" and response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][0]["status"] == "incomplete"


def test_upstream_error_event_fails_the_response_and_ends_the_stream():
    error = b'data: {"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit"}}\n\n'
    stream = translator()
    out = stream.feed(chunk({"content": "partial"}) + error)
    out += stream.feed(chunk({"content": "more"}) + DONE) + stream.finish()
    events = assert_responses_stream(out.decode())
    assert events[-1]["type"] == "response.failed" and output_text(events) == "partial"
    response = final_response(events)
    assert response["error"] == {"code": "rate_limit_exceeded", "message": "Rate limit reached"}
    assert response["output"] == [] and stream.response == response  # the open message is not done


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        (b'event: error\ndata: {"message":"boom","code":503}\n\n', "server_error", "boom"),
        (b'data: {"error":"plain text"}\n\n', "server_error", "plain text"),
        (b'data: {"error":{"code":429}}\n\n', "rate_limit_exceeded", "The model provider's stream reported an error."),
    ],
)
def test_error_events_of_other_servers(payload, code, message):
    events = events_of([payload])
    assert [event["type"] for event in events] == ["response.created", "response.in_progress", "response.failed"]
    assert final_response(events)["error"] == {"code": code, "message": message}


def test_a_cut_after_the_finish_reason_still_completes():
    raw = recorded("chat_stream_with_usage.sse")
    out, stream = translate([raw[: raw.index(b'"choices":[],"usage"')]])  # the usage chunk torn, no [DONE]
    events = assert_responses_stream(out.decode())
    assert events[-1]["type"] == "response.completed" and final_response(events)["usage"] is None
    assert stream.usage is None


def test_a_cut_before_the_finish_reason_fails_and_leaves_the_call_unfinished():
    raw = recorded("chat_stream_tool_calls.sse")
    events = assert_responses_stream(translate([raw[: len(raw) // 2]])[0].decode(), tool_json=False)
    assert events[-1]["type"] == "response.failed"
    assert final_response(events)["error"] == {"code": "server_error", "message": STREAM_CUT}
    assert not any(event["type"] == "response.output_item.done" for event in events)
    assert final_response(events)["output"] == []


def test_empty_stream_fails_and_done_alone_completes_empty():
    assert [event["type"] for event in events_of([])][-1] == "response.failed"
    events = events_of([DONE])
    assert [event["type"] for event in events] == ["response.created", "response.in_progress", "response.completed"]
    assert final_response(events)["output"] == []


def test_fail_ends_the_stream_with_a_failed_response_once():
    stream = translator()
    out = stream.feed(chunk({"content": "so far"}))
    out += stream.fail({"message": "Budget exhausted", "type": "budget_exceeded", "code": "budget_exceeded"})
    events = assert_responses_stream(out.decode())
    assert final_response(events)["error"] == {"code": "server_error", "message": "Budget exhausted"}
    assert stream.fail({"message": "again"}) == b"" and stream.feed(DONE) == b"" and stream.finish() == b""


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
    out, stream = translate(pieces)
    assert output_text(assert_responses_stream(out.decode())) == "fine" and stream.malformed == 3


def test_impossible_usage_is_refused_when_read():
    out, stream = translate([chunk({"content": "x"}, "stop"), chunk(usage={"prompt_tokens": -5}), DONE])
    assert final_response(assert_responses_stream(out.decode()))["usage"]["input_tokens"] == 0
    with pytest.raises(ImpossibleUsage):
        _ = stream.usage


def test_the_request_is_echoed_with_openais_defaults():
    request = {
        "model": "codex-alias",
        "input": "x",
        "instructions": "be brief",
        "temperature": 0.2,
        "max_output_tokens": 500,
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_object"}},
        "store": False,
        "parallel_tool_calls": False,
        "metadata": {"ticket": "42"},
        "previous_response_id": "resp_before",
    }
    response = final_response(assert_responses_stream(translate([DONE], request)[0].decode()))
    assert {name: response[name] for name in request if name not in ("model", "input")} == {
        **{name: value for name, value in request.items() if name not in ("model", "input")},
        "reasoning": {"effort": "low", "summary": None},
        "text": {"format": {"type": "json_object"}, "verbosity": "medium"},
    }
    assert response["top_p"] == 1.0 and response["tool_choice"] == "auto" and response["truncation"] == "disabled"


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
delta_keys = st.sampled_from(
    ["content", "reasoning_content", "reasoning", "tool_calls", "refusal", "role", "function_call"]
)
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
    st.sampled_from(["stop", "length", "tool_calls", "content_filter", "weird", None]).map(lambda r: chunk({}, r)),
    json_values.map(lambda usage: chunk(usage=usage)),
    json_values.map(lambda error: b"data: " + orjson.dumps({"error": error}) + b"\n\n"),
    st.just(DONE),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(hostile_events, max_size=12), cuts=st.lists(st.integers(min_value=1, max_value=400)))
def test_hostile_upstream_streams_never_raise_and_keep_the_grammar(events, cuts):
    raw = b"".join(events)
    out, stream = translate(split_at(raw, [cut for cut in cuts if cut < len(raw)]))
    events_out = assert_responses_stream(out.decode(), tool_json=False)
    assert stream.response == final_response(events_out)
