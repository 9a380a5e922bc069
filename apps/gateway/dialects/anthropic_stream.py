"""The internal stream (OpenAI chat.completion.chunk events) as Anthropic's Messages stream, as it arrives.

Anthropic's grammar: `message_start`, then each content block as `content_block_start`, its deltas and
`content_block_stop` (never interleaved, indexes 0, 1, …), then `message_delta` (stop_reason, usage) and
`message_stop`; or an `error` event, after which nothing comes. OpenAI's usage chunk follows the
finish_reason chunk, so `message_delta` is written when the stream ends ([DONE], or `finish()`).

Blocks: reasoning (`reasoning_content`/`reasoning`) is a thinking block, closed by an empty signature_delta
(the signature is Anthropic's; other models have none); text is a text block; each tool call is a tool_use
block whose arguments go out as input_json_delta as they arrive. A new tool index closes the block before
it; a fragment that arrives later for a tool whose block is closed cannot be put back into it: it is dropped
and counted (`late_arguments`). OpenAI's own servers never do that.

Hostile upstream bytes never raise: an event that is not JSON, or not an object, is skipped and counted
(`malformed`); fields of the wrong type read as absent. The upstream's `{"error": …}` event becomes
Anthropic's error event, and ends the stream.

A stream that ends (`finish()`) without [DONE]: when its finish_reason came, the message is complete (the cut
fell in the usage chunk at most) and is closed as usual; otherwise the answer is cut short, and the stream
ends with an `api_error` error event, so that the client knows it broke instead of taking a partial answer
for a whole one.
"""

from typing import Any

import orjson

from apps.gateway.dialects.anthropic_errors import anthropic_error_event
from apps.gateway.dialects.anthropic_response import (
    matched_stop_sequence,
    message_id,
    message_usage,
    reasoning_text,
    stop_reason,
    tool_use_id,
)
from apps.gateway.usage import Usage, usage_from_mapping

MAX_EVENT_BYTES = 16 * 1024 * 1024  # an upstream "event" longer than this is not one: it is dropped
STREAM_CUT = "The model provider's stream ended before the message was complete."
UPSTREAM_ERROR = "The model provider's stream reported an error."
PING = b'event: ping\ndata: {"type":"ping"}\n\n'

ToolKey = tuple[str, Any]  # ("index", n) or ("id", call id): which upstream tool call a delta continues


def sse(event: dict[str, Any]) -> bytes:
    name: str = event["type"]
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ChatStreamToMessages:
    """OpenAI SSE bytes in (any chunk boundaries), Anthropic SSE bytes out: the StreamTranslator protocol."""

    def __init__(self, model: str) -> None:
        self.model = model  # the name the client asked for
        self.pending = b""
        self.started = False  # message_start sent
        self.ended = False  # message_stop or error sent: nothing more goes out
        self.next_index = 0
        self.open_kind: str | None = None  # the open block's type
        self.open_tool: ToolKey | None = None  # the tool call the open tool_use block holds
        self.tools: set[ToolKey] = set()  # every tool call that had its block
        self.unnamed: dict[ToolKey, tuple[Any, str]] = {}  # tool calls waiting for their name: (id, arguments)
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None
        self.reported_usage: dict[str, Any] | None = None
        self.malformed = 0  # upstream events skipped as unreadable
        self.late_arguments = 0  # argument fragments for a tool block already closed

    @property
    def usage(self) -> Usage | None:
        """The usage the upstream reported (None: none), checked: ImpossibleUsage if it cannot be true."""
        return usage_from_mapping(self.reported_usage)

    def feed(self, data: bytes) -> bytes:
        if self.ended:
            return b""
        out = []
        for raw in self._events(data):
            if self.ended:
                break
            out.append(self._event(raw))
        return b"".join(out)

    def finish(self) -> bytes:
        if self.ended:
            return b""
        rest, self.pending = self.pending, b""
        out = self._event(rest)
        if self.ended:
            return out
        if self.finish_reason is not None:
            return out + self._end()
        self.ended = True
        return out + anthropic_error_event({"message": STREAM_CUT}, status=502)

    def _events(self, data: bytes) -> list[bytes]:
        events = (self.pending + data).replace(b"\r\n", b"\n").split(b"\n\n")
        self.pending = events.pop()
        if len(self.pending) > MAX_EVENT_BYTES:
            self.pending, self.malformed = b"", self.malformed + 1
        return events

    def _event(self, raw: bytes) -> bytes:
        name, data = _fields(raw)
        if data is None:
            return b""  # a comment, a keep-alive, a blank
        if data.strip() == b"[DONE]":
            return self._end()
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            self.malformed += 1
            return b""
        if "choices" not in parsed and (parsed.get("error") is not None or name == b"error"):
            return self._error(parsed.get("error", parsed))
        return self._chunk(parsed)

    def _error(self, error: Any) -> bytes:
        self.ended = True
        if isinstance(error, str):
            error = {"message": error}
        return anthropic_error_event(error if isinstance(error, dict) else {"message": UPSTREAM_ERROR})

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        out = self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.reported_usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:  # the gateway asks for one choice
                out += self._choice(choice)
        return out

    def _start(self, chunk: dict[str, Any]) -> bytes:
        if self.started:
            return b""
        self.started = True
        usage = message_usage(chunk.get("usage"))
        usage["output_tokens"] = 0
        message: dict[str, Any] = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return sse({"type": "message_start", "message": message}) + PING

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta")
        out = self._delta(delta) if isinstance(delta, dict) else b""
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason
            self.stop_sequence = matched_stop_sequence(choice)
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        out = []
        thinking = reasoning_text(delta)
        if thinking:
            out.append(self._into("thinking") + self._block_delta({"type": "thinking_delta", "thinking": thinking}))
        text = next((delta[name] for name in ("content", "refusal") if isinstance(delta.get(name), str)), "")
        if text:
            out.append(self._into("text") + self._block_delta({"type": "text_delta", "text": text}))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                out.append(self._tool_delta(call))
        if isinstance(delta.get("function_call"), dict):  # the legacy single call
            out.append(self._tool_delta({"index": 0, "function": delta["function_call"]}))
        return b"".join(out)

    def _into(self, kind: str) -> bytes:
        """Open a `kind` (text or thinking) block unless it is the open one."""
        if self.open_kind == kind:
            return b""
        empty = {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": ""}
        return self._close() + self._open(empty)

    def _open(self, block: dict[str, Any]) -> bytes:
        self.open_kind = block["type"]
        event = {"type": "content_block_start", "index": self.next_index, "content_block": block}
        return sse(event)

    def _close(self) -> bytes:
        if self.open_kind is None:
            return b""
        out = b""
        if self.open_kind == "thinking":
            out = self._block_delta({"type": "signature_delta", "signature": ""})
        out += sse({"type": "content_block_stop", "index": self.next_index})
        self.open_kind, self.open_tool = None, None
        self.next_index += 1
        return out

    def _block_delta(self, delta: dict[str, Any]) -> bytes:
        return sse({"type": "content_block_delta", "index": self.next_index, "delta": delta})

    def _tool_delta(self, call: dict[str, Any]) -> bytes:
        key = self._tool_key(call)
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        fragment = function.get("arguments")
        fragment = fragment if isinstance(fragment, str) else ""
        if key == self.open_tool:
            return self._block_delta({"type": "input_json_delta", "partial_json": fragment}) if fragment else b""
        if key in self.tools:
            self.late_arguments += 1 if fragment else 0
            return b""
        call_id, waiting = self.unnamed.pop(key, (None, ""))
        call_id = call.get("id") or call_id
        name = function.get("name")
        if not isinstance(name, str) or not name:  # no block without its name: wait for it
            self.unnamed[key] = (call_id, waiting + fragment)
            return b""
        self.tools.add(key)
        block = {"type": "tool_use", "id": tool_use_id(call_id), "name": name, "input": {}}
        out = self._close() + self._open(block)
        self.open_tool = key
        arguments = waiting + fragment
        if arguments:
            out += self._block_delta({"type": "input_json_delta", "partial_json": arguments})
        return out

    def _tool_key(self, call: dict[str, Any]) -> ToolKey:
        index = call.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return ("index", index)
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id:
            return ("id", call_id)
        return self.open_tool or ("index", 0)  # neither: it continues the open call

    def _end(self) -> bytes:
        out = self._start({}) + self._close()
        self.ended = True
        reason = stop_reason(self.finish_reason, stop_sequence=self.stop_sequence, used_tools=bool(self.tools))
        usage = message_usage(self.reported_usage) if self.reported_usage is not None else {"output_tokens": 0}
        delta = {
            "stop_reason": reason,
            "stop_sequence": self.stop_sequence if reason == "stop_sequence" else None,
        }
        out += sse({"type": "message_delta", "delta": delta, "usage": usage})
        return out + sse({"type": "message_stop"})


def _fields(raw: bytes) -> tuple[bytes | None, bytes | None]:
    """The `event:` name and the joined `data:` lines of one SSE event (None: it has none)."""
    name, data = None, []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    return name, (b"\n".join(data) if data else None)
