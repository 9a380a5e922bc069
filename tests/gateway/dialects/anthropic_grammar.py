"""A checker of Anthropic's Messages stream grammar, for any stream the gateway writes in that dialect.

    message_start  ping*  ( content_block_start  content_block_delta*  content_block_stop )*
    message_delta  message_stop
  | … error   (an error event may come at any point, and is the last)

Each event is `event: <type>` and `data: <json whose type is the same>`; `ping` may come anywhere after
message_start; blocks never interleave and their indexes run 0, 1, …; a delta's type belongs to its block's
(text_delta to text, thinking_delta/signature_delta to thinking, input_json_delta to tool_use); a thinking
block has its signature_delta before its stop; a tool_use block's input fragments join into a JSON object.
"""

from typing import Any

import orjson

DELTAS = {
    "text": ("text_delta", "citations_delta"),
    "thinking": ("thinking_delta", "signature_delta"),
    "tool_use": ("input_json_delta",),
    "server_tool_use": ("input_json_delta",),
    "redacted_thinking": (),
}


class GrammarError(AssertionError):
    pass


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise GrammarError(f"not JSON: {text[:200]!r}") from exc


def parse_events(sse_text: str) -> list[dict[str, Any]]:
    """The data objects of the stream's events, each checked against its `event:` name."""
    events = []
    for raw in sse_text.replace("\r\n", "\n").split("\n\n"):
        if not raw.strip():
            continue
        lines = raw.split("\n")
        names = [line[6:].strip() for line in lines if line.startswith("event:")]
        data = [line[5:].strip() for line in lines if line.startswith("data:")]
        if len(names) != 1 or len(data) != 1:
            raise GrammarError(f"an event needs one event: line and one data: line, got {raw!r}")
        parsed = _json(data[0])
        if not isinstance(parsed, dict) or parsed.get("type") != names[0]:
            raise GrammarError(f"event {names[0]!r} carries data of type {parsed!r}")
        events.append(parsed)
    return events


class _Checker:
    def __init__(self, *, tool_json: bool) -> None:
        self.tool_json = tool_json
        self.started = False
        self.block: dict[str, Any] | None = None
        self.index = -1  # the last block's index
        self.deltas: list[dict[str, Any]] = []
        self.message_delta = False
        self.stopped = False

    def check(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if self.stopped:
            raise GrammarError(f"{kind} after the stream's end")
        if kind == "error":
            if not isinstance(event.get("error"), dict) or not isinstance(event["error"].get("type"), str):
                raise GrammarError(f"an error event without error.type: {event!r}")
            self.stopped = True
            return
        if kind != "message_start" and not self.started:
            raise GrammarError(f"{kind} before message_start")
        getattr(self, f"_{kind}", self._unknown)(event)

    def _unknown(self, event: dict[str, Any]) -> None:
        raise GrammarError(f"unknown event type {event['type']!r}")

    def _ping(self, event: dict[str, Any]) -> None:
        pass

    def _message_start(self, event: dict[str, Any]) -> None:
        if self.started:
            raise GrammarError("a second message_start")
        message = event.get("message")
        if not isinstance(message, dict) or message.get("content") != [] or message.get("role") != "assistant":
            raise GrammarError(f"message_start must carry an assistant message with empty content: {event!r}")
        if not isinstance(message.get("id"), str) or not isinstance(message.get("usage"), dict):
            raise GrammarError(f"message_start without id or usage: {event!r}")
        self.started = True

    def _content_block_start(self, event: dict[str, Any]) -> None:
        if self.block is not None:
            raise GrammarError(f"block {event.get('index')} starts while block {self.index} is open")
        if self.message_delta:
            raise GrammarError("a block after message_delta")
        if event.get("index") != self.index + 1:
            raise GrammarError(f"block index {event.get('index')} after {self.index}")
        block = event.get("content_block")
        if not isinstance(block, dict) or block.get("type") not in DELTAS:
            raise GrammarError(f"unknown content block {block!r}")
        if block["type"] in ("tool_use", "server_tool_use") and (block.get("input") != {} or not block.get("name")):
            raise GrammarError(f"a tool_use block starts with a name and input {{}}: {block!r}")
        self.block, self.index, self.deltas = block, event["index"], []

    def _content_block_delta(self, event: dict[str, Any]) -> None:
        if self.block is None or event.get("index") != self.index:
            raise GrammarError(f"a delta for block {event.get('index')}, open: {self.index if self.block else None}")
        delta = event.get("delta")
        if not isinstance(delta, dict) or delta.get("type") not in DELTAS[self.block["type"]]:
            raise GrammarError(f"delta {delta!r} in a {self.block['type']} block")
        if self.deltas and self.deltas[-1]["type"] == "signature_delta":
            raise GrammarError("a delta after the thinking block's signature")
        self.deltas.append(delta)

    def _content_block_stop(self, event: dict[str, Any]) -> None:
        if self.block is None or event.get("index") != self.index:
            raise GrammarError(f"stop for block {event.get('index')}, open: {self.index if self.block else None}")
        if self.block["type"] == "thinking" and not any(d["type"] == "signature_delta" for d in self.deltas):
            raise GrammarError("a thinking block stops without its signature_delta")
        if self.block["type"] == "tool_use" and self.tool_json:
            joined = "".join(delta["partial_json"] for delta in self.deltas)
            if joined and not isinstance(_json(joined), dict):
                raise GrammarError(f"tool input {joined!r} is not a JSON object")
        self.block = None

    def _message_delta(self, event: dict[str, Any]) -> None:
        if self.block is not None or self.message_delta:
            raise GrammarError("message_delta while a block is open, or twice")
        delta, usage = event.get("delta"), event.get("usage")
        if not isinstance(delta, dict) or "stop_reason" not in delta:
            raise GrammarError(f"message_delta without delta.stop_reason: {event!r}")
        if not isinstance(usage, dict) or not isinstance(usage.get("output_tokens"), int):
            raise GrammarError(f"message_delta without usage.output_tokens: {event!r}")
        self.message_delta = True

    def _message_stop(self, event: dict[str, Any]) -> None:
        if not self.message_delta:
            raise GrammarError("message_stop before message_delta")
        self.stopped = True


def assert_messages_stream(sse_text: str, *, tool_json: bool = True) -> list[dict[str, Any]]:
    """The stream's events, after checking the whole grammar (AssertionError naming the first break).
    `tool_json=False` leaves out the check that tool inputs join into JSON (for upstreams sending garbage)."""
    events = parse_events(sse_text)
    checker = _Checker(tool_json=tool_json)
    for event in events:
        checker.check(event)
    if not checker.stopped:
        raise GrammarError("the stream ends without message_stop or an error event")
    return events


def stream_text(events: list[dict[str, Any]]) -> str:
    return "".join(
        e["delta"]["text"] for e in events if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )


def tool_inputs(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, joined input JSON) of each tool_use block, in order."""
    tools: list[tuple[str, str]] = []
    for event in events:
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            tools.append((event["content_block"]["name"], ""))
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            name, joined = tools[-1]
            tools[-1] = (name, joined + event["delta"]["partial_json"])
    return tools
