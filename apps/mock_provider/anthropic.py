"""Anthropic's Messages API (/v1/messages and /v1/messages/count_tokens), answered from the same plan as a chat
completion, with extended thinking and prompt-cache usage (`anthropic_request`).

A stream follows the recorded grammar (tests/fixtures/wire/anthropic/messages_stream*.sse): message_start,
then per block content_block_start, content_block_delta…, content_block_stop (a ping after the first
block's start), then message_delta with the stop reason and usage, then message_stop. Thinking streams as
thinking_delta pieces and one signature_delta; tool input as input_json_delta pieces, the first empty.
"""

from __future__ import annotations

from typing import Any

import orjson

from apps.mock_provider.anthropic_request import THINKING_TEXT, AnthropicAsk, anthropic_ask, thinking_signature
from apps.mock_provider.behaviour import Behaviour
from apps.mock_provider.plan import ChatPlan, pieces
from apps.mock_provider.tools import argument_pieces
from apps.mock_provider.wire import Send, send_events, send_json

Event = dict[str, Any]
PING: Event = {"type": "ping"}


async def anthropic_messages(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    ask = anthropic_ask(body)
    answer = _Answer(ask, ChatPlan.from_prompt(ask.prompt, raw), raw, cache_read=behaviour.cache_read)
    if not body.get("stream"):
        await send_json(send, 200, orjson.dumps(answer.message()))
        return
    await send_events(send, [_frame(event) for event in answer.events(behaviour.chunks)], behaviour)


async def anthropic_count_tokens(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    ask = anthropic_ask(body, count_only=True)
    await send_json(send, 200, orjson.dumps({"input_tokens": ChatPlan.from_prompt(ask.prompt, raw).prompt_tokens}))


def _frame(event: Event) -> bytes:
    return f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"


class _Answer:
    def __init__(self, ask: AnthropicAsk, plan: ChatPlan, raw: bytes, *, cache_read: bool) -> None:
        self.ask, self.plan, self.raw, self.cache_read = ask, plan, raw, cache_read

    @property
    def id(self) -> str:
        return "msg_" + self.plan.id.removeprefix("chatcmpl-")

    @property
    def stop_reason(self) -> str:
        return "end_turn" if self.plan.tool_call is None else "tool_use"

    @property
    def output_tokens(self) -> int:
        return self.plan.completion_tokens + self.ask.thinking_tokens

    def usage(self, *, output_tokens: int) -> dict[str, Any]:
        cached = self.ask.cached_tokens
        created, read = (0, cached) if self.cache_read else (cached, 0)
        return {
            "input_tokens": self.plan.reported_prompt_tokens - cached,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if self.ask.cache_ttl_1h else created,
                "ephemeral_1h_input_tokens": created if self.ask.cache_ttl_1h else 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.ask.thinking:
            blocks.append({"type": "thinking", "thinking": THINKING_TEXT, "signature": thinking_signature(self.raw)})
        call = self.plan.tool_call
        if call is None:
            blocks.append({"type": "text", "text": self.plan.text})
        else:
            blocks.append(
                {"type": "tool_use", "id": "toolu_" + self.plan.id[-12:], "name": call.name, "input": call.arguments}
            )
        return blocks

    def message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.plan.model,
            "content": self.blocks(),
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(output_tokens=self.output_tokens),
        }

    def events(self, chunks: int) -> list[Event]:
        start = {**self.message(), "content": [], "stop_reason": None, "usage": self.usage(output_tokens=1)}
        events: list[Event] = [{"type": "message_start", "message": start}]
        for index, block in enumerate(self.blocks()):
            events.append({"type": "content_block_start", "index": index, "content_block": _opening(block)})
            if index == 0:
                events.append(PING)
            events += [
                {"type": "content_block_delta", "index": index, "delta": delta} for delta in _deltas(block, chunks)
            ]
            events.append({"type": "content_block_stop", "index": index})
        usage = self.usage(output_tokens=self.output_tokens)
        del usage["cache_creation"], usage["service_tier"]  # message_delta carries the counts only
        events.append(
            {"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": None}, "usage": usage}
        )
        events.append({"type": "message_stop"})
        return events


def _opening(block: dict[str, Any]) -> dict[str, Any]:
    """A block as its content_block_start shows it: empty, filled by the deltas that follow."""
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if block["type"] == "tool_use":
        return {**block, "input": {}}
    return {"type": "text", "text": ""}


def _deltas(block: dict[str, Any], chunks: int) -> list[dict[str, Any]]:
    if block["type"] == "thinking":
        thought = pieces(block["thinking"], chunks)
        return [*({"type": "thinking_delta", "thinking": p} for p in thought), _signature(block["signature"])]
    if block["type"] == "tool_use":
        arguments = orjson.dumps(block["input"]).decode()
        return [{"type": "input_json_delta", "partial_json": p} for p in ["", *argument_pieces(arguments, chunks)]]
    return [{"type": "text_delta", "text": piece} for piece in pieces(block["text"], chunks)]


def _signature(signature: str) -> dict[str, Any]:
    return {"type": "signature_delta", "signature": signature}
