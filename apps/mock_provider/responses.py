"""OpenAI's Responses API on the mock: POST /v1/responses (plain and streamed), and for stored responses
GET /v1/responses/{id}, DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from apps.mock_provider.behaviour import Behaviour, MockError
from apps.mock_provider.plan import ChatPlan
from apps.mock_provider.responses_output import ResponseAnswer
from apps.mock_provider.responses_request import ResponsesAsk, responses_ask
from apps.mock_provider.responses_store import ResponseStore, StoredResponse
from apps.mock_provider.wire import Send, send_events, send_json

RESPONSES_PATH = "/v1/responses"
STORED_PATH = re.compile(r"^/v1/responses/([^/]{1,200})(/input_items)?$")
STREAM_HEADERS = ((b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"))
MAX_LIST_LIMIT = 100


def is_stored_path(path: str) -> bool:
    return STORED_PATH.match(path) is not None


class ResponsesApi:
    def __init__(self, store: ResponseStore | None = None) -> None:
        self.store = store or ResponseStore()

    def ask(self, body: dict[str, Any], raw: bytes) -> ResponsesAsk:
        """The checked body, its previous response looked up (404 when the mock does not have it)."""
        previous_id = body.get("previous_response_id")
        previous = self.store.get(previous_id) if isinstance(previous_id, str) else None
        if isinstance(previous_id, str) and previous is None:
            raise MockError(
                404,
                f"Previous response with id '{previous_id[:100]}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return responses_ask(body, raw, previous)

    async def create(self, body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
        ask = self.ask(body, raw)
        plan = ChatPlan.from_prompt(ask.prompt, raw)
        answer = ResponseAnswer(body, plan)
        response = answer.response()
        encoded = orjson.dumps(response)
        if body.get("store", True):
            said = plan.text if plan.tool_call is None else plan.tool_arguments
            conversation = (*ask.conversation, said)
            self.store.put(StoredResponse(response, ask.items, conversation, size=len(raw) + len(encoded)))
        if not body.get("stream"):
            await send_json(send, 200, encoded)
            return
        frames = [_frame(event) for event in answer.events(behaviour.chunks, by_word=behaviour.word_per_chunk)]
        await send_events(send, frames, behaviour, headers=STREAM_HEADERS)

    async def stored_answer(self, method: str, path: str, query: bytes, send: Send) -> None:
        """GET or DELETE a stored response, or GET its input items (404 in OpenAI's shape when it is not)."""
        match = STORED_PATH.match(path)
        if match is None:
            raise MockError(404, f"Invalid URL ({method} {path})")
        response_id, items = match.group(1), match.group(2) is not None
        allowed = ("GET",) if items else ("GET", "DELETE")
        if method not in allowed:
            raise MockError(405, f"Method {method} is not allowed here (only {', '.join(allowed)}).")
        stored = self.store.get(response_id)
        if stored is None:
            await send_json(send, 404, _not_found(response_id))
            return
        if items:
            await send_json(send, 200, orjson.dumps(_item_list(stored.items, query)))
        elif method == "DELETE":
            self.store.delete(response_id)
            await send_json(send, 200, orjson.dumps({"id": response_id, "object": "response", "deleted": True}))
        else:
            await send_json(send, 200, orjson.dumps(stored.response))


def _frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"


def _not_found(response_id: str) -> bytes:
    message = f"Response with id '{response_id[:100]}' not found."
    return orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})


def _item_list(items: list[dict[str, Any]], query: bytes) -> dict[str, Any]:
    """A page of input items: `order` desc (the default) or asc, `limit` 1 to 100 (20), `after` an item id."""
    params = parse_qs(query.decode("latin-1"))
    order = params.get("order", ["desc"])[-1]
    if order not in {"asc", "desc"}:
        raise MockError(400, f"Invalid value: '{order[:20]}'. Supported values are: 'asc' and 'desc'.", param="order")
    raw_limit = params.get("limit", ["20"])[-1]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST_LIMIT:
        raise MockError(400, f"Invalid 'limit': expected an integer from 1 to {MAX_LIST_LIMIT}.", param="limit")
    ordered = items if order == "asc" else items[::-1]
    after = params.get("after", [None])[-1]
    ids = [item.get("id") for item in ordered]
    if after is not None and after in ids:
        ordered = ordered[ids.index(after) + 1 :]
    page = ordered[: int(raw_limit)]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(ordered) > len(page),
    }
