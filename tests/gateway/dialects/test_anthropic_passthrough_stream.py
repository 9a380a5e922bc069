"""An Anthropic upstream's stream passed through untouched to an Anthropic client: byte for byte when it is whole,
whatever its chunk boundaries; never half an event, nothing after its end, and an error event when it is cut."""

from hypothesis import given
from hypothesis import strategies as st

from apps.gateway.dialects.anthropic import ANTHROPIC_MESSAGES
from apps.gateway.dialects.base import ClientStream
from tests.gateway.dialects.anthropic_grammar import assert_messages_stream, parse_events
from tests.gateway.dialects.test_anthropic_stream import split_at
from tests.gateway.upstreams.wire import WIRE

RECORDED = [(WIRE / "anthropic" / f"messages_stream{kind}.sse").read_bytes() for kind in ("", "_tool_use")]


def passed(pieces: list[bytes]) -> tuple[bytes, ClientStream]:
    client = ANTHROPIC_MESSAGES.client_stream(passthrough=True, model="claude")
    return b"".join(client.feed(piece, b"") for piece in pieces) + client.finish(), client


@given(st.sampled_from(RECORDED), st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_a_whole_stream_passes_byte_for_byte_whatever_its_chunks(raw, cuts):
    out, client = passed(split_at(raw, [cut % len(raw) for cut in cuts]))
    assert out == raw and client.ended


@given(st.sampled_from(RECORDED), st.data())
def test_a_stream_cut_anywhere_is_whole_events_then_an_error_event(raw, data):
    end = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=end), max_size=6))
    out, _ = passed(split_at(raw[:end], cuts))  # short of message_stop's last byte, at least
    events = assert_messages_stream(out.decode())
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    assert raw.startswith(out.split(b"event: error\n")[0])  # what passed is the upstream's own bytes


def test_nothing_follows_the_streams_end():
    raw = RECORDED[0]
    out, client = passed([raw + b"event: ping\ndata: {}\n\n", b'event: error\ndata: {"type":"error"}\n\n'])
    assert out == raw and client.ended


def test_an_upstream_error_event_ends_the_stream_and_no_second_one_follows():
    error = (WIRE / "anthropic" / "stream_error_event.sse").read_bytes()
    head = RECORDED[0].split(b"event: content_block_stop")[0]
    out, _ = passed([head, error])
    events = parse_events(out.decode())
    assert [e["type"] for e in events].count("error") == 1 and events[-1]["error"]["type"] == "overloaded_error"
