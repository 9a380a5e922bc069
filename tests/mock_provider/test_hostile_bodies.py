"""Hostile bodies to every model route of the mock provider: a 400 (or an answer), never a 500; hostile JSON
Schemas in forced tool calls: always a JSON object of arguments."""

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import UPSTREAM_API_KEY

BEARER = {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}
ANTHROPIC = {"x-api-key": UPSTREAM_API_KEY, "anthropic-version": "2023-06-01"}
# path, headers, a valid body, the fields hostile values go into
ROUTES: dict[str, tuple[str, dict, dict, list[str]]] = {
    "chat": (
        "/v1/chat/completions",
        BEARER,
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        ["model", "messages", "tools", "tool_choice", "response_format", "max_tokens", "n", "stream"],
    ),
    "embeddings": ("/v1/embeddings", BEARER, {"model": "m", "input": "hi"}, ["input", "dimensions", "encoding_format"]),
    "messages": (
        "/v1/messages",
        ANTHROPIC,
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        [
            "model",
            "max_tokens",
            "messages",
            "system",
            "tools",
            "tool_choice",
            "thinking",
            "stream",
            "cache_control",
            "output_config",
        ],
    ),
    "count_tokens": (
        "/v1/messages/count_tokens",
        ANTHROPIC,
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        ["model", "messages", "system", "tools"],
    ),
    "gemini": (
        "/v1beta/models/gemini-mock:generateContent",
        {"x-goog-api-key": UPSTREAM_API_KEY},
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        ["contents", "systemInstruction", "tools", "toolConfig", "generationConfig"],
    ),
    "responses": (
        "/v1/responses",
        BEARER,
        {"model": "m", "input": "hi", "store": False},
        [
            "model",
            "input",
            "instructions",
            "tools",
            "tool_choice",
            "text",
            "max_output_tokens",
            "previous_response_id",
            "stream",
            "temperature",
        ],
    ),
}
WORDS = ["user", "assistant", "tool", "function", "text", "input_text", "object", "json_schema", "any", "ANY", "auto"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "role", "content", "text", "name", "parts", "schema", "function", "format"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
SCHEMA_WORDS = [
    "type", "properties", "required", "items", "prefixItems", "enum", "const", "default", "anyOf", "oneOf", "allOf",
    "$ref", "$defs", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems",
    "maxItems", "minLength", "maxLength", "minProperties", "format", "additionalProperties",
]  # fmt: skip
schema_scalars = scalars | st.sampled_from(
    [
        "object",
        "string",
        "integer",
        "number",
        "array",
        "boolean",
        "null",
        "OBJECT",
        "#",
        "#/$defs/a",
        "date-time",
        "uuid",
    ]
)
schemas = st.recursive(
    schema_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(SCHEMA_WORDS) | st.sampled_from(["a", "b"]), inner, max_size=5)
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def http(mock_provider_url):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=mock_provider_url.removesuffix("/v1"), timeout=10) as client:
        yield client


def _checked(response: httpx.Response) -> None:
    assert response.status_code in {200, 400, 404}, (response.status_code, response.text[:500])
    if response.status_code != 200:
        assert response.json()["error"]  # each provider's error shape has an "error"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(sorted(ROUTES)), data=st.data())
def test_hostile_fields_are_refused_or_answered_never_a_500(http, route, data):
    path, headers, valid, fields = ROUTES[route]
    chosen = data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True))
    body = {**valid, **{name: data.draw(json_values, label=name) for name in chosen}}
    _checked(http.post(path, headers=headers, json=body))


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b'{"model": "m"}' * 2, b"1e999"])
def test_bodies_that_are_not_objects_are_400s(http, route, raw):
    path, headers, _, _ = ROUTES[route]
    _checked(http.post(path, headers={**headers, "Content-Type": "application/json"}, content=raw))


def _forced_call(route: str, schema: Any) -> tuple[str, dict, dict]:
    if route == "chat":
        tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "go"}],
            "tools": [tool],
            "tool_choice": "required",
        }
        return "/v1/chat/completions", BEARER, body
    if route == "messages":
        tools = [{"name": "f", "input_schema": schema}]
        body = {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "go"}],
            "tools": tools,
            "tool_choice": {"type": "any"},
        }
        return "/v1/messages", ANTHROPIC, body
    if route == "gemini":
        body = {
            "contents": [{"role": "user", "parts": [{"text": "go"}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": schema}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        }
        return "/v1beta/models/gemini-mock:generateContent", {"x-goog-api-key": UPSTREAM_API_KEY}, body
    tools = [{"type": "function", "name": "f", "parameters": schema}]
    return (
        "/v1/responses",
        BEARER,
        {"model": "m", "input": "go", "tools": tools, "tool_choice": "required", "store": False},
    )


def _arguments(route: str, answer: dict) -> Any:
    if route == "chat":
        return json.loads(answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    if route == "messages":
        return answer["content"][0]["input"]
    if route == "gemini":
        return answer["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]
    return json.loads(answer["output"][0]["arguments"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(["chat", "messages", "gemini", "responses"]), schema=schemas)
def test_a_hostile_schema_still_gets_an_object_of_arguments(http, route, schema):
    path, headers, body = _forced_call(route, schema)
    response = http.post(path, headers=headers, json=body)
    if response.status_code == 400:  # OpenAI's checks refuse parameters that are not an object
        assert route in {"chat", "responses"} and not isinstance(schema, dict | None)
        return
    assert response.status_code == 200, response.text[:500]
    assert isinstance(_arguments(route, response.json()), dict)
