"""What a Messages API body asks, checked as Anthropic checks it (its `field: message` errors), and what its
prompt caching and extended thinking make of the answer's usage.

Unknown fields, `anthropic-beta` features and block types the mock does not know are accepted and ignored.
Cache accounting is deterministic (stateless): the prompt's messages up to and including the last one that
carries a `cache_control` block (the system prompt counts as the first message; a top-level
`cache_control` marks the last message) are the cached prefix. It is reported as
`cache_creation_input_tokens` (a cache write, in `ephemeral_1h_input_tokens` when that breakpoint's `ttl` is
"1h"), or as `cache_read_input_tokens` when the request has the header `x-mock-cache-read: 1` or a model
named `…mock-cache-read…`. `input_tokens` is the rest, as Anthropic reports it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from apps.mock_provider.behaviour import MockError
from apps.mock_provider.plan import Prompt, count_tokens, prompt_tokens
from apps.mock_provider.tools import ChoiceMode, LastMessage, ToolChoice, ToolSpec

ROLES = ("user", "assistant")
TOOL_CHOICES = ("auto", "any", "tool", "none")
CHOICE_MODES: dict[str, ChoiceMode] = {"auto": "auto", "any": "any", "none": "none"}
MIN_THINKING_BUDGET = 1024
THINKING_TEXT = "Thinking about what was asked before answering."


@dataclass(frozen=True)
class AnthropicAsk:
    """A checked Messages body: the prompt to plan from, and what only Anthropic's answer shows."""

    prompt: Prompt
    thinking: bool
    cached_tokens: int  # tokens of the cached prefix
    cache_ttl_1h: bool

    @property
    def thinking_tokens(self) -> int:
        return count_tokens(THINKING_TEXT) if self.thinking else 0


def anthropic_ask(body: dict[str, Any], *, count_only: bool = False) -> AnthropicAsk:
    """The checked body of /v1/messages (`count_only`: of /v1/messages/count_tokens, which needs no max_tokens)."""
    _check_model(body)
    if not count_only:
        _check_max_tokens(body.get("max_tokens"))
    messages = _checked_messages(body.get("messages"))
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _invalid("stream: Input should be a valid boolean", "stream")
    units = _units(body, messages)
    thinking = _thinking(body.get("thinking"), body.get("max_tokens"))
    tools = _tools(body.get("tools"))
    prompt = Prompt(
        model=body["model"],
        texts=tuple(text for text, _ in units),
        last=_last(messages[-1]),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=body.get("max_tokens"),
        output_schema=_output_schema(body),
        reserved_words=count_tokens(THINKING_TEXT) if thinking else 0,
    )
    cached, ttl_1h = _cache_prefix(body, units)
    return AnthropicAsk(prompt=prompt, thinking=thinking, cached_tokens=cached, cache_ttl_1h=ttl_1h)


def thinking_signature(raw: bytes) -> str:
    """A signature for the mock's thinking block: opaque, deterministic, base64 like Anthropic's."""
    return base64.b64encode(hashlib.sha256(b"thinking:" + raw).digest() * 2).decode()


def _invalid(message: str, param: str | None = None) -> MockError:
    return MockError(400, message, param=param)


def _check_model(body: dict[str, Any]) -> None:
    if "model" not in body:
        raise _invalid("model: Field required", "model")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _invalid("model: Input should be a valid string", "model")


def _check_max_tokens(value: Any) -> None:
    if value is None:
        raise _invalid("max_tokens: Field required", "max_tokens")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("max_tokens: Input should be a valid integer", "max_tokens")
    if value < 1:
        raise _invalid("max_tokens: Input should be greater than or equal to 1", "max_tokens")


def _checked_messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise _invalid("messages: Field required", "messages")
    if not isinstance(messages, list):
        raise _invalid("messages: Input should be a valid list", "messages")
    if not messages:
        raise _invalid("messages: at least one message is required", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages.{index}: Input should be a valid dictionary", "messages")
        if message.get("role") not in ROLES:
            raise _invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'", "messages")
        _check_content(message.get("content"), f"messages.{index}.content")
    return messages


def _check_content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid(f"{where}: Input should be a valid string or a valid list", "messages")
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _invalid(f"{where}.{index}: Input should be a content block with a 'type'", "messages")


def _block_text(block: dict[str, Any]) -> str:
    """The words a block adds to the prompt: text, a tool result's content, a tool call's input."""
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return block["text"]
    if kind == "tool_result":
        return _content_text(block.get("content"))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_block_text(block) for block in content if isinstance(block, dict))
    return ""


def _units(body: dict[str, Any], messages: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """The prompt's messages (the system prompt first), each as (text, the ttl of its cache breakpoint if any)."""
    units: list[tuple[str, str | None]] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        units.append((system, None))
    elif isinstance(system, list) and system:
        units.append((_content_text(system), _breakpoint(system)))
    elif system is not None and not isinstance(system, str | list):
        raise _invalid("system: Input should be a valid string or a valid list", "system")
    units += [(_content_text(m.get("content")), _breakpoint(m.get("content"))) for m in messages]
    return units


def _breakpoint(content: Any) -> str | None:
    """The ttl ("5m" unless it says) of the last cache_control in `content`; None when it has none."""
    if not isinstance(content, list):
        return None
    controls = [block.get("cache_control") for block in content if isinstance(block, dict)]
    marked = [control for control in controls if control]
    if not marked:
        return None
    ttl = marked[-1].get("ttl") if isinstance(marked[-1], dict) else None
    return ttl if isinstance(ttl, str) else "5m"


def _last(message: dict[str, Any]) -> LastMessage:
    if message["role"] != "user":
        return "other"
    content = message.get("content")
    if isinstance(content, list) and any(block.get("type") == "tool_result" for block in content):
        return "tool_result"
    return "user"


def _tools(tools: Any) -> tuple[ToolSpec, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list", "tools")
    specs = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _invalid(f"tools.{index}.name: Field required", "tools")
        specs.append(ToolSpec(tool["name"], tool.get("input_schema")))
    return tuple(specs)


def _tool_choice(choice: Any) -> ToolChoice:
    if choice is None:
        return ToolChoice()
    if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
        raise _invalid("tool_choice: Input tag should be one of 'auto', 'any', 'tool', 'none'", "tool_choice")
    if choice["type"] == "tool":
        if not isinstance(choice.get("name"), str):
            raise _invalid("tool_choice.tool.name: Field required", "tool_choice")
        return ToolChoice("named", choice["name"])
    return ToolChoice(CHOICE_MODES[choice["type"]])


def _thinking(thinking: Any, max_tokens: Any) -> bool:
    """Whether the answer starts with a thinking block ("enabled" or "adaptive"; other types: no)."""
    if thinking is None:
        return False
    if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
        raise _invalid("thinking: Input should be an object with a 'type'", "thinking")
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int):
            raise _invalid("thinking.enabled.budget_tokens: Input should be a valid integer", "thinking")
        if budget < MIN_THINKING_BUDGET:
            raise _invalid(
                f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}",
                "thinking",
            )
        if isinstance(max_tokens, int) and max_tokens <= budget:
            raise _invalid("`max_tokens` must be greater than `thinking.budget_tokens`", "max_tokens")
    return thinking["type"] in {"enabled", "adaptive"}


def _output_schema(body: dict[str, Any]) -> Any:
    """Structured outputs: `output_config.format` (or the beta's `output_format`) of type json_schema."""
    config = body.get("output_config")
    form = config.get("format") if isinstance(config, dict) else body.get("output_format")
    if isinstance(form, dict) and form.get("type") == "json_schema" and isinstance(form.get("schema"), dict):
        return form["schema"]
    return None


def _cache_prefix(body: dict[str, Any], units: list[tuple[str, str | None]]) -> tuple[int, bool]:
    """Tokens of the cached prefix, and whether its breakpoint asks a one-hour cache (see the docstring)."""
    marked = [(index, ttl) for index, (_, ttl) in enumerate(units) if ttl is not None]
    automatic = body.get("cache_control")
    if isinstance(automatic, dict) and units:
        ttl = automatic.get("ttl")
        marked.append((len(units) - 1, ttl if isinstance(ttl, str) else "5m"))
    if not marked:
        return 0, False
    end, ttl = max(marked)
    tokens = prompt_tokens(text for text, _ in units[: end + 1])
    return tokens, ttl == "1h"
