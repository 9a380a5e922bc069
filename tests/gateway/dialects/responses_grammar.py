"""A checker of the Responses API's stream grammar, for any stream the gateway writes in that dialect.

    response.created  response.in_progress?
    ( output_item.added
        ( content_part.added  (output_text|refusal|reasoning_text).delta*  <same>.done  content_part.done
        | reasoning_summary_part.added  reasoning_summary_text.delta*  reasoning_summary_text.done
          reasoning_summary_part.done
        | function_call_arguments.delta*  function_call_arguments.done )*
      output_item.done )*
    response.completed | response.incomplete
  | … response.failed | error   (at any point after response.created, and the last)

Each event is `event: <type>` and `data: <json whose type is the same>`, with `sequence_number` 0, 1, 2, …;
items never interleave and their output_index runs 0, 1, …; every event of an item names its item_id and
output_index, every event of a part its content_index (0, 1, … within the item); a part's deltas join into
its .done text and its content_part.done part; a function call's deltas join into its arguments (a JSON
object, unless `tool_json=False`), in function_call_arguments.done and output_item.done; output_item.done
carries the item added, with its content done; the last Response lists the items done, in order.
"""

from typing import Any

import orjson

PART_TYPES = {"message": ("output_text", "refusal"), "reasoning": ("reasoning_text",)}
PART_TEXT = {"output_text": "text", "refusal": "refusal", "reasoning_text": "text"}
ENDS = {"response.completed": "completed", "response.incomplete": "incomplete"}


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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise GrammarError(message)


def _object(value: Any, what: str) -> dict[str, Any]:
    _require(isinstance(value, dict), f"{what} is not an object: {value!r}")
    checked: dict[str, Any] = value
    return checked


class _Checker:
    def __init__(self, *, tool_json: bool) -> None:
        self.tool_json = tool_json
        self.sequence = 0
        self.response_id: str | None = None
        self.in_progress = False
        self.items: list[dict[str, Any]] = []  # the items done
        self.item: dict[str, Any] | None = None  # the open item, as added
        self.parts: list[dict[str, Any]] = []  # the open item's parts done
        self.part: dict[str, Any] | None = None  # the open part, as added
        self.summaries = 0  # the open item's summary parts done
        self.summary: str | None = None  # the open summary part's text so far
        self.text: list[str] = []  # the open part's (or call's) deltas
        self.text_done: str | None = None  # the open part's .done text, or the call's .done arguments
        self.ended = False

    def check(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        _require(not self.ended, f"{kind} after the stream's end")
        _require(
            event.get("sequence_number") == self.sequence,
            f"{kind}: sequence_number {event.get('sequence_number')}, expected {self.sequence}",
        )
        self.sequence += 1
        if kind == "response.created":
            return self._created(event)
        _require(self.response_id is not None, f"{kind} before response.created")
        _require(kind in HANDLERS, f"unknown event type {kind!r}")
        getattr(self, HANDLERS[kind])(event)

    def _response(self, event: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        response = _object(event.get("response"), f"the Response of {event['type']}")
        _require(response.get("object") == "response", f"no Response in {event!r}")
        _require(self.response_id is None or response.get("id") == self.response_id, "the Response's id changed")
        _require(
            status is None or response.get("status") == status,
            f"status {response.get('status')!r}, expected {status!r}",
        )
        return response

    def _created(self, event: dict[str, Any]) -> None:
        _require(self.response_id is None, "a second response.created")
        response = self._response(event)
        _require(response.get("status") in ("in_progress", "queued"), f"created with status {response.get('status')!r}")
        _require(response.get("output") == [], "response.created with output")
        _require(isinstance(response.get("id"), str) and response["id"], "response.created without id")
        self.response_id = response["id"]

    def _in_progress(self, event: dict[str, Any]) -> None:
        _require(not self.in_progress and not self.items and self.item is None, "response.in_progress out of place")
        self._response(event, "in_progress")
        self.in_progress = True

    def _at_item(self, event: dict[str, Any], *, with_id: bool = True) -> dict[str, Any]:
        item = self.item
        _require(item is not None, f"{event['type']} with no open item")
        assert item is not None
        _require(
            event.get("output_index") == len(self.items),
            f"{event['type']}: output_index {event.get('output_index')}, open: {len(self.items)}",
        )
        _require(
            not with_id or event.get("item_id") == item.get("id"),
            f"{event['type']}: item_id {event.get('item_id')!r}, open: {item.get('id')!r}",
        )
        return item

    def _output_item_added(self, event: dict[str, Any]) -> None:
        _require(self.item is None, "an item added while another is open")
        _require(
            event.get("output_index") == len(self.items),
            f"output_index {event.get('output_index')} after {len(self.items)} items",
        )
        item = _object(event.get("item"), "the item added")
        _require(isinstance(item.get("id"), str) and bool(item["id"]), f"an item without id: {item!r}")
        _require(item.get("status") == "in_progress", f"an item added with status {item.get('status')!r}")
        if item.get("type") == "message":
            _require(
                item.get("content") == [] and item.get("role") == "assistant", f"a message added with content: {item!r}"
            )
        elif item.get("type") == "function_call":
            _require(
                item.get("arguments") == "" and isinstance(item.get("name"), str) and bool(item["name"]),
                f"a call added without name, or with arguments: {item!r}",
            )
            _require(
                isinstance(item.get("call_id"), str) and bool(item["call_id"]), f"a call without call_id: {item!r}"
            )
        else:
            _require(item.get("type") == "reasoning", f"unknown item type {item.get('type')!r}")
        self.item, self.parts, self.part, self.summaries, self.text, self.text_done = item, [], None, 0, [], None

    def _content_part_added(self, event: dict[str, Any]) -> None:
        item = self._at_item(event)
        _require(self.part is None and self.summary is None, "a part added while another is open")
        _require(
            event.get("content_index") == len(self.parts),
            f"content_index {event.get('content_index')} after {len(self.parts)} parts",
        )
        part = _object(event.get("part"), "the part added")
        _require(
            part.get("type") in PART_TYPES.get(item["type"], ()),
            f"part {part!r} in a {item['type']}",
        )
        _require(part.get(PART_TEXT[part["type"]]) == "", f"a part added with content: {part!r}")
        self.part, self.text, self.text_done = part, [], None

    def _at_part(self, event: dict[str, Any], part_type: str) -> None:
        self._at_item(event)
        _require(self.part is not None and self.part["type"] == part_type, f"{event['type']} in part {self.part!r}")
        _require(
            event.get("content_index") == len(self.parts),
            f"{event['type']}: content_index {event.get('content_index')}",
        )

    def _part_delta(self, event: dict[str, Any], part_type: str) -> None:
        self._at_part(event, part_type)
        _require(self.text_done is None, f"{event['type']} after the part's .done")
        _require(isinstance(event.get("delta"), str), f"{event['type']} without a delta string")
        self.text.append(event["delta"])

    def _part_done(self, event: dict[str, Any], part_type: str) -> None:
        self._at_part(event, part_type)
        field = PART_TEXT[part_type]
        _require(self.text_done is None, f"a second {event['type']}")
        _require(
            event.get(field) == "".join(self.text), f"{event['type']}: {event.get(field)!r} is not its deltas joined"
        )
        self.text_done = event[field]

    def _output_text_delta(self, event: dict[str, Any]) -> None:
        self._part_delta(event, "output_text")

    def _output_text_done(self, event: dict[str, Any]) -> None:
        self._part_done(event, "output_text")

    def _refusal_delta(self, event: dict[str, Any]) -> None:
        self._part_delta(event, "refusal")

    def _refusal_done(self, event: dict[str, Any]) -> None:
        self._part_done(event, "refusal")

    def _reasoning_text_delta(self, event: dict[str, Any]) -> None:
        self._part_delta(event, "reasoning_text")

    def _reasoning_text_done(self, event: dict[str, Any]) -> None:
        self._part_done(event, "reasoning_text")

    def _content_part_done(self, event: dict[str, Any]) -> None:
        part = self.part
        _require(part is not None, "content_part.done with no open part")
        assert part is not None
        self._at_part(event, part["type"])
        _require(self.text_done is not None, "content_part.done before its .done event")
        done = _object(event.get("part"), "the part done")
        _require(
            done.get("type") == part["type"] and done.get(PART_TEXT[part["type"]]) == self.text_done,
            f"content_part.done carries {done!r}",
        )
        self.parts.append(done)
        self.part = None

    def _reasoning_summary_part_added(self, event: dict[str, Any]) -> None:
        item = self._at_item(event)
        _require(
            item["type"] == "reasoning" and self.part is None and self.summary is None, "a summary part out of place"
        )
        _require(event.get("summary_index") == self.summaries, f"summary_index {event.get('summary_index')}")
        self.summary, self.text = "", []

    def _reasoning_summary_text_delta(self, event: dict[str, Any]) -> None:
        self._at_item(event)
        _require(
            self.summary == "" and event.get("summary_index") == self.summaries and isinstance(event.get("delta"), str),
            f"a summary delta out of place: {event!r}",
        )
        self.text.append(event["delta"])

    def _reasoning_summary_text_done(self, event: dict[str, Any]) -> None:
        self._at_item(event)
        _require(self.summary == "" and event.get("text") == "".join(self.text), f"summary text done: {event!r}")
        self.summary = event["text"]

    def _reasoning_summary_part_done(self, event: dict[str, Any]) -> None:
        self._at_item(event)
        part = _object(event.get("part"), "the summary part done")
        _require(bool(self.summary) and part.get("text") == self.summary, f"summary part done: {event!r}")
        self.summary, self.summaries = None, self.summaries + 1

    def _function_call_arguments_delta(self, event: dict[str, Any]) -> None:
        item = self._at_item(event)
        _require(item["type"] == "function_call" and self.text_done is None, f"arguments delta in {item!r}")
        _require(isinstance(event.get("delta"), str), "an arguments delta without a delta string")
        self.text.append(event["delta"])

    def _function_call_arguments_done(self, event: dict[str, Any]) -> None:
        item = self._at_item(event)
        _require(item["type"] == "function_call" and self.text_done is None, f"arguments done in {item!r}")
        arguments = "".join(self.text)
        _require(
            event.get("arguments") == arguments,
            f"arguments {event.get('arguments')!r} are not the deltas joined {arguments!r}",
        )
        if self.tool_json:
            _require(isinstance(_json(arguments), dict), f"arguments {arguments!r} are not a JSON object")
        self.text_done = arguments

    def _output_item_done(self, event: dict[str, Any]) -> None:
        item = self._at_item(event, with_id=False)
        done = _object(event.get("item"), "the item done")
        _require(
            done.get("id") == item["id"] and done.get("type") == item["type"],
            f"output_item.done carries {done!r}, added {item!r}",
        )
        _require(self.part is None and self.summary is None, "an item done with a part open")
        _require(done.get("status") in ("completed", "incomplete"), f"an item done with status {done.get('status')!r}")
        if item["type"] == "function_call":
            _require(self.text_done is not None, "a call done before function_call_arguments.done")
            _require(
                done.get("arguments") == self.text_done
                and done.get("call_id") == item["call_id"]
                and done.get("name") == item["name"],
                f"the call done differs: {done!r}",
            )
        else:
            _require(
                done.get("content", []) == self.parts,
                f"the item's content {done.get('content')!r} is not its parts {self.parts!r}",
            )
        self.items.append(done)
        self.item = None

    def _end(self, event: dict[str, Any], status: str) -> None:
        _require(self.item is None, f"{event['type']} with an item open")
        response = self._response(event, status)
        _require(response.get("output") == self.items, "the last Response's output is not the items done")
        usage = response.get("usage")
        _require(
            usage is None or (isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int)),
            f"usage {usage!r}",
        )
        self.ended = True

    def _completed(self, event: dict[str, Any]) -> None:
        self._end(event, "completed")

    def _incomplete(self, event: dict[str, Any]) -> None:
        self._end(event, "incomplete")
        details = event["response"].get("incomplete_details")
        _require(
            isinstance(details, dict) and isinstance(details.get("reason"), str),
            f"incomplete without reason: {details!r}",
        )

    def _failed(self, event: dict[str, Any]) -> None:
        response = self._response(event, "failed")
        error = response.get("error")
        _require(
            isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str),
            f"failed without error code and message: {error!r}",
        )
        _require(response.get("output") == self.items, "the failed Response's output is not the items done")
        self.ended = True

    def _error(self, event: dict[str, Any]) -> None:
        _require(isinstance(event.get("message"), str), f"an error event without message: {event!r}")
        self.ended = True


HANDLERS = {
    kind: "_" + kind.removeprefix("response.").replace(".", "_")
    for kind in (
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.refusal.delta",
        "response.refusal.done",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    )
}


def assert_responses_stream(sse_text: str, *, tool_json: bool = True) -> list[dict[str, Any]]:
    """The stream's events, after checking the whole grammar (AssertionError naming the first break).
    `tool_json=False` leaves out the check that arguments join into a JSON object (for upstreams sending
    garbage)."""
    events = parse_events(sse_text)
    checker = _Checker(tool_json=tool_json)
    for event in events:
        checker.check(event)
    _require(checker.ended, "the stream ends without response.completed, response.incomplete, response.failed or error")
    return events


def output_text(events: list[dict[str, Any]]) -> str:
    return "".join(event["delta"] for event in events if event["type"] == "response.output_text.delta")


def function_calls(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, joined argument deltas) of each function call item, in order."""
    calls: list[tuple[str, str]] = []
    for event in events:
        if event["type"] == "response.output_item.added" and event["item"]["type"] == "function_call":
            calls.append((event["item"]["name"], ""))
        elif event["type"] == "response.function_call_arguments.delta":
            name, joined = calls[-1]
            calls[-1] = (name, joined + event["delta"])
    return calls


def final_response(events: list[dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = events[-1]["response"]
    return response
