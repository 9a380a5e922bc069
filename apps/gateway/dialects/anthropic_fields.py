"""Field checks that refuse the way Anthropic's API does: `<dotted location>: <what was expected>`, e.g.
"max_tokens: Field required", "messages.0.content.1.type: Input should be 'text' or 'image'" (the messages
of the validation library behind Anthropic's API). Each refusal is a gateway 400 naming the location as
`param`; the Anthropic envelope is made at the edge (`anthropic_errors`).
"""

from typing import Any

import orjson

from apps.gateway.errors import (
    DecimalAboveMax,
    DecimalBelowMin,
    EmptyArray,
    IntegerAboveMax,
    IntegerBelowMin,
    InvalidParameter,
    InvalidParameterType,
    InvalidRequest,
    MissingParameter,
)

MAX_COUNT = 2**31 - 1


def refuse(loc: str, message: str, error: type[InvalidParameter] = InvalidParameter) -> InvalidParameter:
    return error(f"{loc}: {message}", param=loc)


def missing(loc: str) -> InvalidParameter:
    return refuse(loc, "Field required", MissingParameter)


def required(parent: dict[str, Any], name: str, loc: str) -> Any:
    if name not in parent:
        raise missing(loc)
    return parent[name]


def string(value: Any, loc: str, *, nullable: bool = False) -> str | None:
    if isinstance(value, str) or (nullable and value is None):
        return value
    raise refuse(loc, "Input should be a valid string", InvalidParameterType)


def text(value: Any, loc: str) -> str:
    if not isinstance(value, str):
        raise refuse(loc, "Input should be a valid string", InvalidParameterType)
    return value


def boolean(value: Any, loc: str) -> None:
    if not isinstance(value, bool) and value is not None:
        raise refuse(loc, "Input should be a valid boolean", InvalidParameterType)


def mapping(value: Any, loc: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refuse(loc, "Input should be a valid dictionary", InvalidParameterType)
    return value


def array(value: Any, loc: str) -> list[Any]:
    if not isinstance(value, list):
        raise refuse(loc, "Input should be a valid list", InvalidParameterType)
    return value


def integer(value: Any, loc: str, low: int, high: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(loc, "Input should be a valid integer", InvalidParameterType)
    if value < low:
        raise refuse(loc, f"Input should be greater than or equal to {low}", IntegerBelowMin)
    if value > high:
        raise refuse(loc, f"Input should be less than or equal to {high}", IntegerAboveMax)
    return value


def number(value: Any, loc: str, low: float, high: float | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(loc, "Input should be a valid number", InvalidParameterType)
    if value < low:
        raise refuse(loc, f"Input should be greater than or equal to {low:g}", DecimalBelowMin)
    if high is not None and value > high:
        raise refuse(loc, f"Input should be less than or equal to {high:g}", DecimalAboveMax)


def _quoted(options: tuple[str, ...]) -> str:
    quoted = [f"'{option}'" for option in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def literal(value: Any, loc: str, options: tuple[str, ...]) -> str:
    if value not in options or not isinstance(value, str):
        raise refuse(loc, f"Input should be {_quoted(options)}")
    return value


def tag(parent: dict[str, Any], loc: str, options: tuple[str, ...]) -> str:
    """The `type` of a tagged object, one of `options`."""
    kind = parent.get("type")
    if not isinstance(kind, str):
        raise refuse(loc, "Unable to extract tag using discriminator 'type'", InvalidParameterType)
    if kind not in options:
        expected = ", ".join(f"'{option}'" for option in options)
        raise refuse(
            loc, f"Input tag '{kind[:100]}' found using 'type' does not match any of the expected tags: {expected}"
        )
    return kind


def non_empty(items: list[Any], loc: str) -> list[Any]:
    if not items:
        raise refuse(loc, "List should have at least 1 item after validation, not 0", EmptyArray)
    return items


def json_bytes(value: Any, loc: str) -> int:
    """The bytes of `value` as JSON: a bound of its tokens. A value JSON cannot carry (nested deeper than the
    encoder goes, an integer beyond 64 bits) is refused: it could be neither counted nor forwarded."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        message = f"{loc}: Input is nested too deeply or holds a value JSON cannot carry"
        raise InvalidRequest(message, param=loc) from None
