"""Anthropic's Messages API (/v1/messages), answered from the same plan as a chat completion."""

from __future__ import annotations

from typing import Any

import orjson

from apps.mock_provider.behaviour import Behaviour
from apps.mock_provider.plan import ChatPlan, text_of
from apps.mock_provider.wire import Send, send_events, send_json

Event = dict[str, Any]


async def anthropic_messages(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    plan = _plan(body, raw)
    if not body.get("stream"):
        await send_json(send, 200, orjson.dumps(_message(plan)))
        return
    events = [_message_start(plan), *_block_events(plan, behaviour.chunks), *_closing_events(plan)]
    await send_events(send, [_frame(event) for event in events], behaviour)


def _frame(event: Event) -> bytes:
    return f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"


def _plan(body: dict[str, Any], raw: bytes) -> ChatPlan:
    messages = [
        {"role": m.get("role"), "content": text_of(m.get("content"))}
        for m in body.get("messages") or []
        if isinstance(m, dict)
    ]
    if body.get("system"):
        messages.insert(0, {"role": "system", "content": text_of(body["system"])})
    tools = [{"function": {"name": tool.get("name")}} for tool in body.get("tools") or []]
    return ChatPlan.from_body(
        {"model": body["model"], "messages": messages, "tools": tools, "max_tokens": body.get("max_tokens")}, raw
    )


def _message_id(plan: ChatPlan) -> str:
    return "msg_" + plan.id.removeprefix("chatcmpl-")


def _stop_reason(plan: ChatPlan) -> str:
    return "end_turn" if plan.tool_name is None else "tool_use"


def _block(plan: ChatPlan) -> dict[str, Any]:
    if plan.tool_name is None:
        return {"type": "text", "text": plan.content}
    return {"type": "tool_use", "id": "toolu_" + plan.id[-12:], "name": plan.tool_name, "input": {"mock": True}}


def _message(plan: ChatPlan) -> dict[str, Any]:
    return {
        "id": _message_id(plan),
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": [_block(plan)],
        "stop_reason": _stop_reason(plan),
        "stop_sequence": None,
        "usage": {"input_tokens": plan.reported_prompt_tokens, "output_tokens": plan.completion_tokens},
    }


def _message_start(plan: ChatPlan) -> Event:
    start: dict[str, Any] = {
        "id": _message_id(plan),
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": plan.reported_prompt_tokens, "output_tokens": 1},
    }
    return {"type": "message_start", "message": start}


def _block_events(plan: ChatPlan, chunks: int) -> list[Event]:
    """The one content block: text in `chunks` deltas, or a tool call's arguments in one."""
    if plan.tool_name is None:
        opening: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in plan.content_pieces(chunks)]
    else:
        opening = {**_block(plan), "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": plan.tool_arguments}]
    return [
        {"type": "content_block_start", "index": 0, "content_block": opening},
        *({"type": "content_block_delta", "index": 0, "delta": delta} for delta in deltas),
    ]


def _closing_events(plan: ChatPlan) -> list[Event]:
    return [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(plan), "stop_sequence": None},
            "usage": {"output_tokens": plan.completion_tokens},
        },
        {"type": "message_stop"},
    ]
