"""Gemini's generateContent and streamGenerateContent (alt=sse), from the same plan as a chat completion."""

from __future__ import annotations

from typing import Any

import orjson

from apps.mock_provider.behaviour import Behaviour, MockError
from apps.mock_provider.plan import ChatPlan, Prompt
from apps.mock_provider.tools import ChoiceMode, LastMessage, ToolChoice, ToolSpec
from apps.mock_provider.wire import Send, send_events, send_json

Parts = list[dict[str, Any]]
MODES: dict[str, ChoiceMode] = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "any", "NONE": "none"}


async def gemini_generate(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    plan = ChatPlan.from_prompt(gemini_prompt(body), raw)
    await send_json(send, 200, orjson.dumps(_response(plan, _parts(plan), finish=True)))


async def gemini_stream(body: dict[str, Any], raw: bytes, behaviour: Behaviour, send: Send) -> None:
    plan = ChatPlan.from_prompt(gemini_prompt(body), raw)
    if plan.tool_call is None:
        pieces = [[{"text": piece}] for piece in plan.content_pieces(behaviour.chunks)]
    else:
        pieces = [_parts(plan)]  # Gemini sends a function call whole
    frames = [
        b"data: " + orjson.dumps(_response(plan, piece, finish=n == len(pieces) - 1)) + b"\r\n\r\n"
        for n, piece in enumerate(pieces)
    ]
    await send_events(send, frames, behaviour)


def _invalid(message: str) -> MockError:
    return MockError(400, message)


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    """`value` as a list of objects (None: empty); a 400 in Gemini's words otherwise."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid(f"Invalid value at '{where}': expected a list of objects.")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"Invalid value at '{where}': expected an object.")
    return value


def _text(content: dict[str, Any], where: str) -> str:
    """A content's words: its text parts, and the strings of a function's response."""
    parts = _objects(content.get("parts"), f"{where}.parts")
    text = "".join(part["text"] for part in parts if isinstance(part.get("text"), str))
    responses = [part["functionResponse"] for part in parts if isinstance(part.get("functionResponse"), dict)]
    said = [word for response in responses for word in _strings(response.get("response"), depth=0)]
    return " ".join([text, *said]) if text else " ".join(said)


def _strings(value: Any, *, depth: int) -> list[str]:
    if isinstance(value, str):
        return [value]
    if depth > 8:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _strings(item, depth=depth + 1)]
    return []


def gemini_prompt(body: dict[str, Any]) -> Prompt:
    contents = _objects(body.get("contents"), "contents")
    if not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified")
    system = _object(body.get("systemInstruction"), "system_instruction")
    texts = ([_text(system, "system_instruction")] if system else []) + [
        _text(content, f"contents[{index}]") for index, content in enumerate(contents)
    ]
    tools, choice = _tools(body)
    config = _object(body.get("generationConfig"), "generation_config")
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    return Prompt(
        model=body["model"],
        texts=tuple(texts),
        last=_last(contents[-1]),
        tools=tools,
        tool_choice=choice,
        choice_param="toolConfig.functionCallingConfig",
        max_tokens=config.get("maxOutputTokens"),
        max_tokens_param="generationConfig.maxOutputTokens",
        output_schema=schema if isinstance(schema, dict) else None,
        json_object=config.get("responseMimeType") == "application/json",
    )


def _last(content: dict[str, Any]) -> LastMessage:
    parts = content.get("parts") or []
    if any("functionResponse" in part for part in parts):
        return "tool_result"
    return "user" if content.get("role", "user") == "user" else "other"


def _tools(body: dict[str, Any]) -> tuple[tuple[ToolSpec, ...], ToolChoice]:
    specs = []
    for index, tool in enumerate(_objects(body.get("tools"), "tools")):
        for declaration in _objects(tool.get("functionDeclarations"), f"tools[{index}].function_declarations"):
            if not isinstance(declaration.get("name"), str):
                raise _invalid(f"Invalid value at 'tools[{index}].function_declarations': a name is required.")
            parameters = declaration.get("parametersJsonSchema") or declaration.get("parameters")
            specs.append(ToolSpec(declaration["name"], parameters))
    config = _object(_object(body.get("toolConfig"), "tool_config").get("functionCallingConfig"), "tool_config")
    mode = MODES.get(str(config.get("mode", "AUTO")).upper(), "auto")
    allowed = config.get("allowedFunctionNames")
    if mode == "any" and isinstance(allowed, list) and allowed:
        specs = [spec for spec in specs if spec.name in allowed] or specs
    return tuple(specs), ToolChoice(mode)


def _parts(plan: ChatPlan) -> Parts:
    if plan.tool_call is None:
        return [{"text": plan.content}]
    return [{"functionCall": {"name": plan.tool_call.name, "args": plan.tool_call.arguments}}]


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
    prompt_tokens = ChatPlan.from_prompt(gemini_prompt(body), raw).reported_prompt_tokens
    return {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
        "modelVersion": body["model"],
    }
