"""An OpenAI chat completions stream as the Responses API's stream of typed events.

OpenAI's chunk events come in (cut anywhere, with CRLF or LF); Responses events go out, each
`event: <type>` and `data: <json>` with a `sequence_number` counting from 0:

    response.created  response.in_progress
    ( output_item.added  [per content part: content_part.added  <part>.delta*  <part>.done
                          content_part.done]*  output_item.done )*
    response.completed | response.incomplete | response.failed

Output items never interleave: a message item holds output_text (and refusal) parts; a function_call item
streams its arguments as `function_call_arguments.delta` as they arrive, then `function_call_arguments.done`;
the model's reasoning (`reasoning_content`, or `reasoning`) is a reasoning item whose `reasoning_text`
content part streams as `reasoning_text.delta` (it is the model's raw reasoning, not a summary, so it is not
sent as `reasoning_summary_text`). A tool call's block opens once its name is known; argument fragments for
a call whose item is already done cannot be put back into it: they are dropped and counted
(`late_arguments`). OpenAI's own servers never do that.

The end: `[DONE]` completes the response; finish_reason "length" (or "content_filter") makes it
`response.incomplete`, its open item `incomplete`. An upstream error event ends the stream with
`response.failed` (the Response with status `failed` and its `error`), and nothing after: a failed response
is what the Responses API sends when generation fails after it began (its separate `error` event is for
errors about the request, which the gateway answers before the stream). The item open at that moment is not
closed: a client may act on a done function call, and a cut one must not run; the failed Response's output
lists the items done before. A stream that ends (`finish()`) without [DONE] ends the same way when its
finish_reason had not come (the answer is cut short), and is completed as usual when it had (the cut fell in
the usage chunk at most).

Hostile upstream bytes never raise: an event that is not JSON, or not an object, is skipped and counted
(`malformed`); fields of the wrong type read as absent. `response` is the final Response once the stream has
ended (what the pipeline stores), `usage` the upstream's usage, checked.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from apps.gateway.dialects.anthropic_response import reasoning_text
from apps.gateway.dialects.responses_errors import response_error
from apps.gateway.dialects.responses_response import (
    Item,
    call_id,
    function_call_item,
    item_id,
    message_item,
    refusal_part,
    response_object,
    response_status,
    response_usage,
    text_part,
)
from apps.gateway.usage import Usage, usage_from_mapping

MAX_EVENT_BYTES = 16 * 1024 * 1024  # an upstream "event" longer than this is not one: it is dropped
STREAM_CUT = "The model provider's stream ended before the response was complete."
ITEM_PREFIXES = {"message": "msg", "reasoning": "rs", "function_call": "fc"}
DELTA_EVENTS = {
    "output_text": "response.output_text.delta",
    "refusal": "response.refusal.delta",
    "reasoning_text": "response.reasoning_text.delta",
}
DONE_EVENTS = {
    "output_text": ("response.output_text.done", "text"),
    "refusal": ("response.refusal.done", "refusal"),
    "reasoning_text": ("response.reasoning_text.done", "text"),
}

ToolKey = tuple[str, Any]  # ("index", n) or ("id", call id): which upstream tool call a delta continues


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "output_text":
        return text_part(text)
    if kind == "refusal":
        return refusal_part(text)
    return {"type": "reasoning_text", "text": text}


@dataclass
class _OpenItem:
    kind: str  # message, reasoning or function_call
    index: int  # its output_index
    id: str
    parts: list[dict[str, Any]] = field(default_factory=list)  # its content parts done
    part_kind: str | None = None  # the open part's type
    pieces: list[str] = field(default_factory=list)  # the open part's text (or the call's arguments) so far
    tool: ToolKey | None = None
    call_id: str = ""
    name: str = ""


class ChatStreamToResponses:
    """OpenAI SSE bytes in (any chunk boundaries), Responses SSE bytes out."""

    def __init__(self, model: str, response_id: str, request: dict[str, Any], created_at: int) -> None:
        self.model = model  # the name the client asked for
        self.response_id, self.request, self.created_at = response_id, request, created_at
        self.pending = b""
        self.sequence = 0
        self.started = False  # response.created sent
        self.ended = False  # response.completed, incomplete or failed sent: nothing more goes out
        self.items: list[Item] = []  # the output items done
        self.open: _OpenItem | None = None
        self.tools: set[ToolKey] = set()  # every tool call that had its item
        self.unnamed: dict[ToolKey, tuple[Any, str]] = {}  # tool calls waiting for their name: (id, arguments)
        self.finish_reason: str | None = None
        self.reported_usage: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.malformed = 0  # upstream events skipped as unreadable
        self.late_arguments = 0  # argument fragments for a function call item already done

    @property
    def usage(self) -> Usage | None:
        """The usage the upstream reported (None: none), checked: ImpossibleUsage if it cannot be true."""
        return usage_from_mapping(self.reported_usage)

    @property
    def response(self) -> dict[str, Any] | None:
        """The final Response (completed, incomplete or failed) once the stream has ended; None before."""
        return self.final

    def feed(self, data: bytes) -> bytes:
        if self.ended:
            return b""
        out = [self._start()]
        for raw in self._events(data):
            if self.ended:
                break
            out.append(self._event(raw))
        return b"".join(out)

    def finish(self) -> bytes:
        if self.ended:
            return b""
        rest, self.pending = self.pending, b""
        out = self._start() + self._event(rest)
        if self.ended:
            return out
        if self.finish_reason is not None:
            return out + self._end()
        return out + self._fail({"message": STREAM_CUT})

    def fail(self, error: Mapping[str, Any]) -> bytes:
        """End the stream with `response.failed` for an OpenAI error object (a gateway refusal mid-stream,
        such as a quota cut); nothing when it has ended already."""
        return b"" if self.ended else self._start() + self._fail(error)

    def _events(self, data: bytes) -> list[bytes]:
        events = (self.pending + data).replace(b"\r\n", b"\n").split(b"\n\n")
        self.pending = events.pop()
        if len(self.pending) > MAX_EVENT_BYTES:
            self.pending, self.malformed = b"", self.malformed + 1
        return events

    def _emit(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"

    def _response(self, status: str, **state: Any) -> dict[str, Any]:
        return response_object(
            self.request,
            model=self.model,
            response_id=self.response_id,
            created_at=self.created_at,
            status=status,
            output=list(self.items),
            usage=state.pop("usage", None),
            **state,
        )

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        begun = self._response("in_progress")
        return self._emit("response.created", response=begun) + self._emit("response.in_progress", response=begun)

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
            return self._fail(parsed.get("error", parsed))
        return self._chunk(parsed)

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        if isinstance(chunk.get("usage"), dict):
            self.reported_usage = chunk["usage"]
        out = []
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:  # the gateway asks for one choice
                delta = choice.get("delta")
                out.append(self._delta(delta) if isinstance(delta, dict) else b"")
                reason = choice.get("finish_reason")
                if isinstance(reason, str) and reason:
                    self.finish_reason = reason
        return b"".join(out)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        out = []
        reasoning = reasoning_text(delta)
        if reasoning:
            out.append(self._text("reasoning", "reasoning_text", reasoning))
        for name, part_kind in (("content", "output_text"), ("refusal", "refusal")):
            if isinstance(delta.get(name), str) and delta[name]:
                out.append(self._text("message", part_kind, delta[name]))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                out.append(self._tool_delta(call))
        if isinstance(delta.get("function_call"), dict):  # the legacy single call
            out.append(self._tool_delta({"index": 0, "function": delta["function_call"]}))
        return b"".join(out)

    def _text(self, item_kind: str, part_kind: str, text: str) -> bytes:
        out = self._into_item(item_kind)
        item = self.open
        assert item is not None  # noqa: S101 - just opened
        if item.part_kind != part_kind:
            out += self._close_part(item)
            item.part_kind = part_kind
            out += self._emit("response.content_part.added", **_where(item), part=_part(part_kind, ""))
        item.pieces.append(text)
        extra: dict[str, Any] = {"logprobs": []} if part_kind == "output_text" else {}
        return out + self._emit(DELTA_EVENTS[part_kind], **_where(item), delta=text, **extra)

    def _into_item(self, kind: str) -> bytes:
        """Open a `kind` (message or reasoning) item unless it is the open one."""
        if self.open is not None and self.open.kind == kind:
            return b""
        out = self._close("completed")
        index = len(self.items)
        self.open = _OpenItem(kind, index, item_id(ITEM_PREFIXES[kind], self.response_id, index))
        return out + self._emit("response.output_item.added", output_index=index, item=self._item("in_progress"))

    def _item(self, status: str) -> Item:
        item = self.open
        assert item is not None  # noqa: S101 - only called for the open item
        if item.kind == "function_call":
            return function_call_item(item.id, item.call_id, item.name, "".join(item.pieces), status)
        if item.kind == "message":
            return message_item(item.id, list(item.parts), status)
        return {"id": item.id, "type": "reasoning", "status": status, "summary": [], "content": list(item.parts)}

    def _close_part(self, item: _OpenItem) -> bytes:
        if item.part_kind is None:
            return b""
        kind, text = item.part_kind, "".join(item.pieces)
        done_event, field_name = DONE_EVENTS[kind]
        extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
        out = self._emit(done_event, **_where(item), **{field_name: text}, **extra)
        out += self._emit("response.content_part.done", **_where(item), part=_part(kind, text))
        item.parts.append(_part(kind, text))
        item.part_kind, item.pieces = None, []
        return out

    def _close(self, status: str) -> bytes:
        item = self.open
        if item is None:
            return b""
        out = self._close_part(item)
        if item.kind == "function_call":
            arguments = "".join(item.pieces)
            where = {"item_id": item.id, "output_index": item.index}
            out += self._emit("response.function_call_arguments.done", **where, arguments=arguments, name=item.name)
        done = self._item(status)
        out += self._emit("response.output_item.done", output_index=item.index, item=done)
        self.items.append(done)
        self.open = None
        return out

    def _tool_delta(self, call: dict[str, Any]) -> bytes:
        key = self._tool_key(call)
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        fragment = function.get("arguments")
        fragment = fragment if isinstance(fragment, str) else ""
        if self.open is not None and self.open.kind == "function_call" and key == self.open.tool:
            return self._arguments(self.open, fragment)
        if key in self.tools:
            self.late_arguments += 1 if fragment else 0
            return b""
        upstream_id, waiting = self.unnamed.pop(key, (None, ""))
        upstream_id = call.get("id") or upstream_id
        name = function.get("name")
        if not isinstance(name, str) or not name:  # no item without its name: wait for it
            self.unnamed[key] = (upstream_id, waiting + fragment)
            return b""
        self.tools.add(key)
        out = self._close("completed")
        index = len(self.items)
        self.open = _OpenItem("function_call", index, item_id("fc", self.response_id, index), tool=key, name=name)
        self.open.call_id = call_id(upstream_id)
        out += self._emit("response.output_item.added", output_index=index, item=self._item("in_progress"))
        return out + self._arguments(self.open, waiting + fragment)

    def _arguments(self, item: _OpenItem, fragment: str) -> bytes:
        if not fragment:
            return b""
        item.pieces.append(fragment)
        where = {"item_id": item.id, "output_index": item.index}
        return self._emit("response.function_call_arguments.delta", **where, delta=fragment)

    def _tool_key(self, call: dict[str, Any]) -> ToolKey:
        index = call.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return ("index", index)
        upstream_id = call.get("id")
        if isinstance(upstream_id, str) and upstream_id:
            return ("id", upstream_id)
        open_tool = self.open.tool if self.open is not None else None
        return open_tool or ("index", 0)  # neither: it continues the open call

    def _end(self) -> bytes:
        out = self._start()
        status, incomplete_details = response_status(self.finish_reason)
        out += self._close(status)
        self.ended = True
        usage = response_usage(self.reported_usage)
        self.final = self._response(status, usage=usage, incomplete_details=incomplete_details)
        return out + self._emit(f"response.{status}", response=self.final)

    def _fail(self, error: Any) -> bytes:
        """The open item stays open (see the module's doc); the failed Response lists the items done."""
        self.ended = True
        usage = response_usage(self.reported_usage)
        self.final = self._response("failed", usage=usage, error=response_error(error))
        return self._emit("response.failed", response=self.final)


def _where(item: _OpenItem) -> dict[str, Any]:
    """Where a content part's event belongs: its item, the item's output_index, the part's content_index."""
    return {"item_id": item.id, "output_index": item.index, "content_index": len(item.parts)}


def _fields(raw: bytes) -> tuple[bytes | None, bytes | None]:
    """The `event:` name and the joined `data:` lines of one SSE event (None: it has none)."""
    name, data = None, []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    return name, (b"\n".join(data) if data else None)
