"""What /v1/responses answers: the response object, and its stream of typed events.

A stream is OpenAI's: response.created, response.in_progress, then per output item output_item.added, (for
a message) content_part.added, output_text.delta…, output_text.done, content_part.done, (for a function
call) function_call_arguments.delta…, function_call_arguments.done, then output_item.done, and last
response.completed with usage; every event has a `sequence_number` counting from 0.
"""

from __future__ import annotations

from typing import Any

from apps.mock_provider.plan import CREATED, ChatPlan, openai_usage, usage_lie
from apps.mock_provider.responses_request import text_format_echo
from apps.mock_provider.tools import argument_pieces

Event = dict[str, Any]


def responses_usage(input_tokens: int, output_tokens: int, model: str) -> dict[str, Any]:
    """The Responses API's usage (a lie for the mock-usage-* models, as chat completions tell it)."""
    usage = openai_usage(input_tokens, output_tokens, usage_lie(model))
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage["total_tokens"],
    }


class ResponseAnswer:
    def __init__(self, body: dict[str, Any], plan: ChatPlan) -> None:
        self.body, self.plan = body, plan
        self.suffix = plan.id.removeprefix("chatcmpl-")

    @property
    def id(self) -> str:
        return "resp_" + self.suffix

    @property
    def item_id(self) -> str:
        return ("msg_" if self.plan.tool_call is None else "fc_") + self.suffix

    def output_item(self, *, done: bool = True) -> dict[str, Any]:
        status = "completed" if done else "in_progress"
        call = self.plan.tool_call
        if call is None:
            content = [_text_part(self.plan.text)] if done else []
            return {"id": self.item_id, "type": "message", "status": status, "role": "assistant", "content": content}
        return {
            "id": self.item_id,
            "type": "function_call",
            "status": status,
            "arguments": self.plan.tool_arguments if done else "",
            "call_id": self.plan.call_id,
            "name": call.name,
        }

    def response(self, *, done: bool = True) -> dict[str, Any]:
        body = self.body
        return {
            "id": self.id,
            "object": "response",
            "created_at": CREATED,
            "status": "completed" if done else "in_progress",
            "background": bool(body.get("background")),
            "completed_at": CREATED if done else None,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": self.plan.model,
            "output": [self.output_item()] if done else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": text_format_echo(body),
            "tool_choice": body.get("tool_choice") or "auto",
            "tools": body.get("tools") or [],
            "top_logprobs": 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled",
            "usage": self.usage() if done else None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def usage(self) -> dict[str, Any]:
        return responses_usage(self.plan.prompt_tokens, self.plan.completion_tokens, self.plan.model)

    def events(self, chunks: int, *, by_word: bool = False) -> list[Event]:
        started = self.response(done=False)
        events: list[Event] = [
            {"type": "response.created", "response": started},
            {"type": "response.in_progress", "response": started},
            {"type": "response.output_item.added", "output_index": 0, "item": self.output_item(done=False)},
            *(self._text_events(chunks, by_word) if self.plan.tool_call is None else self._call_events(chunks)),
            {"type": "response.output_item.done", "output_index": 0, "item": self.output_item()},
            {"type": "response.completed", "response": self.response()},
        ]
        return [{**event, "sequence_number": number} for number, event in enumerate(events)]

    def _text_events(self, chunks: int, by_word: bool) -> list[Event]:
        where = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        text = self.plan.text
        return [
            {"type": "response.content_part.added", **where, "part": _text_part("")},
            *(
                {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
                for piece in self.plan.text_pieces(chunks, by_word=by_word)
            ),
            {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **where, "part": _text_part(text)},
        ]

    def _call_events(self, chunks: int) -> list[Event]:
        where = {"item_id": self.item_id, "output_index": 0}
        arguments = self.plan.tool_arguments
        return [
            *(
                {"type": "response.function_call_arguments.delta", **where, "delta": piece}
                for piece in argument_pieces(arguments, chunks)
            ),
            {
                "type": "response.function_call_arguments.done",
                **where,
                "arguments": arguments,
                "name": self.plan.tool_name,
            },
        ]


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
