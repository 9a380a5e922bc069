"""What an OpenAI-format /v1 request body may be, and the most it can cost.

`request_shape(path, body)` checks the types and ranges of every parameter OpenAI documents for the
route (unknown parameters pass through: OpenAI-compatible servers have their own) and answers
an `InvalidParameter` with OpenAI's message, `param` and code. While it walks the body it counts an upper
bound of the prompt's tokens: a byte-level or byte-fallback tokenizer makes at most one token per
UTF-8 byte, plus a few per message (role and separators); an image counts `image_tokens`. The
completion bound is the request's own limit times every choice it asks for (`n`, `best_of`, one per
prompt of a list).

Imports no Django: the mock provider validates with it too.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from apps.gateway.errors import (
    ArrayAboveMaxLength,
    DecimalAboveMax,
    DecimalBelowMin,
    EmptyArray,
    IntegerAboveMax,
    IntegerBelowMin,
    InvalidParameter,
    InvalidParameterType,
    MissingParameter,
)

MESSAGE_OVERHEAD_TOKENS = 8  # role, name and the separators a chat template puts around one message
REPLY_PRIMING_TOKENS = 8  # what starts the assistant's reply
TEXT_OVERHEAD_TOKENS = 4  # a prompt or input of its own (a start token, a dummy prefix)
MAX_COUNT = 2**31 - 1
MAX_LIST = 2048  # prompts or inputs in one request (OpenAI's embeddings limit)
MAX_STOP = 4
MAX_TOOLS = 128
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
TOOL_CHOICES = ("none", "auto", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
ENCODING_FORMATS = ("float", "base64")


@dataclass(frozen=True, slots=True)
class RequestShape:
    prompt_tokens: int  # at most this many prompt tokens
    completion_tokens: int | None  # at most this many per choice, as the request says (None: it does not)
    choices: int  # completions generated: n (or best_of) times the prompts
    images: int

    def completion_bound(self, default_per_choice: int) -> int:
        per_choice = default_per_choice if self.completion_tokens is None else self.completion_tokens
        return per_choice * self.choices


_KIND = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string", list: "an array", dict: "an object"}


def _kind(value: Any) -> str:
    return "null" if value is None else _KIND.get(type(value), "a value of another type")


def _type_error(param: str, expected: str, value: Any) -> InvalidParameter:
    return InvalidParameterType(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.", param=param
    )


def _string(value: Any, param: str, *, nullable: bool = False) -> None:
    if not (isinstance(value, str) or (nullable and value is None)):
        raise _type_error(param, "a string", value)


def _boolean(value: Any, param: str) -> None:
    if not isinstance(value, bool) and value is not None:
        raise _type_error(param, "a boolean", value)


def _object(value: Any, param: str, *, nullable: bool = True) -> None:
    if not isinstance(value, dict) and not (nullable and value is None):
        raise _type_error(param, "an object", value)


def _number(value: Any, param: str, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(param, "a decimal", value)
    if value < low:
        raise DecimalBelowMin(
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low:g}, but got {value} instead.",
            param=param,
        )
    if value > high:
        raise DecimalAboveMax(
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high:g}, but got {value} instead.",
            param=param,
        )


def _integer(value: Any, param: str, low: int, high: int = MAX_COUNT) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(param, "an integer", value)
    if value < low:
        raise IntegerBelowMin(
            f"Invalid '{param}': integer below minimum value. Expected a value >= {low}, but got {value} instead.",
            param=param,
        )
    if value > high:
        raise IntegerAboveMax(
            f"Invalid '{param}': integer above maximum value. Expected a value <= {high}, but got {value} instead.",
            param=param,
        )
    return value


def _choice(value: Any, param: str, allowed: tuple[str, ...]) -> None:
    if value is None:
        return
    _string(value, param)
    if value not in allowed:
        supported = ", ".join(f"'{option}'" for option in allowed)
        raise InvalidParameter(
            f"Invalid value for '{param}': '{value[:100]}'. Supported values are: {supported}.", param=param
        )


def _array(value: Any, param: str, *, low: int = 0, high: int = MAX_COUNT) -> list[Any]:
    if not isinstance(value, list):
        raise _type_error(param, "an array", value)
    if len(value) < low:
        raise EmptyArray(
            f"Invalid '{param}': empty array. Expected an array with minimum length {low}, "
            "but got an empty array instead.",
            param=param,
        )
    if len(value) > high:
        raise ArrayAboveMaxLength(
            f"Invalid '{param}': array too long. Expected an array with maximum length {high}, "
            f"but got an array with length {len(value)} instead.",
            param=param,
        )
    return value


def _missing(param: str) -> InvalidParameter:
    return MissingParameter(f"Missing required parameter: '{param}'.", param=param)


def text_bytes(text: str) -> int:
    """UTF-8 bytes of `text`: at most this many tokens (isascii is O(1) in CPython)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _json_bytes(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:  # not JSON (cannot come from a parsed body)
        return 0


def _stop(value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    for index, item in enumerate(_array(value, "stop", high=MAX_STOP)):
        _string(item, f"stop[{index}]")


def _sampling(body: dict[str, Any]) -> None:
    """What chat completions and completions share."""
    _number(body.get("temperature"), "temperature", 0, 2)
    _number(body.get("top_p"), "top_p", 0, 1)
    _number(body.get("presence_penalty"), "presence_penalty", -2, 2)
    _number(body.get("frequency_penalty"), "frequency_penalty", -2, 2)
    _integer(body.get("seed"), "seed", -(2**63), 2**63 - 1)
    _stop(body.get("stop"))
    _boolean(body.get("stream"), "stream")
    options = body.get("stream_options")
    _object(options, "stream_options")
    if options:
        _boolean(options.get("include_usage"), "stream_options.include_usage")
    _string(body.get("user"), "user", nullable=True)
    bias = body.get("logit_bias")
    _object(bias, "logit_bias")
    for token, weight in (bias or {}).items():
        _number(weight, f"logit_bias.{token}", -100, 100)


# Content parts: what each type must carry, and the tokens it can cost.
def _part_tokens(part: Any, param: str, image_tokens: int) -> tuple[int, int]:
    """(tokens at most, images) of one content part."""
    _object(part, param, nullable=False)
    kind = part.get("type")
    _string(kind, f"{param}.type")
    if kind in ("text", "refusal"):
        text = part.get(kind)
        _string(text, f"{param}.{kind}")
        return text_bytes(text), 0
    if kind == "image_url":
        image = part.get("image_url")
        _object(image, f"{param}.image_url", nullable=False)
        _string(image.get("url"), f"{param}.image_url.url")
        _choice(image.get("detail"), f"{param}.image_url.detail", ("auto", "low", "high"))
        return image_tokens, 1
    # input_audio, file and parts a newer API adds: their bytes bound their tokens
    return _json_bytes(part), 0


def _content_tokens(content: Any, param: str, image_tokens: int, *, nullable: bool) -> tuple[int, int]:
    if isinstance(content, str):
        return text_bytes(content), 0
    if content is None and nullable:
        return 0, 0
    if not isinstance(content, list):
        raise _type_error(param, "a string or an array", content)
    tokens = images = 0
    for index, part in enumerate(content):
        part_tokens, part_images = _part_tokens(part, f"{param}[{index}]", image_tokens)
        tokens, images = tokens + part_tokens, images + part_images
    return tokens, images


def _tool_calls_tokens(calls: Any, param: str) -> int:
    tokens = 0
    for index, call in enumerate(_array(calls, param)):
        where = f"{param}[{index}]"
        _object(call, where, nullable=False)
        _string(call.get("id"), f"{where}.id", nullable=True)
        function = call.get("function")
        _object(function, f"{where}.function", nullable=False)
        _string(function.get("name"), f"{where}.function.name")
        _string(function.get("arguments"), f"{where}.function.arguments", nullable=True)
        tokens += MESSAGE_OVERHEAD_TOKENS + _json_bytes(call)
    return tokens


def _message_tokens(message: Any, param: str, image_tokens: int) -> tuple[int, int]:
    _object(message, param, nullable=False)
    role = message.get("role")
    if role is None:
        raise _missing(f"{param}.role")
    _choice(role, f"{param}.role", ROLES)
    tokens = MESSAGE_OVERHEAD_TOKENS
    if "name" in message:
        _string(message["name"], f"{param}.name", nullable=True)
        tokens += text_bytes(message["name"] or "")
    calls = message.get("tool_calls")
    if calls is not None and role == "assistant":
        tokens += _tool_calls_tokens(calls, f"{param}.tool_calls")
    if role == "tool":
        _string(message.get("tool_call_id"), f"{param}.tool_call_id")
        tokens += text_bytes(message["tool_call_id"])
    if "function_call" in message:
        _object(message["function_call"], f"{param}.function_call")
        tokens += _json_bytes(message["function_call"])
    if "content" not in message and role != "assistant":
        raise _missing(f"{param}.content")
    content_tokens, images = _content_tokens(
        message.get("content"), f"{param}.content", image_tokens, nullable=role in ("assistant", "function")
    )
    return tokens + content_tokens, images


def _tools_tokens(body: dict[str, Any]) -> int:
    tools = body.get("tools")
    tokens = 0
    if tools is not None:
        for index, tool in enumerate(_array(tools, "tools", high=MAX_TOOLS)):
            _object(tool, f"tools[{index}]", nullable=False)
            _string(tool.get("type"), f"tools[{index}].type")
            function = tool.get("function")
            if tool["type"] == "function":
                _object(function, f"tools[{index}].function", nullable=False)
                _string(function.get("name"), f"tools[{index}].function.name")
                _string(function.get("description"), f"tools[{index}].function.description", nullable=True)
                _object(function.get("parameters"), f"tools[{index}].function.parameters")
        tokens += _json_bytes(tools)
    functions = body.get("functions")
    if functions is not None:
        for index, function in enumerate(_array(functions, "functions", high=MAX_TOOLS)):
            _object(function, f"functions[{index}]", nullable=False)
            _string(function.get("name"), f"functions[{index}].name")
        tokens += _json_bytes(functions)
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        _choice(choice, "tool_choice", TOOL_CHOICES)
    elif choice is not None:
        _object(choice, "tool_choice")
        _object(choice.get("function"), "tool_choice.function")
        _string((choice.get("function") or {}).get("name", ""), "tool_choice.function.name")
    _boolean(body.get("parallel_tool_calls"), "parallel_tool_calls")
    return tokens


def _response_format_tokens(body: dict[str, Any]) -> int:
    response_format = body.get("response_format")
    _object(response_format, "response_format")
    if not response_format:
        return 0
    _choice(response_format.get("type"), "response_format.type", RESPONSE_FORMATS)
    schema = response_format.get("json_schema")
    _object(schema, "response_format.json_schema")
    return _json_bytes(schema) if schema else 0


def _chat(body: dict[str, Any], image_tokens: int) -> RequestShape:
    if "messages" not in body:
        raise _missing("messages")
    messages = _array(body["messages"], "messages", low=1)
    tokens, images = REPLY_PRIMING_TOKENS, 0
    for index, message in enumerate(messages):
        message_tokens, message_images = _message_tokens(message, f"messages[{index}]", image_tokens)
        tokens, images = tokens + message_tokens, images + message_images
    tokens += _tools_tokens(body) + _response_format_tokens(body)
    _sampling(body)
    _boolean(body.get("logprobs"), "logprobs")
    _integer(body.get("top_logprobs"), "top_logprobs", 0, 20)
    _boolean(body.get("store"), "store")
    _object(body.get("metadata"), "metadata")
    limit = _completion_limit(body, max_tokens_low=1)
    n = _integer(body.get("n"), "n", 1, 128) or 1
    return RequestShape(prompt_tokens=tokens, completion_tokens=limit, choices=n, images=images)


def _completion_limit(body: dict[str, Any], *, max_tokens_low: int) -> int | None:
    """The larger of max_tokens and max_completion_tokens (None: neither): servers honour either, on either route."""
    limits = [
        _integer(body.get("max_tokens"), "max_tokens", max_tokens_low),
        _integer(body.get("max_completion_tokens"), "max_completion_tokens", 1),
    ]
    return max((value for value in limits if value is not None), default=None)


def _texts_tokens(value: Any, param: str) -> tuple[int, int]:
    """A prompt or an embeddings input: a string, strings, token ids, or lists of token ids.
    Returns (tokens at most, how many texts)."""
    if isinstance(value, str):
        return TEXT_OVERHEAD_TOKENS + text_bytes(value), 1
    items = _array(value, param, low=1, high=MAX_LIST * 1000)
    if all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return TEXT_OVERHEAD_TOKENS + len(items), 1  # one text as token ids
    _array(items, param, high=MAX_LIST)
    tokens = 0
    for index, item in enumerate(items):
        if isinstance(item, str):
            tokens += TEXT_OVERHEAD_TOKENS + text_bytes(item)
        elif isinstance(item, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in item):
            tokens += TEXT_OVERHEAD_TOKENS + len(item)
        else:
            raise _type_error(f"{param}[{index}]", "a string or an array of integers", item)
    return tokens, len(items)


def _completions(body: dict[str, Any], image_tokens: int) -> RequestShape:
    if "prompt" not in body:
        raise _missing("prompt")
    tokens, prompts = _texts_tokens(body["prompt"], "prompt")
    _string(body.get("suffix"), "suffix", nullable=True)
    tokens += text_bytes(body.get("suffix") or "")
    _sampling(body)
    _boolean(body.get("echo"), "echo")
    _integer(body.get("logprobs"), "logprobs", 0, 5)
    n = _integer(body.get("n"), "n", 1, 128) or 1
    best_of = _integer(body.get("best_of"), "best_of", 1, 20) or 1
    limit = _completion_limit(body, max_tokens_low=0)
    return RequestShape(prompt_tokens=tokens, completion_tokens=limit, choices=max(n, best_of) * prompts, images=0)


def _embeddings(body: dict[str, Any], image_tokens: int) -> RequestShape:
    if "input" not in body:
        raise _missing("input")
    tokens, _texts = _texts_tokens(body["input"], "input")
    _choice(body.get("encoding_format"), "encoding_format", ENCODING_FORMATS)
    _integer(body.get("dimensions"), "dimensions", 1)
    _string(body.get("user"), "user", nullable=True)
    return RequestShape(prompt_tokens=tokens, completion_tokens=0, choices=0, images=0)


ROUTES: dict[str, Callable[[dict[str, Any], int], RequestShape]] = {
    "/chat/completions": _chat,
    "/completions": _completions,
    "/embeddings": _embeddings,
}


def request_shape(path: str, body: dict[str, Any], *, image_tokens: int) -> RequestShape:
    """Check `body` for the OpenAI route `path` ("/chat/completions", …); its shape, or InvalidParameter."""
    return ROUTES[path](body, image_tokens)
