"""The values the mock makes from JSON Schemas: valid against every satisfiable schema of the kinds agents send,
and a plain value (never an exception) from anything else."""

import math
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.mock_provider.schema_values import MAX_VALUES, schema_object, schema_value

bounds = st.integers(min_value=-1000, max_value=1000)


@st.composite
def numbers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["integer", "number"]))
    low, width = draw(bounds), draw(st.integers(min_value=7, max_value=100))  # room for a multiple of 3
    schema: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + width
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([1, 2, 0.5, 0.25] if kind == "number" else [1, 2, 3]))
    return schema


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    least = draw(st.integers(min_value=0, max_value=20))
    if draw(st.booleans()):
        schema["minLength"] = least
    if draw(st.booleans()):
        schema["maxLength"] = least + draw(st.integers(min_value=0, max_value=10))
    if draw(st.booleans()):
        schema = {
            "type": "string",
            "format": draw(st.sampled_from(["date-time", "date", "email", "uri", "uuid", "ipv4"])),
        }
    return schema


leaves = (
    numbers()
    | strings()
    | st.just({"type": "boolean"})
    | st.just({"type": "null"})
    | st.lists(st.text(max_size=4) | st.integers(), min_size=1, max_size=4, unique=True).map(lambda e: {"enum": e})
    | st.integers().map(lambda c: {"const": c})
    | st.just({})
)


def _nested(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=4).flatmap(
        lambda properties: st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.just(properties),
                "required": st.sets(st.sampled_from(sorted(properties)) if properties else st.nothing()).map(sorted),
                "additionalProperties": st.booleans(),
            }
        )
    )
    arrays = st.fixed_dictionaries(
        {"type": st.just("array"), "items": inner, "minItems": st.integers(min_value=0, max_value=5)}
    )
    unions = st.lists(inner, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches})
    nullable = inner.map(lambda schema: {"anyOf": [{"type": "null"}, schema]})
    return objects | arrays | unions | nullable


satisfiable = st.recursive(leaves, _nested, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(schema=satisfiable)
def test_a_value_is_valid_against_its_schema(schema):
    jsonschema.validate(schema_value(schema), schema, format_checker=jsonschema.FormatChecker())


def test_refs_defaults_all_of_and_gemini_types():
    schema = {
        "type": "object",
        "properties": {
            "node": {"$ref": "#/$defs/Node"},
            "limit": {"type": "integer", "default": 7},
            "both": {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"required": ["b"]}]},
            "legacy": {"type": "number", "minimum": 5, "exclusiveMinimum": True},
        },
        "required": ["node", "limit", "both", "legacy"],
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}, "required": ["next"]}},
    }
    value = schema_value(schema)
    assert value["limit"] == 7 and set(value["both"]) == {"a", "b"} and value["legacy"] > 5
    depth, node = 0, value["node"]
    while isinstance(node, dict):  # a recursive schema stops, deeper than any agent's
        depth, node = depth + 1, node.get("next")
    assert 5 < depth < 20
    gemini = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}
    assert schema_object(gemini) == {"city": "mock"}


def test_hostile_schemas_give_plain_values():
    hostile: list[Any] = [
        None,
        True,
        [1, 2],
        "object",
        {"$ref": "#"},
        {"$ref": "https://example.com/schema.json"},
        {"$ref": "#/nowhere/at/all"},
        {"type": "array", "minItems": 10**12, "items": {"type": "array", "minItems": 10**12}},
        {"type": "string", "minLength": 10**12},
        {"type": "number", "minimum": 1e308, "multipleOf": 1e-308},
        {"type": "integer", "minimum": "5", "maximum": [1]},
        {"type": "object", "required": ["a"] * 100_000},
        {"anyOf": []},
        {"allOf": [5, None, {"$ref": "#"}]},
        {"type": ["null"]},
        {"type": 42},
    ]
    for schema in hostile:
        schema_value(schema)
        assert isinstance(schema_object(schema), dict)
    wide = {
        "type": "object",
        "properties": {
            f"p{n}": {
                "type": "object",
                "properties": {f"q{m}": {} for m in range(100)},
                "required": [f"q{m}" for m in range(100)],
            }
            for n in range(100)
        },
        "required": [f"p{n}" for n in range(100)],
    }
    made = schema_value(wide)
    assert sum(len(inner) for inner in made.values()) <= MAX_VALUES  # bounded, however wide
    assert math.isfinite(schema_value({"type": "number", "minimum": 1e308, "multipleOf": 1e-308}))
