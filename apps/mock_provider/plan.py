"""What the mock answers: deterministic words, real (whitespace) token counts, usage (true or a chosen lie)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from apps.mock_provider.behaviour import MockError

DEFAULT_COMPLETION_WORDS = 12
LONG_COMPLETION_WORDS = 400  # models named "...-long"
MAX_COMPLETION_WORDS = 4096
CREATED = 1_700_000_000  # fixed, so identical requests give identical bodies
VOCABULARY = ("mock", "reply", "from", "the", "hydite", "provider", "with", "deterministic", "tokens", "today")
NEGATIVE_PROMPT_TOKENS = -2_000_000_000
_MODEL_USAGE_LIE = re.compile(r"mock-usage-(negative|huge|float|text|inconsistent|cached)")


def count_tokens(text: str) -> int:
    return len(text.split())


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def reply_words(seed_text: str, count: int) -> list[str]:
    echoed = seed_text.split()[:4]
    words = ["Mock", "reply", "to:", *echoed] if echoed else ["Mock", "reply."]
    offset = int(hashlib.sha256(seed_text.encode()).hexdigest()[:8], 16)
    while len(words) < count:
        words.append(VOCABULARY[(offset + len(words)) % len(VOCABULARY)])
    return words[:count]


def completion_words(body: dict[str, Any]) -> int:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is None:
        return LONG_COMPLETION_WORDS if str(body.get("model", "")).endswith("-long") else DEFAULT_COMPLETION_WORDS
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise MockError(400, "max_tokens must be a positive integer.", param="max_tokens")
    return min(limit, MAX_COMPLETION_WORDS)


def request_id(body: bytes, prefix: str) -> str:
    return f"{prefix}-mock{hashlib.sha256(body).hexdigest()[:24]}"


def usage_lie(model: str) -> str | None:
    """Which impossible usage a model named mock-usage-<lie> reports (a provider gone wrong, or hostile)."""
    match = _MODEL_USAGE_LIE.search(model)
    return match.group(1) if match else None


def openai_usage(prompt_tokens: int, completion_tokens: int, lie: str | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if lie == "negative":
        usage.update(prompt_tokens=NEGATIVE_PROMPT_TOKENS, total_tokens=NEGATIVE_PROMPT_TOKENS + completion_tokens)
    elif lie == "huge":
        usage.update(completion_tokens=10**12, total_tokens=prompt_tokens + 10**12)
    elif lie == "float":
        usage.update(prompt_tokens=prompt_tokens + 0.5)
    elif lie == "text":
        usage.update(prompt_tokens=str(prompt_tokens))
    elif lie == "inconsistent":
        usage.update(total_tokens=prompt_tokens + completion_tokens - 1)
    elif lie == "cached":
        usage["prompt_tokens_details"] = {"cached_tokens": prompt_tokens + 5}
    return usage


def _tool_name(body: dict[str, Any], messages: list[Any]) -> str | None:
    tools = body.get("tools") or []
    if not tools or body.get("tool_choice") == "none" or messages[-1].get("role") != "user":
        return None
    function = tools[0].get("function") if isinstance(tools[0], dict) else None
    return (function.get("name") if isinstance(function, dict) else None) or "tool"


@dataclass(frozen=True)
class ChatPlan:
    """What a chat request will answer: the same for the plain and the streamed form."""

    id: str
    model: str
    prompt_tokens: int
    words: list[str]
    tool_name: str | None
    json_mode: bool
    choices: int = 1

    @classmethod
    def from_body(cls, body: dict[str, Any], raw: bytes) -> ChatPlan:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise MockError(400, "'messages' must be a non-empty array.", param="messages")
        texts = [text_of(message.get("content")) for message in messages if isinstance(message, dict)]
        tool_name = _tool_name(body, messages)
        response_format = body.get("response_format") or {}
        return cls(
            id=request_id(raw, "chatcmpl"),
            model=body["model"],
            prompt_tokens=sum(count_tokens(text) + 4 for text in texts),
            words=reply_words(texts[-1] if texts else "", completion_words(body)),
            tool_name=tool_name,
            json_mode=response_format.get("type") in {"json_object", "json_schema"},
            choices=body.get("n") or 1,
        )

    @property
    def reported_prompt_tokens(self) -> int:
        """What the provider says the prompt took (a lie for mock-usage-negative)."""
        return NEGATIVE_PROMPT_TOKENS if usage_lie(self.model) == "negative" else self.prompt_tokens

    def usage(self) -> dict[str, Any]:
        return openai_usage(self.prompt_tokens, self.completion_tokens * self.choices, usage_lie(self.model))

    @property
    def content(self) -> str:
        text = " ".join(self.words)
        return orjson.dumps({"reply": text}).decode() if self.json_mode else text

    def content_pieces(self, chunks: int) -> list[str]:
        """The content cut into `chunks` pieces (fewer when it is short), as streams send it."""
        content = self.content
        size = max(1, -(-len(content) // chunks))
        return [content[start : start + size] for start in range(0, len(content), size)]

    @property
    def tool_arguments(self) -> str:
        return orjson.dumps({"mock": True}).decode()

    @property
    def completion_tokens(self) -> int:
        return len(self.words) if self.tool_name is None else count_tokens(self.tool_arguments)

    def message(self) -> dict[str, Any]:
        if self.tool_name is None:
            return {"role": "assistant", "content": self.content, "refusal": None}
        call = {
            "id": f"call_{self.id[-12:]}",
            "type": "function",
            "function": {"name": self.tool_name, "arguments": self.tool_arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}

    @property
    def finish_reason(self) -> str:
        return "stop" if self.tool_name is None else "tool_calls"

    def completion(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [
                {"index": index, "message": self.message(), "logprobs": None, "finish_reason": self.finish_reason}
                for index in range(self.choices)
            ],
            "usage": self.usage(),
            "system_fingerprint": "fp_hydite_mock",
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, *, index: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "system_fingerprint": "fp_hydite_mock",
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    def deltas(self, chunks: int, *, by_word: bool = False) -> Iterator[dict[str, Any]]:
        if self.tool_name is not None:
            yield from self._tool_call_deltas()
            return
        yield {"role": "assistant", "content": "", "refusal": None}
        if by_word and not self.json_mode:
            for index, word in enumerate(self.words):
                yield {"content": word if index == len(self.words) - 1 else word + " "}
            return
        for piece in self.content_pieces(chunks):
            yield {"content": piece}

    def _tool_call_deltas(self) -> Iterator[dict[str, Any]]:
        call = self.message()["tool_calls"][0]
        function = {"name": self.tool_name, "arguments": ""}
        yield {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"index": 0, "id": call["id"], "type": "function", "function": function}],
        }
        yield {"tool_calls": [{"index": 0, "function": {"arguments": self.tool_arguments}}]}
