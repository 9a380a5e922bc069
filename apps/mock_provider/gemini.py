"""Gemini's generateContent and streamGenerateContent (alt=sse), from the same plan as a chat completion."""

from __future__ import annotations

from typing import Any

import orjson

from apps.mock_provider.behaviour import Behaviour
from apps.mock_provider.plan import ChatPlan
from apps.mock_provider.wire import Send, send_events, send_json

ROLES = {"user": "user", "model": "assistant"}
Parts = list[dict[str, Any]]


async def gemini_generate(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    plan = _plan(body, raw)
    await send_json(send, 200, orjson.dumps(_response(plan, _parts(plan), finish=True)))


async def gemini_stream(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    plan = _plan(body, raw)
    if plan.tool_name is None:
        pieces = [[{"text": piece}] for piece in plan.content_pieces(behaviour.chunks)]
    else:
        pieces = [_parts(plan)]
    frames = [
        b"data: " + orjson.dumps(_response(plan, piece, finish=n == len(pieces) - 1)) + b"\r\n\r\n"
        for n, piece in enumerate(pieces)
    ]
    await send_events(send, frames, behaviour)


def _plan(body: dict[str, Any], raw: bytes) -> ChatPlan:
    messages = [
        {
            "role": ROLES.get(c.get("role", "user"), "user"),
            "content": "".join(p.get("text", "") for p in c.get("parts") or [] if isinstance(p, dict)),
        }
        for c in body.get("contents") or []
        if isinstance(c, dict)
    ]
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    config = body.get("generationConfig") or {}
    chat_body = {
        "model": body["model"],
        "messages": messages,
        "tools": [{"function": {"name": d.get("name")}} for d in declarations],
        "max_tokens": config.get("maxOutputTokens"),
    }
    return ChatPlan.from_body(chat_body, raw)


def _parts(plan: ChatPlan) -> Parts:
    if plan.tool_name is None:
        return [{"text": plan.content}]
    return [{"functionCall": {"name": plan.tool_name, "args": {"mock": True}}}]


def _response(plan: ChatPlan, parts: Parts, *, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    usage = {
        "promptTokenCount": plan.reported_prompt_tokens,
        "candidatesTokenCount": plan.completion_tokens,
        "totalTokenCount": plan.reported_prompt_tokens + plan.completion_tokens,
    }
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": plan.model}


def gemini_blocked(body: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """What Gemini answers (with 200) for a prompt its safety filters block: feedback, no candidates."""
    prompt_tokens = _plan(body, raw).reported_prompt_tokens
    return {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
        "modelVersion": body["model"],
    }
