"""What an Anthropic Messages request may be, and the most it can cost.

`messages_shape(body)` checks every parameter Anthropic documents for `POST /v1/messages` and refuses
as Anthropic does ("max_tokens: Field required"); unknown top-level parameters pass (Anthropic adds beta
ones). While it walks the body it bounds the prompt's tokens the way `request_shape` does for OpenAI's chat
route: one token per UTF-8 byte of every text (system, messages, documents, tool inputs and results), the
JSON bytes of tool definitions, a few tokens per message, `image_tokens` per image. The completion bound is
`max_tokens`, for one choice.

Only what the translation to OpenAI's chat format can carry passes: a block type or source it cannot
express is refused here, with the reason, rather than dropped on the way.
"""

import re
from typing import Any

from apps.gateway.dialects.anthropic_fields import (
    array,
    boolean,
    integer,
    json_bytes,
    literal,
    mapping,
    missing,
    non_empty,
    number,
    refuse,
    required,
    string,
    tag,
    text,
)
from apps.gateway.errors import InvalidParameter
from apps.gateway.request_shape import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, RequestShape, text_bytes

ROLES = ("user", "assistant")
USER_BLOCKS = ("text", "image", "document", "tool_result")
ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")
TOOL_RESULT_BLOCKS = ("text", "image", "document")
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
IMAGE_SOURCES = ("base64", "url")
DOCUMENT_SOURCES = ("base64", "text", "content", "url")
TOOL_CHOICES = ("auto", "any", "tool", "none")
THINKING_TYPES = ("enabled", "disabled", "adaptive")
THINKING_MIN_BUDGET = 1024
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
EMPTY_CONTENT = "all messages must have non-empty content except for the optional final assistant message"
BUDGET_ABOVE_MAX = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)

Count = tuple[int, int]  # (tokens at most, images)


def messages_shape(body: dict[str, Any], *, image_tokens: int) -> RequestShape:
    """Check an Anthropic Messages body; its shape, or an InvalidParameter (or InvalidRequest) with
    Anthropic's message."""
    _model(body)
    max_tokens = integer(required(body, "max_tokens", "max_tokens"), "max_tokens", 1)
    messages = non_empty(array(required(body, "messages", "messages"), "messages"), "messages")
    tokens, images = REPLY_PRIMING_TOKENS + _system_tokens(body.get("system")), 0
    last = len(messages) - 1
    for index, message in enumerate(messages):
        message_tokens, message_images = _message(message, f"messages.{index}", image_tokens, final=index == last)
        tokens, images = tokens + message_tokens, images + message_images
    tokens += _tools_tokens(body.get("tools"))
    _tool_choice(body.get("tool_choice"))
    _sampling(body)
    _thinking(body.get("thinking"), max_tokens)
    metadata = body.get("metadata")
    if metadata is not None:
        string(mapping(metadata, "metadata").get("user_id"), "metadata.user_id", nullable=True)
    return RequestShape(prompt_tokens=tokens, completion_tokens=max_tokens, choices=1, images=images)


def _model(body: dict[str, Any]) -> None:
    model = text(required(body, "model", "model"), "model")
    if not model:
        raise refuse("model", "String should have at least 1 character")


def _system_tokens(system: Any) -> int:
    if system is None:
        return 0
    if isinstance(system, str):
        return MESSAGE_OVERHEAD_TOKENS + text_bytes(system)
    tokens = MESSAGE_OVERHEAD_TOKENS
    for index, block in enumerate(array(system, "system")):
        loc = f"system.{index}"
        tag(mapping(block, loc), loc, ("text",))
        tokens += text_bytes(text(required(block, "text", f"{loc}.text"), f"{loc}.text"))
    return tokens


def _message(message: Any, loc: str, image_tokens: int, *, final: bool) -> Count:
    mapping(message, loc)
    role = literal(required(message, "role", f"{loc}.role"), f"{loc}.role", ROLES)
    content = required(message, "content", f"{loc}.content")
    may_be_empty = final and role == "assistant"  # a prefill the model continues
    if isinstance(content, str):
        if not content and not may_be_empty:
            raise refuse(loc, EMPTY_CONTENT)
        return MESSAGE_OVERHEAD_TOKENS + text_bytes(content), 0
    blocks = array(content, f"{loc}.content")
    if not blocks and not may_be_empty:
        raise refuse(loc, EMPTY_CONTENT)
    allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    tokens, images = MESSAGE_OVERHEAD_TOKENS, 0
    for index, block in enumerate(blocks):
        block_tokens, block_images = _block(block, f"{loc}.content.{index}", allowed, image_tokens)
        tokens, images = tokens + block_tokens, images + block_images
    return tokens, images


def _block(block: Any, loc: str, allowed: tuple[str, ...], image_tokens: int) -> Count:
    kind = tag(mapping(block, loc), loc, allowed)
    if kind == "text":
        return text_bytes(text(required(block, "text", f"{loc}.text"), f"{loc}.text")), 0
    if kind == "image":
        return _image(block, loc, image_tokens)
    if kind == "document":
        return _document(block, loc, image_tokens)
    if kind == "tool_use":
        return _tool_use(block, loc), 0
    if kind == "tool_result":
        return _tool_result(block, loc, image_tokens)
    if kind == "thinking":
        text(required(block, "signature", f"{loc}.signature"), f"{loc}.signature")
        return text_bytes(text(required(block, "thinking", f"{loc}.thinking"), f"{loc}.thinking")), 0
    text(required(block, "data", f"{loc}.data"), f"{loc}.data")  # redacted_thinking: not forwarded
    return 0, 0


def _image(block: dict[str, Any], loc: str, image_tokens: int) -> Count:
    where = f"{loc}.source"
    source = mapping(required(block, "source", where), where)
    if tag(source, where, IMAGE_SOURCES) == "base64":
        literal(required(source, "media_type", f"{where}.media_type"), f"{where}.media_type", IMAGE_MEDIA_TYPES)
        text(required(source, "data", f"{where}.data"), f"{where}.data")
    else:
        text(required(source, "url", f"{where}.url"), f"{where}.url")
    return image_tokens, 1


def _document(block: dict[str, Any], loc: str, image_tokens: int) -> Count:
    where = f"{loc}.source"
    source = mapping(required(block, "source", where), where)
    kind = tag(source, where, DOCUMENT_SOURCES)
    labels = [string(block.get(name), f"{loc}.{name}", nullable=True) or "" for name in ("title", "context")]
    tokens = sum(text_bytes(label) for label in labels)
    if kind == "url":  # OpenAI's file part takes the file's bytes, not an address
        raise InvalidParameter(
            f"{where}: document sources of type 'url' are not supported by this gateway; send the document as base64",
            param=where,
        )
    if kind == "base64":
        literal(required(source, "media_type", f"{where}.media_type"), f"{where}.media_type", ("application/pdf",))
        return tokens + len(text(required(source, "data", f"{where}.data"), f"{where}.data")), 0
    if kind == "text":
        literal(required(source, "media_type", f"{where}.media_type"), f"{where}.media_type", ("text/plain",))
        return tokens + text_bytes(text(required(source, "data", f"{where}.data"), f"{where}.data")), 0
    content = required(source, "content", f"{where}.content")
    if isinstance(content, str):
        return tokens + text_bytes(content), 0
    images = 0
    for index, part in enumerate(array(content, f"{where}.content")):
        part_tokens, part_images = _block(part, f"{where}.content.{index}", ("text", "image"), image_tokens)
        tokens, images = tokens + part_tokens, images + part_images
    return tokens, images


def _tool_use(block: dict[str, Any], loc: str) -> int:
    call_id = text(required(block, "id", f"{loc}.id"), f"{loc}.id")
    name = text(required(block, "name", f"{loc}.name"), f"{loc}.name")
    tool_input = mapping(required(block, "input", f"{loc}.input"), f"{loc}.input")
    return MESSAGE_OVERHEAD_TOKENS + text_bytes(call_id) + text_bytes(name) + json_bytes(tool_input, f"{loc}.input")


def _tool_result(block: dict[str, Any], loc: str, image_tokens: int) -> Count:
    tokens = MESSAGE_OVERHEAD_TOKENS
    tokens += text_bytes(text(required(block, "tool_use_id", f"{loc}.tool_use_id"), f"{loc}.tool_use_id"))
    boolean(block.get("is_error"), f"{loc}.is_error")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return tokens + text_bytes(content or ""), 0
    images = 0
    for index, part in enumerate(array(content, f"{loc}.content")):
        part_tokens, part_images = _block(part, f"{loc}.content.{index}", TOOL_RESULT_BLOCKS, image_tokens)
        tokens, images = tokens + part_tokens, images + part_images
    return tokens, images


def _tools_tokens(tools: Any) -> int:
    if tools is None:
        return 0
    names: set[str] = set()
    for index, tool in enumerate(array(tools, "tools")):
        loc = f"tools.{index}"
        mapping(tool, loc)
        kind = tool.get("type")
        if kind is not None and kind != "custom":  # a server tool (web_search_…, bash_…): Anthropic defines it
            text(kind, f"{loc}.type")
            continue
        name = text(required(tool, "name", f"{loc}.name"), f"{loc}.name")
        if not TOOL_NAME.fullmatch(name):
            raise refuse(f"{loc}.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
        if name in names:
            raise InvalidParameter("tools: Tool names must be unique.", param="tools")
        names.add(name)
        string(tool.get("description"), f"{loc}.description", nullable=True)
        mapping(required(tool, "input_schema", f"{loc}.input_schema"), f"{loc}.input_schema")
    return json_bytes(tools, "tools")


def _tool_choice(choice: Any) -> None:
    if choice is None:
        return
    mapping(choice, "tool_choice")
    if tag(choice, "tool_choice", TOOL_CHOICES) == "tool":
        text(required(choice, "name", "tool_choice.tool.name"), "tool_choice.tool.name")
    boolean(choice.get("disable_parallel_tool_use"), "tool_choice.disable_parallel_tool_use")


def _sampling(body: dict[str, Any]) -> None:
    number(body.get("temperature"), "temperature", 0, 1)
    number(body.get("top_p"), "top_p", 0, 1)
    if body.get("top_k") is not None:
        integer(body["top_k"], "top_k", 0)
    boolean(body.get("stream"), "stream")
    stops = body.get("stop_sequences")
    if stops is not None:
        for index, stop in enumerate(array(stops, "stop_sequences")):
            text(stop, f"stop_sequences.{index}")


def _thinking(thinking: Any, max_tokens: int) -> None:
    if thinking is None:
        return
    mapping(thinking, "thinking")
    if tag(thinking, "thinking", THINKING_TYPES) != "enabled":
        return
    if "budget_tokens" not in thinking:
        raise missing("thinking.enabled.budget_tokens")
    budget = integer(thinking["budget_tokens"], "thinking.enabled.budget_tokens", THINKING_MIN_BUDGET)
    if budget >= max_tokens:
        raise InvalidParameter(BUDGET_ABOVE_MAX, param="max_tokens")
