"""A deterministic value for a JSON Schema: tool-call arguments and structured answers that validate.

`schema_value(schema)` follows `const`, `enum`, `default`, the first branch of `anyOf`/`oneOf`, `allOf`
(merged), local `$ref`s (`#/$defs/…`), `type` (or a list of types, first not null; Gemini's upper-case
names too) and the bounds of each type. Schemas come from clients, so anything goes: the walk is bounded in
depth and in values made, and a schema it cannot read (or cannot satisfy) gives a plain value, never an
exception. `pattern` and `not` are not followed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 12
MAX_VALUES = 2000  # values one schema may make, however it nests
MAX_ITEMS = 64  # items of one array (minItems above this is not met)
MAX_STRING = 4096  # characters of one string (minLength above this is not met)
STRING = "mock"
FORMATS = {
    "date-time": "2023-11-14T22:13:20Z",
    "date": "2023-11-14",
    "time": "22:13:20Z",
    "email": "mock@example.com",
    "idn-email": "mock@example.com",
    "uri": "https://example.com/mock",
    "url": "https://example.com/mock",
    "iri": "https://example.com/mock",
    "uri-reference": "/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
    "duration": "PT1S",
}
_TYPE_ORDER = ("object", "string", "integer", "number", "boolean", "array", "null")


def schema_value(schema: Any) -> Any:
    """A value valid against `schema` when the mock can make one (a plain value otherwise)."""
    return _Walk(root=schema).value(schema, depth=0, variant=0)


def schema_object(schema: Any) -> dict[str, Any]:
    """Tool arguments: an object valid against `schema`, `{}` when the schema does not describe an object."""
    value = schema_value(schema) if isinstance(schema, dict) else {}
    return value if isinstance(value, dict) else {}


@dataclass
class _Walk:
    root: Any
    made: int = 0

    def value(self, schema: Any, *, depth: int, variant: int) -> Any:
        self.made += 1
        if not isinstance(schema, dict) or depth > MAX_DEPTH or self.made > MAX_VALUES:
            return None
        schema = self._resolved(schema, depth)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[variant % len(enum)]
        if "default" in schema:
            return schema["default"]
        for combinator in ("anyOf", "oneOf"):
            branches = schema.get(combinator)
            if isinstance(branches, list) and branches:
                return self.value(_first_not_null(branches), depth=depth + 1, variant=variant)
        branches = schema.get("allOf")
        if isinstance(branches, list) and branches:
            return self.value(self._merged(schema, branches, depth), depth=depth + 1, variant=variant)
        return self._typed(schema, _type_of(schema), depth, variant)

    def _resolved(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """`schema` with its local `$ref` followed (a ref chain is bounded by the depth)."""
        for _ in range(MAX_DEPTH - depth + 1):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                return schema
            target = _pointer(self.root, ref)
            if not isinstance(target, dict):
                return {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        return {}

    def _merged(self, schema: dict[str, Any], branches: list[Any], depth: int) -> dict[str, Any]:
        """allOf as one schema: the branches' keys over each other, their properties and required lists joined."""
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        properties = dict(_dict(merged.get("properties")))
        required = list(_list(merged.get("required")))
        for branch in branches:
            if isinstance(branch, dict):
                branch = self._resolved(branch, depth)
                merged.update({key: value for key, value in branch.items() if key not in {"properties", "required"}})
                properties.update(_dict(branch.get("properties")))
                required += _list(branch.get("required"))
        merged.pop("allOf", None)
        return {**merged, "properties": properties, "required": required}

    def _typed(self, schema: dict[str, Any], kind: str | None, depth: int, variant: int) -> Any:
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return _string(schema, variant)
        if kind in {"integer", "number"}:
            return _number(schema, integer=kind == "integer", variant=variant)
        if kind == "boolean":
            return variant % 2 == 1
        if kind == "null":
            return None
        return STRING if variant == 0 else f"{STRING}-{variant}"

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
        least = _bound(schema.get("minProperties"), 0)
        names += [name for name in properties if name not in names][: max(0, least - len(names))]
        result: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            if self.made > MAX_VALUES:
                break
            result[name] = self.value(properties.get(name, _extra_schema(schema)), depth=depth + 1, variant=0)
        return result

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items")
        items = items if isinstance(items, dict) else {}
        least = min(_bound(schema.get("minItems"), 0), MAX_ITEMS)
        most = _bound(schema.get("maxItems"), MAX_ITEMS)
        count = min(max(least, 1, len(prefix)), most, MAX_ITEMS)
        return [
            self.value(prefix[index] if index < len(prefix) else items, depth=depth + 1, variant=index)
            for index in range(count)
        ]


def _type_of(schema: dict[str, Any]) -> str | None:
    declared = schema.get("type")
    kinds = declared if isinstance(declared, list) else [declared]
    named = [kind.lower() for kind in kinds if isinstance(kind, str) and kind.lower() in _TYPE_ORDER]
    if named:
        return next((kind for kind in named if kind != "null"), "null")
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _first_not_null(branches: list[Any]) -> Any:
    return next((b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")), branches[0])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pointer(root: Any, ref: str) -> Any:
    """The part of `root` a local reference (`#`, `#/$defs/name`) points at; None for any other reference."""
    if not ref.startswith("#"):
        return None
    node = root
    for token in ref[1:].split("/")[1:] if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _extra_schema(schema: dict[str, Any]) -> Any:
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _bound(value: Any, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return fallback
    return int(min(value, 2**31))


def _string(schema: dict[str, Any], variant: int) -> str:
    form = schema.get("format")
    text = FORMATS.get(form, "") if isinstance(form, str) else ""
    if not text:
        text = STRING if variant == 0 else f"{STRING}-{variant}"
    least = min(_bound(schema.get("minLength"), 0), MAX_STRING)
    most = _bound(schema.get("maxLength"), MAX_STRING)
    if len(text) < least:
        text += "x" * (least - len(text))
    return text[:most]


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if abs(value) < 2**53 else None


@dataclass(frozen=True)
class _Bound:
    value: float
    open: bool  # exclusive

    def passed_by(self, number: float, *, upper: bool) -> bool:
        """Whether `number` lies beyond this bound (above it for an upper bound, below for a lower)."""
        if upper:
            return number > self.value or (self.open and number >= self.value)
        return number < self.value or (self.open and number <= self.value)


def _bound_of(schema: dict[str, Any], closed: str, exclusive: str, *, upper: bool) -> _Bound | None:
    """The tighter of `minimum`/`exclusiveMinimum` (or the maxima); draft 4's boolean exclusive too."""
    bounds = []
    if (value := _finite(schema.get(closed))) is not None:
        bounds.append(_Bound(value, open=schema.get(exclusive) is True))
    if (value := _finite(schema.get(exclusive))) is not None:
        bounds.append(_Bound(value, open=True))
    if not bounds:
        return None
    tightest = (min if upper else max)(bound.value for bound in bounds)
    return _Bound(tightest, open=any(b.open for b in bounds if b.value == tightest))


def _number(schema: dict[str, Any], *, integer: bool, variant: int) -> int | float:
    """The smallest value from the minimum (0 without one), `variant` steps on, within the bounds."""
    low = _bound_of(schema, "minimum", "exclusiveMinimum", upper=False)
    high = _bound_of(schema, "maximum", "exclusiveMaximum", upper=True)
    step = _finite(schema.get("multipleOf"))
    if step is not None and step > 0:
        step = float(math.ceil(step)) if integer and step != int(step) else step
        number = _multiple(low, high, step, variant)
    elif integer:
        number = _multiple(low, high, 1.0, variant)
    else:
        number = _plain(low, high, variant)
    return int(number) if number == int(number) else number


def _multiple(low: _Bound | None, high: _Bound | None, step: float, variant: int) -> float:
    reach = max(abs(low.value) if low else 0.0, abs(high.value) if high else 0.0, 1.0) / step
    if not math.isfinite(reach) or reach > 2**53:  # a step too fine to count in: any number will do
        return _plain(low, high, variant)
    if low is not None:
        k = math.ceil(low.value / step)
        k += 1 if low.passed_by(k * step, upper=False) else 0
    else:
        k = 0 if high is None or not high.passed_by(0, upper=True) else math.floor(high.value / step)
    k += variant
    if high is not None:
        top = math.floor(high.value / step)
        top -= 1 if high.passed_by(top * step, upper=True) else 0
        k = min(k, top)
    return k * step


def _plain(low: _Bound | None, high: _Bound | None, variant: int) -> float:
    number = (low.value + (1 if low.open else 0) if low is not None else 0.0) + variant
    if high is None or not high.passed_by(number, upper=True):
        return number
    if low is not None:
        return (low.value + high.value) / 2
    return high.value - 1 if high.open else high.value
