"""Anthropic Messages requests are checked as Anthropic checks them, with its messages, and bounded in tokens;
no body, however hostile, gets anything but a 400."""

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.errors import HyditeError
from apps.gateway.dialects.anthropic_request import messages_to_chat
from apps.gateway.dialects.anthropic_shape import messages_shape
from apps.gateway.errors import InvalidParameter, InvalidRequest
from apps.gateway.request_shape import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS
from tests.gateway.dialects.anthropic_bodies import rich_body, user
from tests.gateway.dialects.hostile import json_values

IMAGE_TOKENS = 1500
BODY_FIELDS = ["model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking", "stop_sequences"]
TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]


def refusal(body: dict[str, Any]) -> HyditeError:
    with pytest.raises(HyditeError) as caught:
        messages_shape(body, image_tokens=IMAGE_TOKENS)
    assert caught.value.status == 400
    return caught.value


def without(name: str) -> dict[str, Any]:
    body = user("hi")
    del body[name]
    return body


def text_block(text: Any) -> dict[str, Any]:
    return {"type": "text", "text": text}


REFUSALS = [
    (without("model"), "model", "model: Field required"),
    (user("hi", model=""), "model", "model: String should have at least 1 character"),
    (user("hi", model=3), "model", "model: Input should be a valid string"),
    (without("max_tokens"), "max_tokens", "max_tokens: Field required"),
    (user("hi", max_tokens=0), "max_tokens", "max_tokens: Input should be greater than or equal to 1"),
    (user("hi", max_tokens=1.5), "max_tokens", "max_tokens: Input should be a valid integer"),
    (user("hi", max_tokens=True), "max_tokens", "max_tokens: Input should be a valid integer"),
    (without("messages"), "messages", "messages: Field required"),
    ({**user("hi"), "messages": []}, "messages", "messages: List should have at least 1 item after validation, not 0"),
    ({**user("hi"), "messages": {"role": "user"}}, "messages", "messages: Input should be a valid list"),
    ({**user("hi"), "messages": ["hi"]}, "messages.0", "messages.0: Input should be a valid dictionary"),
    (
        {**user("hi"), "messages": [{"role": "system", "content": "x"}]},
        "messages.0.role",
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    ({**user("hi"), "messages": [{"role": "user"}]}, "messages.0.content", "messages.0.content: Field required"),
    (user(5), "messages.0.content", "messages.0.content: Input should be a valid list"),
    (
        user(""),
        "messages.0",
        "messages.0: all messages must have non-empty content except for the optional final assistant message",
    ),
    (user([text_block(3)]), "messages.0.content.0.text", "messages.0.content.0.text: Input should be a valid string"),
    (
        user([{"type": "video"}]),
        "messages.0.content.0",
        "messages.0.content.0: Input tag 'video' found using 'type' does not match any of the expected tags: "
        "'text', 'image', 'document', 'tool_result'",
    ),
    (
        user([{"text": "x"}]),
        "messages.0.content.0",
        "messages.0.content.0: Unable to extract tag using discriminator 'type'",
    ),
    (
        user([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]),
        "messages.0.content.0",
        "messages.0.content.0: Input tag 'tool_use' found using 'type' does not match any of the expected tags: "
        "'text', 'image', 'document', 'tool_result'",
    ),
    (
        user([{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "x"}}]),
        "messages.0.content.0.source.media_type",
        "messages.0.content.0.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or "
        "'image/webp'",
    ),
    (
        user([{"type": "image", "source": {"type": "file", "file_id": "f"}}]),
        "messages.0.content.0.source",
        "messages.0.content.0.source: Input tag 'file' found using 'type' does not match any of the expected tags: "
        "'base64', 'url'",
    ),
    (
        user([{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]),
        "messages.0.content.0.source",
        "messages.0.content.0.source: document sources of type 'url' are not supported by this gateway; "
        "send the document as base64",
    ),
    (
        user([{"type": "tool_result", "content": "x"}]),
        "messages.0.content.0.tool_use_id",
        "messages.0.content.0.tool_use_id: Field required",
    ),
    (
        user([{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}]),
        "messages.0.content.0.is_error",
        "messages.0.content.0.is_error: Input should be a valid boolean",
    ),
    (
        {**user("x"), "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f"}]}]},
        "messages.0.content.0.input",
        "messages.0.content.0.input: Field required",
    ),
    (user("hi", system=[{"type": "text"}]), "system.0.text", "system.0.text: Field required"),
    (user("hi", system=7), "system", "system: Input should be a valid list"),
    (user("hi", tools=[{"name": "f"}]), "tools.0.input_schema", "tools.0.input_schema: Field required"),
    (
        user("hi", tools=[{"name": "bad name", "input_schema": {}}]),
        "tools.0.name",
        "tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (user("hi", tools={"name": "f"}), "tools", "tools: Input should be a valid list"),
    (user("hi", tools=[*TOOLS, *TOOLS]), "tools", "tools: Tool names must be unique."),
    (
        user("hi", tools=TOOLS, tool_choice={"type": "required"}),
        "tool_choice",
        "tool_choice: Input tag 'required' found using 'type' does not match any of the expected tags: "
        "'auto', 'any', 'tool', 'none'",
    ),
    (
        user("hi", tools=TOOLS, tool_choice={"type": "tool"}),
        "tool_choice.tool.name",
        "tool_choice.tool.name: Field required",
    ),
    (user("hi", temperature=1.5), "temperature", "temperature: Input should be less than or equal to 1"),
    (user("hi", temperature="warm"), "temperature", "temperature: Input should be a valid number"),
    (user("hi", top_p=-0.1), "top_p", "top_p: Input should be greater than or equal to 0"),
    (user("hi", top_k=-1), "top_k", "top_k: Input should be greater than or equal to 0"),
    (user("hi", stop_sequences="END"), "stop_sequences", "stop_sequences: Input should be a valid list"),
    (user("hi", stop_sequences=["a", 1]), "stop_sequences.1", "stop_sequences.1: Input should be a valid string"),
    (user("hi", stream="yes"), "stream", "stream: Input should be a valid boolean"),
    (user("hi", metadata=[]), "metadata", "metadata: Input should be a valid dictionary"),
    (user("hi", metadata={"user_id": 5}), "metadata.user_id", "metadata.user_id: Input should be a valid string"),
    (
        user("hi", thinking={"type": "enabled"}),
        "thinking.enabled.budget_tokens",
        "thinking.enabled.budget_tokens: Field required",
    ),
    (
        user("hi", max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 512}),
        "thinking.enabled.budget_tokens",
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        user("hi", thinking={"type": "on"}),
        "thinking",
        "thinking: Input tag 'on' found using 'type' does not match any of the expected tags: "
        "'enabled', 'disabled', 'adaptive'",
    ),
]


@pytest.mark.parametrize(("body", "param", "message"), REFUSALS, ids=[case[2][:60] for case in REFUSALS])
def test_refusals_name_the_field_as_anthropic_does(body, param, message):
    refused = refusal(body)
    assert isinstance(refused, InvalidParameter)
    assert (refused.param, refused.message) == (param, message)


def test_thinking_budget_must_stay_below_max_tokens():
    refused = refusal(user("hi", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 2048}))
    assert refused.message.startswith("`max_tokens` must be greater than `thinking.budget_tokens`.")


def test_rich_body_and_unknown_parameters_pass():
    shape = messages_shape(rich_body(), image_tokens=IMAGE_TOKENS)
    assert (shape.completion_tokens, shape.choices, shape.images) == (8192, 1, 3)
    assert messages_shape(user("hi", betas_of_tomorrow={"x": [1]}), image_tokens=0).prompt_tokens > 0


def test_empty_final_assistant_message_is_a_prefill():
    body = {**user("hi"), "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}
    messages_shape(body, image_tokens=0)
    body["messages"].reverse()
    assert refusal(body).param == "messages.0"


def test_prompt_bound_counts_every_text_byte():
    text = "héllo wörld"
    bound = messages_shape(user(text, system="sys"), image_tokens=0).prompt_tokens
    expected = REPLY_PRIMING_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + len(text.encode()) + len(b"sys")
    assert bound == expected


def test_prompt_bound_counts_images_tools_inputs_and_results():
    body = rich_body()
    bound = messages_shape(body, image_tokens=IMAGE_TOKENS).prompt_tokens
    texts = [
        "You are a coding agent.",
        "Be brief.",
        "What is in this picture, and the weather in Paris?",
        "note body",
        "Notes",
        "Need the weather tool.",
        "A cat. Checking the weather.",
        "Here you go.",
        "18°C, sunny",
        "partial capture",
    ]
    floor = sum(len(text.encode()) for text in texts) + 3 * IMAGE_TOKENS + len(orjson.dumps(body["tools"]))
    floor += len(orjson.dumps({"city": "Paris"})) + len(body["messages"][0]["content"][3]["source"]["data"])
    assert bound >= floor
    bigger = rich_body()
    bigger["messages"][1]["content"][3]["input"] = {"city": "Paris" * 1000}
    assert messages_shape(bigger, image_tokens=IMAGE_TOKENS).prompt_tokens - bound == len("Paris") * 999


def nested(depth: int) -> Any:
    """Objects `depth` deep, as the gateway's parser reads them (orjson reads 1024 levels, writes 254)."""
    return orjson.loads('{"a":' * depth + '"leaf"' + "}" * depth)


def test_deep_nesting_where_it_would_be_forwarded_is_a_clear_400():
    tool_use = {"type": "tool_use", "id": "t", "name": "f", "input": nested(600)}
    refused = refusal({**user("x"), "messages": [{"role": "assistant", "content": [tool_use]}]})
    assert isinstance(refused, InvalidRequest) and refused.param == "messages.0.content.0.input"
    assert refusal(user("x", tools=[{"name": "f", "input_schema": nested(600)}])).param == "tools"


def test_deep_nesting_in_an_unknown_parameter_passes_untouched():
    body = user("x", beta_thing=nested(1000))
    messages_shape(body, image_tokens=0)
    assert "beta_thing" not in messages_to_chat(body)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a body a value sits at."""
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


RICH_PATHS = paths(rich_body())


def checked_then_translated(body: dict[str, Any]) -> None:
    """The property: a 400 from the check, or a translation that serializes."""
    try:
        messages_shape(body, image_tokens=IMAGE_TOKENS)
    except HyditeError as refused:
        assert refused.status == 400 and refused.message and refused.param
        return
    assert orjson.loads(orjson.dumps(messages_to_chat(body)))["messages"] is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(RICH_PATHS), replacement=json_values, delete=st.booleans())
def test_any_field_of_a_valid_body_replaced_or_removed_gives_a_400_or_a_translation(path, replacement, delete):
    body = copy.deepcopy(rich_body())
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    checked_then_translated(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(BODY_FIELDS), json_values))
def test_random_bodies_give_a_400_or_a_translation(body):
    checked_then_translated(body)
