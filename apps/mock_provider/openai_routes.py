"""OpenAI's /v1/chat/completions, /v1/completions and /v1/embeddings (Azure OpenAI's deployments too)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from apps.gateway.errors import InvalidParameter
from apps.gateway.request_shape import request_shape
from apps.mock_provider.behaviour import Behaviour, MockError
from apps.mock_provider.plan import (
    CREATED,
    ChatPlan,
    completion_words,
    count_tokens,
    openai_usage,
    reply_words,
    request_id,
    usage_lie,
)
from apps.mock_provider.wire import Send, send_events, send_json, sse

STREAM_HEADERS = ((b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"))


def check_openai_body(path: str, body: dict[str, Any]) -> None:
    """What OpenAI refuses, refused with OpenAI's words."""
    try:
        request_shape(path.removeprefix("/v1"), body, image_tokens=0)
    except InvalidParameter as exc:
        raise MockError(400, exc.message, param=exc.param, code=exc.code) from None


async def chat(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    plan = ChatPlan.from_body(body, raw)
    if not body.get("stream"):
        await send_json(send, 200, orjson.dumps(plan.completion()))
        return
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    frames = (
        sse(plan.chunk(delta, index=choice))
        for choice in range(plan.choices)
        for delta in plan.deltas(behaviour.chunks, by_word=behaviour.word_per_chunk)
    )
    tail = b"".join(sse(plan.chunk({}, plan.finish_reason, index=choice)) for choice in range(plan.choices))
    if include_usage:
        usage_chunk = {**plan.chunk({}), "choices": [], "usage": plan.usage()}
        tail += sse(usage_chunk)
    await send_events(send, frames, behaviour, headers=STREAM_HEADERS, tail=tail + b"data: [DONE]\n\n")


async def completions(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise MockError(400, "'prompt' must be a string or an array of strings.", param="prompt")
    words = completion_words(body)
    choices = [
        {
            "text": " " + " ".join(reply_words(text, words)),
            "index": index,
            "logprobs": None,
            "finish_reason": "length",
        }
        for index, text in enumerate(prompts)
    ]
    prompt_tokens = sum(count_tokens(text) for text in prompts)
    generated = max(body.get("n") or 1, body.get("best_of") or 1)  # best_of are generated, and billed
    response = {
        "id": request_id(raw, "cmpl"),
        "object": "text_completion",
        "created": CREATED,
        "model": body["model"],
        "choices": choices,
        "usage": openai_usage(prompt_tokens, words * len(prompts) * generated, usage_lie(body["model"])),
    }
    await send_json(send, 200, orjson.dumps(response))


async def embeddings(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    given = body.get("input")
    inputs = [given] if isinstance(given, str) else given
    if not isinstance(inputs, list) or not inputs or not all(isinstance(item, str) for item in inputs):
        raise MockError(400, "'input' must be a string or an array of strings.", param="input")
    dimensions = body.get("dimensions", 8)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 4096:
        raise MockError(400, "'dimensions' must be an integer from 1 to 4096.", param="dimensions")
    data = [
        {"object": "embedding", "embedding": _vector(text, dimensions), "index": index}
        for index, text in enumerate(inputs)
    ]
    tokens = sum(count_tokens(text) for text in inputs)
    response = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": openai_usage(tokens, 0, usage_lie(body["model"])),
    }
    await send_json(send, 200, orjson.dumps(response))


def _vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128, 6) for i in range(dimensions)]
