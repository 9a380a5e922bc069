"""When the mock calls a tool, which one, and with what arguments: the same rule in every wire format.

The mock answers text unless the request's tool choice forces a tool (OpenAI `"required"` or a named
function, Anthropic `{"type": "any"}` or `{"type": "tool"}`, Gemini mode `ANY`), or the last message is the
user's and holds a marker: `[mock:tool]` calls the first tool, `[mock:tool=NAME]` the tool NAME (a name the
request does not declare: text). A tool result as the last message is answered with text, unless the choice
forces a tool, so an agent's loop ends. Arguments are made from the tool's JSON Schema (`schema_values`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from apps.mock_provider.behaviour import MockError
from apps.mock_provider.schema_values import schema_object

TOOL_MARKER = re.compile(r"\[mock:tool(?:=([^\]\s]{1,128}))?\]")
ChoiceMode = Literal["auto", "none", "any", "named"]
LastMessage = Literal["user", "tool_result", "other"]


@dataclass(frozen=True)
class ToolSpec:
    """A function the request declares: its name and its parameters' JSON Schema (as sent: maybe hostile)."""

    name: str
    parameters: Any = None


@dataclass(frozen=True)
class ToolChoice:
    mode: ChoiceMode = "auto"
    name: str | None = None  # the function a "named" choice forces

    @property
    def forces(self) -> bool:
        return self.mode in {"any", "named"}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


def tool_to_call(
    tools: tuple[ToolSpec, ...], choice: ToolChoice, last: LastMessage, last_text: str, *, param: str
) -> ToolCall | None:
    """The call the mock answers with (None: it answers text). `param` names the tool choice in errors."""
    if not tools or choice.mode == "none":
        return None
    if choice.mode == "named":
        tool = next((tool for tool in tools if tool.name == choice.name), None)
        if tool is None:
            name = (choice.name or "")[:100]
            raise MockError(400, f"Invalid '{param}': tool '{name}' is not one of the tools given.", param=param)
        return _call(tool)
    if choice.mode == "any":
        marked = _marked(tools, last_text) if last == "user" else None
        return _call(marked or tools[0])
    if last != "user":
        return None
    marked = _marked(tools, last_text)
    return _call(marked) if marked is not None else None


def _marked(tools: tuple[ToolSpec, ...], text: str) -> ToolSpec | None:
    """The tool the first marker in `text` asks for (None: no marker, or a name no tool has)."""
    marker = TOOL_MARKER.search(text)
    if marker is None:
        return None
    if marker.group(1) is None:
        return tools[0]
    return next((tool for tool in tools if tool.name == marker.group(1)), None)


def _call(tool: ToolSpec) -> ToolCall:
    return ToolCall(name=tool.name, arguments=schema_object(tool.parameters))


def argument_pieces(arguments: str, chunks: int) -> list[str]:
    """Tool arguments cut into pieces, as providers stream them: `chunks` pieces, at least two when it can."""
    size = max(1, -(-len(arguments) // max(2, chunks)))
    return [arguments[start : start + size] for start in range(0, len(arguments), size)] or [""]
