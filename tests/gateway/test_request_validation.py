"""/v1 answers bad input with OpenAI's 400, naming the parameter, for every provider format; a fuzz finds no 5xx."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.gateway.errors import InvalidParameter
from apps.gateway.request_shape import request_shape

pytestmark = pytest.mark.django_db

CHAT = "/chat/completions"
USER = [{"role": "user", "content": "hi"}]
# one alias per wire format the gateway speaks upstream (tests/world.py)
FORMATS = ["gpt-4o-mini", "azure-gpt", "claude", "gemini"]


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        (CHAT, {"messages": USER, "temperature": "hot"}, "temperature", "invalid_type"),
        (CHAT, {"messages": USER, "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        (CHAT, {"messages": USER, "top_p": -0.1}, "top_p", "decimal_below_min_value"),
        (CHAT, {"messages": USER, "n": 0}, "n", "integer_below_min_value"),
        (CHAT, {"messages": USER, "n": True}, "n", "invalid_type"),
        (CHAT, {"messages": USER, "max_tokens": 1.5}, "max_tokens", "invalid_type"),
        (CHAT, {"messages": USER, "max_completion_tokens": 0}, "max_completion_tokens", "integer_below_min_value"),
        (CHAT, {"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        (CHAT, {"messages": USER, "stop": [1]}, "stop[0]", "invalid_type"),
        (CHAT, {"messages": USER, "stream": "yes"}, "stream", "invalid_type"),
        (CHAT, {"messages": USER, "stream_options": []}, "stream_options", "invalid_type"),
        (CHAT, {"messages": USER, "presence_penalty": 3}, "presence_penalty", "decimal_above_max_value"),
        (CHAT, {"messages": USER, "logit_bias": {"50256": 200}}, "logit_bias.50256", "decimal_above_max_value"),
        (CHAT, {"messages": USER, "tools": [{"type": "function"}]}, "tools[0].function", "invalid_type"),
        (CHAT, {"messages": USER, "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        (CHAT, {"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type", "invalid_value"),
        (CHAT, {}, "messages", "missing_required_parameter"),
        (CHAT, {"messages": []}, "messages", "empty_array"),
        (CHAT, {"messages": [1]}, "messages[0]", "invalid_type"),
        (CHAT, {"messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
        (CHAT, {"messages": [{"role": "boss", "content": "x"}]}, "messages[0].role", "invalid_value"),
        (CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
        (
            CHAT,
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
            "invalid_type",
        ),
        (
            CHAT,
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
            "messages[0].content[0].image_url",
            "invalid_type",
        ),
        (CHAT, {"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "invalid_type"),
        (
            CHAT,
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": 3}}]}]},
            "messages[0].tool_calls[0].function.name",
            "invalid_type",
        ),
        ("/completions", {}, "prompt", "missing_required_parameter"),
        ("/completions", {"prompt": [None]}, "prompt[0]", "invalid_type"),
        ("/completions", {"prompt": "x", "best_of": 21}, "best_of", "integer_above_max_value"),
        ("/embeddings", {"input": []}, "input", "empty_array"),
        ("/embeddings", {"input": "x", "encoding_format": "int8"}, "encoding_format", "invalid_value"),
        ("/embeddings", {"input": ["x"] * 2049}, "input", "array_above_max_length"),
    ],
)
def test_parameters_are_checked_as_openai_checks_them(path, body, param, code):
    with pytest.raises(InvalidParameter) as refused:
        request_shape(path, {"model": "m", **body}, image_tokens=1000)
    assert (refused.value.param, refused.value.code) == (param, code)
    assert refused.value.message and param.split("[")[0].split(".")[0] in refused.value.message


def _post(v1: str, key: str, body: object, path: str = CHAT) -> httpx.Response:
    return httpx.post(f"{v1}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def _openai_error(response: httpx.Response) -> dict[str, object]:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and isinstance(error["message"], str)
    return error


@pytest.mark.parametrize("model", FORMATS)
def test_a_hot_temperature_is_refused_before_any_provider_sees_it(live_server_url, world, model):
    response = _post(f"{live_server_url}/v1", world.key, {"model": model, "messages": USER, "temperature": "hot"})
    assert response.status_code == 400
    error = _openai_error(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "temperature", "invalid_type")


@pytest.mark.parametrize("model", FORMATS)
def test_a_message_that_is_not_an_object_is_400_in_every_format(live_server_url, world, model):
    response = _post(f"{live_server_url}/v1", world.key, {"model": model, "messages": [1]})
    assert response.status_code == 400
    assert _openai_error(response)["param"] == "messages[0]"


def test_the_mock_provider_checks_like_openai(mock_provider_url):
    from tests.conftest import UPSTREAM_API_KEY

    bad = {"model": "mock-gpt-4o-mini", "messages": USER, "temperature": "hot"}
    response = _post(mock_provider_url, UPSTREAM_API_KEY, bad)
    assert response.status_code == 400 and _openai_error(response)["param"] == "temperature"
    good = _post(mock_provider_url, UPSTREAM_API_KEY, {"model": "mock-gpt-4o-mini", "messages": USER, "n": 3})
    assert len(good.json()["choices"]) == 3


# Any JSON, and the shapes that reach deep into a translator: parts, tool calls, tools.
scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)
json_values = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "refusal", 3])},
    optional={"text": json_values, "image_url": json_values, "refusal": json_values},
)
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x", None])},
    optional={
        "content": json_values | st.lists(parts | json_values, max_size=3),
        "tool_calls": json_values | st.lists(st.fixed_dictionaries({"function": json_values}), max_size=2),
        "tool_call_id": json_values,
        "name": json_values,
    },
)
PARAMS = [
    "temperature", "top_p", "n", "max_tokens", "max_completion_tokens", "stop", "stream", "stream_options",
    "tools", "tool_choice", "response_format", "logit_bias", "user", "seed", "presence_penalty", "logprobs",
]  # fmt: skip
chat_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(FORMATS), "messages": st.lists(messages, max_size=3) | json_values},
    optional={name: json_values for name in PARAMS},
)
other_bodies = st.tuples(
    st.sampled_from(["/completions", "/embeddings"]),
    st.fixed_dictionaries(
        {"model": st.sampled_from(["gpt-4o-mini", "text-embedding-3-small", "claude", "gemini"])},
        optional={"prompt": json_values, "input": json_values, "n": json_values, "best_of": json_values},
    ),
)


def _no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        _openai_error(response)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=chat_bodies)
def test_fuzzed_chat_bodies_never_get_a_server_error(live_server_url, world, body):
    _no_server_error(_post(f"{live_server_url}/v1", world.key, body))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=other_bodies)
def test_fuzzed_completions_and_embeddings_never_get_a_server_error(live_server_url, world, case):
    path, body = case
    _no_server_error(_post(f"{live_server_url}/v1", world.key, body, path))
