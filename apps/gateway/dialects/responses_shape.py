"""What an OpenAI Responses request (`POST /v1/responses`) may be, and the most it can cost.

`responses_shape(body)` checks the parameters OpenAI documents for the route and refuses as OpenAI does
(`responses_fields`); unknown top-level parameters pass (OpenAI adds new ones). While it walks the body it
bounds the prompt's tokens the way `request_shape` does for the chat route: one token per UTF-8 byte of
every text (instructions, messages, function calls and their outputs), the JSON bytes of tool definitions
and of a JSON schema, a few tokens per item, `image_tokens` per image. The completion bound is
`max_output_tokens` (None: the request sets none), for one choice. The turns a `previous_response_id` loads
are not in the body: their tokens are the pipeline's to add (see `responses_request`).

Only what the translation to OpenAI's chat format can carry passes: built-in tools (web search, file search,
code interpreter, computer use, …), their items, images by file id, files by URL and logprobs are refused
with the reason, unless `passthrough` says the request goes untouched to a provider that speaks the
Responses API itself. Background mode and conversations are refused either way: the gateway keeps no
background jobs and no conversation objects.
"""

from typing import Any

from apps.gateway.dialects.responses_fields import (
    array,
    boolean,
    function_name,
    integer,
    json_bytes,
    literal,
    mapping,
    metadata,
    missing,
    number,
    optional_literal,
    optional_text,
    quoted,
    required,
    text,
    type_error,
    unsupported,
)
from apps.gateway.errors import ArrayAboveMaxLength, EmptyArray, InvalidParameter
from apps.gateway.request_shape import (
    MAX_TOOLS,
    MESSAGE_OVERHEAD_TOKENS,
    REPLY_PRIMING_TOKENS,
    RequestShape,
    text_bytes,
)

ROLES = ("user", "assistant", "system", "developer")
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")
PARTS_BY_ROLE = {
    "user": ("input_text", "input_image", "input_file"),
    "assistant": ("output_text", "refusal", "input_text"),
    "system": ("input_text",),
    "developer": ("input_text",),
}
ALL_PARTS = ("input_text", "input_image", "input_file", "output_text", "refusal")
OUTPUT_PARTS = ("input_text", "input_image", "input_file")  # a function_call_output's content
ITEM_STATUSES = ("in_progress", "completed", "incomplete")
IMAGE_DETAILS = ("auto", "low", "high")
TOOL_CHOICES = ("none", "auto", "required")
ALLOWED_TOOLS_MODES = ("auto", "required")
TEXT_FORMATS = ("text", "json_object", "json_schema")
VERBOSITIES = ("low", "medium", "high")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed")
TRUNCATIONS = ("auto", "disabled")
MIN_OUTPUT_TOKENS = 16
MAX_TOP_LOGPROBS = 20
FLAGS = ("stream", "store", "parallel_tool_calls", "background")
OPTIONAL_TEXTS = ("instructions", "previous_response_id", "user", "prompt_cache_key", "safety_identifier")
NOT_TRANSLATED = "not supported for this model: the gateway translates only function tools to its API"

Count = tuple[int, int]  # (tokens at most, images)


def responses_shape(body: dict[str, Any], *, image_tokens: int, passthrough: bool = False) -> RequestShape:
    """Check a Responses body; its shape, or an InvalidParameter (or InvalidRequest) with OpenAI's message.
    `passthrough`: the request goes untouched to a provider that runs the Responses API (built-in tools,
    their items and the rest only that API carries are accepted then)."""
    _model(body)
    _scalars(body, passthrough)
    instructions = body.get("instructions")
    tokens = REPLY_PRIMING_TOKENS + (MESSAGE_OVERHEAD_TOKENS + text_bytes(instructions) if instructions else 0)
    input_tokens, images = _input(body, image_tokens, passthrough)
    tools_tokens, names = _tools(body.get("tools"), passthrough)
    _tool_choice(body.get("tool_choice"), names, passthrough, has_tools=bool(body.get("tools")))
    tokens += input_tokens + tools_tokens + _text_format_tokens(body.get("text"))
    _reasoning(body.get("reasoning"))
    if passthrough:  # sent as the client wrote it: the whole body must be JSON the encoder can write back
        json_bytes(body, None)
    limit = integer(body.get("max_output_tokens"), "max_output_tokens", MIN_OUTPUT_TOKENS)
    return RequestShape(prompt_tokens=tokens, completion_tokens=limit, choices=1, images=images)


def _model(body: dict[str, Any]) -> None:
    model = text(required(body, "model", "model"), "model")
    if not model:
        raise missing("model")


def _scalars(body: dict[str, Any], passthrough: bool) -> None:
    number(body.get("temperature"), "temperature", 0, 2)
    number(body.get("top_p"), "top_p", 0, 1)
    for flag in FLAGS:
        boolean(body.get(flag), flag)
    for name in OPTIONAL_TEXTS:
        optional_text(body.get(name), name)
    optional_text(body.get("service_tier"), "service_tier")
    optional_literal(body.get("truncation"), "truncation", TRUNCATIONS)
    metadata(body.get("metadata"))
    if body.get("include") is not None:
        for index, entry in enumerate(array(body["include"], "include")):
            text(entry, f"include[{index}]")
    if body.get("stream_options") is not None:
        options = mapping(body["stream_options"], "stream_options")
        boolean(options.get("include_obfuscation"), "stream_options.include_obfuscation")
    integer(body.get("max_tool_calls"), "max_tool_calls", 1)  # counts built-in tool calls: none run here
    if (integer(body.get("top_logprobs"), "top_logprobs", 0, MAX_TOP_LOGPROBS) or 0) > 0 and not passthrough:
        raise unsupported("top_logprobs", "'top_logprobs' is not supported for this model by this gateway.")
    _unsupported_modes(body, passthrough)


def _unsupported_modes(body: dict[str, Any], passthrough: bool) -> None:
    if body.get("background") is True:
        raise unsupported(
            "background",
            "Background mode is not supported by this gateway; send the request without 'background' "
            "(stream it to see progress).",
        )
    if body.get("conversation") is not None:
        raise unsupported(
            "conversation",
            "Conversations are not supported by this gateway; chain responses with 'previous_response_id' instead.",
        )
    if body.get("prompt") is not None and not passthrough:
        raise unsupported(
            "prompt",
            "Prompt templates are not supported for this model; send the prompt's text as 'instructions' and 'input'.",
        )


def _input(body: dict[str, Any], image_tokens: int, passthrough: bool) -> Count:
    given = body.get("input")
    if given is None or given == []:
        if body.get("previous_response_id") is None:
            raise missing("input")
        return 0, 0
    if isinstance(given, str):
        return MESSAGE_OVERHEAD_TOKENS + text_bytes(given), 0
    if not isinstance(given, list):
        raise type_error("input", "one of a string or array of input items", given)
    tokens = images = 0
    for index, item in enumerate(given):
        item_tokens, item_images = _item(item, f"input[{index}]", image_tokens, passthrough)
        tokens, images = tokens + item_tokens, images + item_images
    return tokens, images


def _item(item: Any, param: str, image_tokens: int, passthrough: bool) -> Count:
    mapping(item, param)
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"  # a message may leave out its type
    if kind is None:
        raise missing(f"{param}.type")
    text(kind, f"{param}.type")
    optional_text(item.get("id"), f"{param}.id")
    if item.get("status") is not None:
        literal(item["status"], f"{param}.status", ITEM_STATUSES)
    if kind == "message":
        return _message(item, param, image_tokens, passthrough)
    if kind == "function_call":
        fields = [text(required(item, name, f"{param}.{name}"), f"{param}.{name}") for name in ("call_id", "name")]
        fields.append(text(required(item, "arguments", f"{param}.arguments"), f"{param}.arguments"))
        return MESSAGE_OVERHEAD_TOKENS + sum(text_bytes(field) for field in fields), 0
    if kind == "function_call_output":
        call_id = text(required(item, "call_id", f"{param}.call_id"), f"{param}.call_id")
        output_tokens, images = _output(required(item, "output", f"{param}.output"), param, image_tokens, passthrough)
        return MESSAGE_OVERHEAD_TOKENS + text_bytes(call_id) + output_tokens, images
    if kind == "reasoning":
        return _reasoning_item(item, param, passthrough), 0
    if passthrough:
        return MESSAGE_OVERHEAD_TOKENS + json_bytes(item, param), 0
    raise unsupported(
        f"{param}.type",
        f"Invalid value: '{kind[:100]}'. Items of this type are not supported for this model: the gateway "
        f"translates only {quoted(ITEM_TYPES)} items to its API.",
    )


def _message(item: dict[str, Any], param: str, image_tokens: int, passthrough: bool) -> Count:
    role = literal(required(item, "role", f"{param}.role"), f"{param}.role", ROLES)
    content = required(item, "content", f"{param}.content")
    if isinstance(content, str):
        return MESSAGE_OVERHEAD_TOKENS + text_bytes(content), 0
    if not isinstance(content, list):
        raise type_error(f"{param}.content", "one of a string or array of input content", content)
    allowed = ALL_PARTS if passthrough else PARTS_BY_ROLE[role]
    tokens, images = MESSAGE_OVERHEAD_TOKENS, 0
    for index, part in enumerate(content):
        part_tokens, part_images = _part(part, f"{param}.content[{index}]", allowed, image_tokens, passthrough)
        tokens, images = tokens + part_tokens, images + part_images
    return tokens, images


def _output(output: Any, param: str, image_tokens: int, passthrough: bool) -> Count:
    if isinstance(output, str):
        return text_bytes(output), 0
    if not isinstance(output, list):
        raise type_error(f"{param}.output", "one of a string or array of output content", output)
    tokens = images = 0
    for index, part in enumerate(output):
        part_tokens, part_images = _part(part, f"{param}.output[{index}]", OUTPUT_PARTS, image_tokens, passthrough)
        tokens, images = tokens + part_tokens, images + part_images
    return tokens, images


def _part(part: Any, param: str, allowed: tuple[str, ...], image_tokens: int, passthrough: bool) -> Count:
    mapping(part, param)
    kind = text(required(part, "type", f"{param}.type"), f"{param}.type")
    if passthrough and kind not in ALL_PARTS:
        return json_bytes(part, param), 0  # a part only the Responses API knows (audio, …): its bytes
    literal(kind, f"{param}.type", allowed)
    if kind in ("input_text", "output_text"):
        if part.get("annotations") is not None:
            array(part["annotations"], f"{param}.annotations")
        return text_bytes(text(required(part, "text", f"{param}.text"), f"{param}.text")), 0
    if kind == "refusal":
        return text_bytes(text(required(part, "refusal", f"{param}.refusal"), f"{param}.refusal")), 0
    if kind == "input_image":
        return _image(part, param, image_tokens, passthrough)
    return _file(part, param, passthrough), 0


def _image(part: dict[str, Any], param: str, image_tokens: int, passthrough: bool) -> Count:
    url = optional_text(part.get("image_url"), f"{param}.image_url")
    file_id = optional_text(part.get("file_id"), f"{param}.file_id")
    optional_literal(part.get("detail"), f"{param}.detail", IMAGE_DETAILS)
    if url is None and file_id is None:
        raise missing(f"{param}.image_url")
    if url is None and not passthrough:
        raise unsupported(
            f"{param}.file_id",
            "Images by 'file_id' are not supported for this model: the gateway does not hold files; send "
            "'image_url' (an https URL or a data: URL) instead.",
        )
    return image_tokens, 1


def _file(part: dict[str, Any], param: str, passthrough: bool) -> int:
    fields = {name: optional_text(part.get(name), f"{param}.{name}") for name in ("file_data", "file_id", "file_url")}
    filename = optional_text(part.get("filename"), f"{param}.filename") or ""
    if all(value is None for value in fields.values()):
        raise missing(f"{param}.file_data")
    if fields["file_url"] is not None and not passthrough:
        raise unsupported(
            f"{param}.file_url",
            "Files by 'file_url' are not supported for this model; send the file's content as 'file_data'.",
        )
    return text_bytes(filename) + sum(text_bytes(value or "") for value in fields.values())


def _reasoning_item(item: dict[str, Any], param: str, passthrough: bool) -> int:
    """A reasoning item of an earlier turn: checked, and (translated) dropped: OpenAI-format chat models take
    no reasoning back. Passed through, its (encrypted) content is sent, and counted."""
    for name in ("summary", "content"):
        for index, part in enumerate(array(item.get(name) or [], f"{param}.{name}")):
            where = f"{param}.{name}[{index}]"
            text(required(mapping(part, where), "text", f"{where}.text"), f"{where}.text")
    optional_text(item.get("encrypted_content"), f"{param}.encrypted_content")
    return MESSAGE_OVERHEAD_TOKENS + json_bytes(item, param) if passthrough else 0


def _tools(tools: Any, passthrough: bool) -> tuple[int, set[str]]:
    """The tools' token bound, and the names of the function tools."""
    if tools is None:
        return 0, set()
    names: set[str] = set()
    for index, tool in enumerate(array(tools, "tools")):
        param = f"tools[{index}]"
        kind = text(required(mapping(tool, param), "type", f"{param}.type"), f"{param}.type")
        if kind != "function":
            if not passthrough:
                raise unsupported(f"{param}.type", f"Tools of type '{kind[:100]}' are {NOT_TRANSLATED}.")
            continue
        name = function_name(required(tool, "name", f"{param}.name"), f"{param}.name")
        if name in names:
            raise InvalidParameter(f"Invalid 'tools': duplicate function name '{name}'.", param=f"{param}.name")
        names.add(name)
        optional_text(tool.get("description"), f"{param}.description")
        if tool.get("parameters") is not None:
            mapping(tool["parameters"], f"{param}.parameters")
        boolean(tool.get("strict"), f"{param}.strict")
    if len(names) > MAX_TOOLS:
        raise ArrayAboveMaxLength(
            f"Invalid 'tools': array too long. Expected an array with maximum length {MAX_TOOLS}, but got an "
            f"array with length {len(names)} instead.",
            param="tools",
        )
    return json_bytes(tools, "tools"), names


def _tool_choice(choice: Any, names: set[str], passthrough: bool, *, has_tools: bool) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if literal(choice, "tool_choice", TOOL_CHOICES) == "required" and not has_tools:
            raise InvalidParameter(
                "Tool choice 'required' must be specified with 'tools' parameter.", param="tool_choice"
            )
        return
    if not isinstance(choice, dict):
        raise type_error("tool_choice", "one of a string or an object", choice)
    kind = text(required(choice, "type", "tool_choice.type"), "tool_choice.type")
    if kind == "function":
        _chosen_function(choice, "tool_choice", names)
    elif kind == "allowed_tools":
        literal(required(choice, "mode", "tool_choice.mode"), "tool_choice.mode", ALLOWED_TOOLS_MODES)
        allowed = array(required(choice, "tools", "tool_choice.tools"), "tool_choice.tools")
        if not allowed:
            raise EmptyArray(
                "Invalid 'tool_choice.tools': empty array. Expected an array with minimum length 1, but got an "
                "empty array instead.",
                param="tool_choice.tools",
            )
        for index, tool in enumerate(allowed):
            param = f"tool_choice.tools[{index}]"
            tool_kind = text(required(mapping(tool, param), "type", f"{param}.type"), f"{param}.type")
            if tool_kind == "function":
                _chosen_function(tool, param, names)
            elif not passthrough:
                raise unsupported(f"{param}.type", f"Tools of type '{tool_kind[:100]}' are {NOT_TRANSLATED}.")
    elif not passthrough:
        raise unsupported("tool_choice.type", f"Tool choice '{kind[:100]}' is {NOT_TRANSLATED}.")


def _chosen_function(choice: dict[str, Any], param: str, names: set[str]) -> None:
    name = text(required(choice, "name", f"{param}.name"), f"{param}.name")
    if name not in names:
        raise InvalidParameter(
            f"Tool choice 'function' with name '{name[:100]}' not found in 'tools' parameter.", param=f"{param}.name"
        )


def _text_format_tokens(text_config: Any) -> int:
    if text_config is None:
        return 0
    mapping(text_config, "text")
    optional_literal(text_config.get("verbosity"), "text.verbosity", VERBOSITIES)
    form = text_config.get("format")
    if form is None:
        return 0
    mapping(form, "text.format")
    if literal(required(form, "type", "text.format.type"), "text.format.type", TEXT_FORMATS) != "json_schema":
        return 0
    function_name(required(form, "name", "text.format.name"), "text.format.name")
    mapping(required(form, "schema", "text.format.schema"), "text.format.schema")
    boolean(form.get("strict"), "text.format.strict")
    optional_text(form.get("description"), "text.format.description")
    return json_bytes(form, "text.format")


def _reasoning(reasoning: Any) -> None:
    if reasoning is None:
        return
    mapping(reasoning, "reasoning")
    optional_literal(reasoning.get("effort"), "reasoning.effort", EFFORTS)
    for name in ("summary", "generate_summary"):
        optional_literal(reasoning.get(name), f"reasoning.{name}", SUMMARIES)
