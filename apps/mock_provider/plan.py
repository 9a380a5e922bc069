"""What the mock answers: deterministic words, real (whitespace) token counts, usage (true or a chosen lie)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from apps.mock_provider.behaviour import MockError
from apps.mock_provider.schema_values import schema_value
from apps.mock_provider.tools import (
    LastMessage,
    ToolCall,
    ToolChoice,
    ToolSpec,
    argument_pieces,
    tool_to_call,
)

DEFAULT_COMPLETION_WORDS = 12
LONG_COMPLETION_WORDS = 400  # models named "...-long"
MAX_COMPLETION_WORDS = 4096
CREATED = 1_700_000_000  # fixed, so identical requests give identical bodies
VOCABULARY = ("mock", "reply", "from", "the", "hydite", "provider", "with", "deterministic", "tokens", "today")
NEGATIVE_PROMPT_TOKENS = -2_000_000_000
_MODEL_USAGE_LIE = re.compile(r"mock-usage-(negative|huge|float|text|inconsistent|cached)")


def count_tokens(text: str) -> int:
    return len(text.split())


def pieces(text: str, chunks: int) -> list[str]:
    """`text` cut into `chunks` pieces (fewer when it is short), as streams send it."""
    size = max(1, -(-len(text) // max(1, chunks)))
    return [text[start : start + size] for start in range(0, len(text), size)]


def prompt_tokens(texts: Iterable[str]) -> int:
    """Tokens of a prompt: each message's words and 4 for the message itself."""
    return sum(count_tokens(text) + 4 for text in texts)


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
    return word_count(body.get("max_completion_tokens") or body.get("max_tokens"), str(body.get("model", "")))


def word_count(limit: Any, model: str, *, param: str = "max_tokens") -> int:
    """Words the mock answers: exactly the request's limit (capped), or its default for the model."""
    if limit is None:
        return LONG_COMPLETION_WORDS if model.endswith("-long") else DEFAULT_COMPLETION_WORDS
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise MockError(400, f"'{param}' must be a positive integer.", param=param)
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


AUTO = ToolChoice()


@dataclass(frozen=True)
class Prompt:
    """What a request asks the mock, whatever its wire format."""

    model: str
    texts: tuple[str, ...]  # every message's text, the system prompt's too, in order
    last: LastMessage  # who spoke last: a user, a tool's result, or another role
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = AUTO
    choice_param: str = "tool_choice"  # where the tool choice is, for errors
    max_tokens: Any = None  # the request's own limit as sent (checked here)
    max_tokens_param: str = "max_tokens"
    output_schema: Any = None  # a JSON Schema the answer follows (structured output)
    json_object: bool = False
    choices: int = 1
    reserved_words: int = 0  # words of the limit spent before the answer (thinking)


@dataclass(frozen=True)
class ChatPlan:
    """What a chat request will answer: the same for the plain and the streamed form."""

    id: str
    model: str
    prompt_tokens: int
    text: str  # the answer (JSON when the request asks for it)
    completion_tokens: int
    tool_call: ToolCall | None
    choices: int = 1
    structured: bool = False  # the text is JSON: streamed in pieces, never word by word

    @classmethod
    def from_prompt(cls, prompt: Prompt, raw: bytes) -> ChatPlan:
        seed = prompt.texts[-1] if prompt.texts else ""
        last_text = seed if prompt.last == "user" else ""
        call = tool_to_call(prompt.tools, prompt.tool_choice, prompt.last, last_text, param=prompt.choice_param)
        limit = word_count(prompt.max_tokens, prompt.model, param=prompt.max_tokens_param)
        words = reply_words(seed, max(1, limit - prompt.reserved_words))
        text = " ".join(words)
        tokens = len(words)
        if prompt.output_schema is not None:
            text = orjson.dumps(schema_value(prompt.output_schema)).decode()
            tokens = max(1, count_tokens(text))
        elif prompt.json_object:
            text = orjson.dumps({"reply": text}).decode()
        if call is not None:
            tokens = max(1, count_tokens(call.arguments_json))
        return cls(
            id=request_id(raw, "chatcmpl"),
            model=prompt.model,
            prompt_tokens=prompt_tokens(prompt.texts),
            text=text,
            completion_tokens=tokens,
            tool_call=call,
            choices=prompt.choices,
            structured=prompt.output_schema is not None or prompt.json_object,
        )

    @classmethod
    def from_body(cls, body: dict[str, Any], raw: bytes) -> ChatPlan:
        """From an OpenAI chat completions body (checked by `check_openai_body` first)."""
        return cls.from_prompt(chat_prompt(body), raw)

    @property
    def tool_name(self) -> str | None:
        return None if self.tool_call is None else self.tool_call.name

    @property
    def reported_prompt_tokens(self) -> int:
        """What the provider says the prompt took (a lie for mock-usage-negative)."""
        return NEGATIVE_PROMPT_TOKENS if usage_lie(self.model) == "negative" else self.prompt_tokens

    def usage(self) -> dict[str, Any]:
        return openai_usage(self.prompt_tokens, self.completion_tokens * self.choices, usage_lie(self.model))

    @property
    def content(self) -> str:
        return self.text

    def content_pieces(self, chunks: int) -> list[str]:
        return pieces(self.text, chunks)

    @property
    def tool_arguments(self) -> str:
        return "" if self.tool_call is None else self.tool_call.arguments_json

    @property
    def call_id(self) -> str:
        return f"call_{self.id[-12:]}"

    def message(self) -> dict[str, Any]:
        if self.tool_call is None:
            return {"role": "assistant", "content": self.text, "refusal": None}
        call = {
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.tool_call.name, "arguments": self.tool_arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}

    @property
    def finish_reason(self) -> str:
        return "stop" if self.tool_call is None else "tool_calls"

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
        if self.tool_call is not None:
            yield from self._tool_call_deltas(chunks)
            return
        yield {"role": "assistant", "content": "", "refusal": None}
        for piece in self.text_pieces(chunks, by_word=by_word):
            yield {"content": piece}

    def text_pieces(self, chunks: int, *, by_word: bool = False) -> list[str]:
        """The text as a stream sends it: in `chunks` pieces, or a word a piece (never JSON)."""
        if not by_word or self.structured:
            return self.content_pieces(chunks)
        words = self.text.split(" ")
        return [word if index == len(words) - 1 else word + " " for index, word in enumerate(words)]

    def _tool_call_deltas(self, chunks: int) -> Iterator[dict[str, Any]]:
        """OpenAI's: the call's id and name with empty arguments, then the arguments in several pieces."""
        function = {"name": self.tool_name, "arguments": ""}
        yield {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"index": 0, "id": self.call_id, "type": "function", "function": function}],
            "refusal": None,
        }
        for piece in argument_pieces(self.tool_arguments, chunks):
            yield {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}


def chat_prompt(body: dict[str, Any]) -> Prompt:
    """An OpenAI chat completions body as a prompt."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MockError(400, "'messages' must be a non-empty array.", param="messages")
    messages = [message for message in messages if isinstance(message, dict)]
    last_role = messages[-1].get("role") if messages else None
    given_format = body.get("response_format")
    response_format: dict[str, Any] = given_format if isinstance(given_format, dict) else {}
    json_schema = response_format.get("json_schema") if response_format.get("type") == "json_schema" else None
    return Prompt(
        model=body["model"],
        texts=tuple(text_of(message.get("content")) for message in messages),
        last="user" if last_role == "user" else "tool_result" if last_role in {"tool", "function"} else "other",
        tools=openai_tools(body.get("tools")),
        tool_choice=openai_tool_choice(body.get("tool_choice")),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        output_schema=_schema_of(json_schema),
        json_object=response_format.get("type") == "json_object",
        choices=body.get("n") or 1,
    )


def _schema_of(json_schema: Any) -> Any:
    if not isinstance(json_schema, dict):
        return None
    return json_schema.get("schema") if isinstance(json_schema.get("schema"), dict) else {"type": "object"}


def openai_tools(tools: Any) -> tuple[ToolSpec, ...]:
    """Chat completions' function tools: {"type": "function", "function": {"name", "parameters"}}."""
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            specs.append(ToolSpec(function["name"], function.get("parameters")))
    return tuple(specs)


def openai_tool_choice(choice: Any) -> ToolChoice:
    if choice == "none":
        return ToolChoice("none")
    if choice == "required":
        return ToolChoice("any")
    if isinstance(choice, dict):
        function = choice.get("function")
        named: dict[str, Any] = function if isinstance(function, dict) else choice
        if isinstance(named.get("name"), str):
            return ToolChoice("named", named["name"])
    return ToolChoice()
