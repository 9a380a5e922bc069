"""The spend event stream, shared by the gateway that writes it and the consumer that reads it.

An entry carries a batch of events as JSON lines in its `events` field (an
event is one orjson line: orjson never writes a raw newline). An entry with an
`e` field carries one event (older writers, dead letters).
"""

from apps.core.redis import global_key

SPEND_STREAM = global_key("spend", "events")
SPEND_DEAD_LETTERS = global_key("spend", "dead")
SPEND_GROUP = "spend-writers"


def spend_stream_entry(events: list[bytes]) -> tuple[bytes, bytes]:
    """The field and value of an entry carrying `events`."""
    return b"events", b"\n".join(events)


def spend_stream_events(fields: dict[bytes, bytes]) -> list[bytes]:
    """The events of one stream entry, as JSON payloads."""
    if b"events" in fields:
        return fields[b"events"].split(b"\n")
    return [fields.get(b"e", b"")]
