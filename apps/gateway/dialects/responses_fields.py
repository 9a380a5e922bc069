"""Field checks that refuse the way OpenAI's Responses API does, word for word where OpenAI has a message:
"Missing required parameter: 'input[0].call_id'.", "Invalid type for 'tools[1].name': expected a string, but
got an integer instead.", "Invalid value: 'robot'. Supported values are: 'user', 'assistant', 'system', and
'developer'." Each refusal is a gateway 400 naming the parameter as `param`, in OpenAI's envelope (the
gateway's own).
"""

import re
from typing import Any

import orjson

from apps.gateway.errors import (
    DecimalAboveMax,
    DecimalBelowMin,
    IntegerAboveMax,
    IntegerBelowMin,
    InvalidParameter,
    InvalidParameterType,
    InvalidRequest,
    MissingParameter,
)

MAX_COUNT = 2**31 - 1
QUOTED_VALUE_CHARS = 100  # a client's value quoted back in a message, at most
NAME = re.compile(r"[a-zA-Z0-9_-]+")  # function and response format names
NAME_MAX_CHARS = 64
METADATA_MAX_PAIRS, METADATA_KEY_MAX_CHARS, METADATA_VALUE_MAX_CHARS = 16, 64, 512

_KIND = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string", list: "an array", dict: "an object"}


class StringAboveMaxLength(InvalidParameter):
    code = "string_above_max_length"


class ObjectAboveMaxProperties(InvalidParameter):
    code = "object_above_max_properties"


def kind(value: Any) -> str:
    return "null" if value is None else _KIND.get(type(value), "a value of another type")


def type_error(param: str, expected: str, value: Any) -> InvalidParameter:
    return InvalidParameterType(
        f"Invalid type for '{param}': expected {expected}, but got {kind(value)} instead.", param=param
    )


def missing(param: str) -> InvalidParameter:
    return MissingParameter(f"Missing required parameter: '{param}'.", param=param)


def quoted(options: tuple[str, ...]) -> str:
    """'a', 'b', and 'c' (OpenAI's list of supported values)."""
    names = [f"'{option}'" for option in options]
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def invalid_value(param: str, value: str, options: tuple[str, ...]) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid value: '{value[:QUOTED_VALUE_CHARS]}'. Supported values are: {quoted(options)}.", param=param
    )


def required(parent: dict[str, Any], name: str, param: str) -> Any:
    if parent.get(name) is None:
        raise missing(param)
    return parent[name]


def text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    return value


def optional_text(value: Any, param: str) -> str | None:
    return None if value is None else text(value, param)


def boolean(value: Any, param: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise type_error(param, "a boolean", value)


def mapping(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    return value


def array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise type_error(param, "an array", value)
    return value


def literal(value: Any, param: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    if value not in options:
        raise invalid_value(param, value, options)
    return value


def optional_literal(value: Any, param: str, options: tuple[str, ...]) -> str | None:
    return None if value is None else literal(value, param, options)


def integer(value: Any, param: str, low: int, high: int = MAX_COUNT) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(param, "an integer", value)
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


def number(value: Any, param: str, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise type_error(param, "a decimal", value)
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


def bounded_text(value: Any, param: str, most: int) -> str:
    checked = text(value, param)
    if len(checked) > most:
        raise StringAboveMaxLength(
            f"Invalid '{param}': string too long. Expected a string with maximum length {most}, "
            f"but got a string with length {len(checked)} instead.",
            param=param,
        )
    return checked


def unsupported(param: str, message: str) -> InvalidParameter:
    """What the API accepts but this gateway cannot carry to the model's API: refused, with the reason."""
    return InvalidParameter(message, param=param)


def json_bytes(value: Any, param: str | None) -> int:
    """The bytes of `value` as JSON: a bound of its tokens. A value JSON cannot carry (nested deeper than the
    encoder goes, an integer beyond 64 bits) is refused: it could be neither counted nor forwarded.
    `param` None: the whole body."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        where = "the request body" if param is None else f"'{param}'"
        raise InvalidRequest(
            f"Invalid {where}: nested too deeply, or holds a value JSON cannot carry.", param=param
        ) from None


def metadata(value: Any) -> None:
    """OpenAI's limits: 16 pairs, keys of 64 characters, string values of 512."""
    if value is None:
        return
    pairs = mapping(value, "metadata")
    if len(pairs) > METADATA_MAX_PAIRS:
        raise ObjectAboveMaxProperties(
            f"Invalid 'metadata': too many properties. Expected an object with at most {METADATA_MAX_PAIRS} "
            f"properties, but got an object with {len(pairs)} properties instead.",
            param="metadata",
        )
    for key, entry in pairs.items():
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise StringAboveMaxLength(
                f"Invalid 'metadata': key too long. Expected a key with maximum length {METADATA_KEY_MAX_CHARS}, "
                f"but got a key with length {len(key)} instead.",
                param="metadata",
            )
        bounded_text(entry, f"metadata.{key}", METADATA_VALUE_MAX_CHARS)


def function_name(value: Any, param: str) -> str:
    name = bounded_text(value, param, NAME_MAX_CHARS)
    if not NAME.fullmatch(name):
        raise InvalidParameter(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches the pattern "
            f"'^[a-zA-Z0-9_-]+$'.",
            param=param,
        )
    return name
