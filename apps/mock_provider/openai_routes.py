"""OpenAI's /v1/chat/completions, /v1/completions and /v1/embeddings (Azure OpenAI's deployments too)."""

from __future__ import annotations

import base64
import hashlib
import struct
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

DEFAULT_DIMENSIONS = 8
MAX_DIMENSIONS = 4096
MAX_TOKEN_ID = 2**31  # a token id is a non-negative 32-bit integer
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
    """Each input (a string, or token ids) as a deterministic vector of `dimensions` (8 unless asked) floats,
    or with `encoding_format: "base64"` their little-endian float32 bytes in base64, as OpenAI sends them."""
    inputs, tokens = embedding_inputs(body.get("input"))
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise MockError(400, f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}.", param="dimensions")
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, seed in enumerate(inputs):
        vector = _vector(seed, dimensions)
        encoded: list[float] | str = _base64_float32(vector) if as_base64 else vector
        data.append({"object": "embedding", "embedding": encoded, "index": index})
    response = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": openai_usage(tokens, 0, usage_lie(body["model"])),
    }
    await send_json(send, 200, orjson.dumps(response))


def embedding_inputs(given: Any) -> tuple[list[bytes], int]:
    """The inputs OpenAI accepts (a string, strings, token ids, lists of token ids; not mixed, none empty),
    each as the bytes its vector grows from, and the tokens they count."""
    if isinstance(given, str) or (isinstance(given, list) and given and all(_is_token(item) for item in given)):
        given = [given]  # one input
    if not isinstance(given, list) or not given:
        raise _invalid_input("'input' must be a string, strings, token ids, or arrays of token ids.")
    strings = all(isinstance(item, str) for item in given)
    if not strings and not all(isinstance(item, list) and all(_is_token(t) for t in item) for item in given):
        raise _invalid_input("'input' items must be all strings or all arrays of token ids (integers from 0).")
    if any(len(item) == 0 for item in given):
        raise _invalid_input("'$.input' is invalid: an input must not be empty.")
    if strings:
        return [item.encode() for item in given], sum(count_tokens(item) for item in given)
    return [orjson.dumps(item) for item in given], sum(len(item) for item in given)


def _is_token(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and 0 <= item < MAX_TOKEN_ID


def _invalid_input(message: str) -> MockError:
    return MockError(400, message, param="input")


def _vector(seed: bytes, dimensions: int) -> list[float]:
    digest = hashlib.sha256(seed).digest()
    return [round((digest[i % len(digest)] - 128) / 128, 6) for i in range(dimensions)]


def _base64_float32(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
