"""Responses requests are checked as OpenAI checks them (its messages, `param` and codes); what the translation
cannot carry is refused with the reason, unless the request passes through; and the token bounds."""

from typing import Any

import pytest

from apps.gateway.dialects.responses_shape import responses_shape
from apps.gateway.errors import InvalidParameter, InvalidRequest
from apps.gateway.request_shape import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS
from tests.gateway.dialects.responses_bodies import SHELL, codex_body, plain

WEB_SEARCH = {"type": "web_search"}


def refusal(body: dict[str, Any], *, passthrough: bool = False) -> InvalidParameter | InvalidRequest:
    with pytest.raises((InvalidParameter, InvalidRequest)) as caught:
        responses_shape(body, image_tokens=100, passthrough=passthrough)
    assert caught.value.status == 400
    return caught.value


def test_codex_body_is_accepted_with_its_bounds():
    shape = responses_shape(codex_body(), image_tokens=1000)
    assert shape.completion_tokens == 4096 and shape.choices == 1 and shape.images == 2
    assert shape.prompt_tokens > 2000  # two images of 1000, and every text


def test_token_bound_of_a_plain_request():
    shape = responses_shape(plain(), image_tokens=0)
    assert shape.prompt_tokens == REPLY_PRIMING_TOKENS + MESSAGE_OVERHEAD_TOKENS + len("hello")
    assert shape.completion_tokens is None and shape.images == 0
    with_instructions = responses_shape(plain(instructions="héllo"), image_tokens=0)
    assert with_instructions.prompt_tokens == shape.prompt_tokens + MESSAGE_OVERHEAD_TOKENS + len("héllo".encode())


def test_tools_schemas_and_items_count():
    base = responses_shape(plain(), image_tokens=0).prompt_tokens
    assert responses_shape(plain(tools=[SHELL]), image_tokens=0).prompt_tokens > base + 200
    schema = {"type": "json_schema", "name": "n", "schema": {"type": "object", "description": "x" * 500}}
    assert responses_shape(plain(text={"format": schema}), image_tokens=0).prompt_tokens > base + 500
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "a" * 300}
    assert responses_shape(plain(input=[call]), image_tokens=0).prompt_tokens > 300


def test_previous_response_id_stands_for_the_input():
    assert responses_shape({"model": "m", "previous_response_id": "resp_1"}, image_tokens=0).prompt_tokens > 0
    assert responses_shape({"model": "m", "previous_response_id": "resp_1", "input": []}, image_tokens=0)


def item(**fields: Any) -> dict[str, Any]:
    return plain(input=[fields])


# (body, param, code, message): OpenAI's own wording where it has one.
REFUSED = [
    ({"input": "x"}, "model", "missing_required_parameter", "Missing required parameter: 'model'."),
    (
        {"model": 4, "input": "x"},
        "model",
        "invalid_type",
        "Invalid type for 'model': expected a string, but got an integer instead.",
    ),
    ({"model": "m"}, "input", "missing_required_parameter", "Missing required parameter: 'input'."),
    (
        plain(input=5),
        "input",
        "invalid_type",
        "Invalid type for 'input': expected one of a string or array of input items, but got an integer instead.",
    ),
    (plain(input=[3]), "input[0]", "invalid_type", "Invalid type for 'input[0]': expected an object"),
    (plain(input=[{"content": "x"}]), "input[0].type", "missing_required_parameter", "'input[0].type'"),
    (
        item(role="robot", content="x"),
        "input[0].role",
        "invalid_value",
        "Invalid value: 'robot'. Supported values are: 'user', 'assistant', 'system', and 'developer'.",
    ),
    (item(role="user"), "input[0].content", "missing_required_parameter", "'input[0].content'"),
    (
        item(role="user", content=7),
        "input[0].content",
        "invalid_type",
        "expected one of a string or array of input content, but got an integer instead.",
    ),
    (
        item(role="assistant", content=[{"type": "input_image", "image_url": "https://x/y.png"}]),
        "input[0].content[0].type",
        "invalid_value",
        "Supported values are: 'output_text', 'refusal', and 'input_text'.",
    ),
    (item(role="user", content=[{"type": "input_text"}]), "input[0].content[0].text", "missing_required_parameter", ""),
    (
        item(role="user", content=[{"type": "input_image", "file_id": "file-1"}]),
        "input[0].content[0].file_id",
        "invalid_value",
        "Images by 'file_id' are not supported",
    ),
    (
        item(role="user", content=[{"type": "input_image", "detail": "low"}]),
        "input[0].content[0].image_url",
        "missing_required_parameter",
        "",
    ),
    (
        item(role="user", content=[{"type": "input_image", "image_url": "u", "detail": "max"}]),
        "input[0].content[0].detail",
        "invalid_value",
        "Supported values are: 'auto', 'low', and 'high'.",
    ),
    (
        item(role="user", content=[{"type": "input_file", "file_url": "https://x/a.pdf"}]),
        "input[0].content[0].file_url",
        "invalid_value",
        "Files by 'file_url' are not supported",
    ),
    (
        item(role="user", content=[{"type": "input_file"}]),
        "input[0].content[0].file_data",
        "missing_required_parameter",
        "",
    ),
    (item(type="function_call", name="f", arguments="{}"), "input[0].call_id", "missing_required_parameter", ""),
    (
        item(type="function_call", call_id="c", name="f", arguments={"a": 1}),
        "input[0].arguments",
        "invalid_type",
        "expected a string, but got an object instead.",
    ),
    (
        item(type="function_call_output", call_id="c", output=3),
        "input[0].output",
        "invalid_type",
        "expected one of a string or array of output content",
    ),
    (
        item(type="function_call_output", call_id="c", output=[{"type": "refusal", "refusal": "x"}]),
        "input[0].output[0].type",
        "invalid_value",
        "",
    ),
    (
        item(type="web_search_call", id="ws_1", status="completed"),
        "input[0].type",
        "invalid_value",
        "Invalid value: 'web_search_call'. Items of this type are not supported for this model",
    ),
    (item(type="item_reference", id="msg_1"), "input[0].type", "invalid_value", "'item_reference'"),
    (item(type="reasoning", summary="x"), "input[0].summary", "invalid_type", ""),
    (
        item(role="user", content="x", status="done"),
        "input[0].status",
        "invalid_value",
        "'in_progress', 'completed', and 'incomplete'",
    ),
    (plain(tools={"a": 1}), "tools", "invalid_type", "Invalid type for 'tools': expected an array"),
    (
        plain(tools=[WEB_SEARCH]),
        "tools[0].type",
        "invalid_value",
        "Tools of type 'web_search' are not supported for this model: the gateway translates only function tools",
    ),
    (plain(tools=[{"name": "f"}]), "tools[0].type", "missing_required_parameter", ""),
    (plain(tools=[{"type": "function"}]), "tools[0].name", "missing_required_parameter", ""),
    (
        plain(tools=[{"type": "function", "name": "has space"}]),
        "tools[0].name",
        "invalid_value",
        "string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
    ),
    (
        plain(tools=[{"type": "function", "name": "f" * 65}]),
        "tools[0].name",
        "string_above_max_length",
        "Expected a string with maximum length 64, but got a string with length 65 instead.",
    ),
    (plain(tools=[SHELL, SHELL]), "tools[1].name", "invalid_value", "duplicate function name 'shell'"),
    (plain(tools=[{**SHELL, "parameters": []}]), "tools[0].parameters", "invalid_type", ""),
    (plain(tools=[{**SHELL, "strict": "yes"}]), "tools[0].strict", "invalid_type", ""),
    (
        plain(tools=[SHELL], tool_choice="any"),
        "tool_choice",
        "invalid_value",
        "Supported values are: 'none', 'auto', and 'required'.",
    ),
    (
        plain(tool_choice="required"),
        "tool_choice",
        "invalid_value",
        "Tool choice 'required' must be specified with 'tools' parameter.",
    ),
    (
        plain(tools=[SHELL], tool_choice={"type": "function", "name": "nope"}),
        "tool_choice.name",
        "invalid_value",
        "Tool choice 'function' with name 'nope' not found in 'tools' parameter.",
    ),
    (plain(tools=[SHELL], tool_choice={"type": "web_search_preview"}), "tool_choice.type", "invalid_value", ""),
    (plain(tools=[SHELL], tool_choice=3), "tool_choice", "invalid_type", ""),
    (
        plain(tools=[SHELL], tool_choice={"type": "allowed_tools", "mode": "auto", "tools": []}),
        "tool_choice.tools",
        "empty_array",
        "",
    ),
    (plain(text={"format": {"type": "xml"}}), "text.format.type", "invalid_value", "'text', 'json_object', and"),
    (
        plain(text={"format": {"type": "json_schema", "schema": {}}}),
        "text.format.name",
        "missing_required_parameter",
        "",
    ),
    (
        plain(text={"format": {"type": "json_schema", "name": "n"}}),
        "text.format.schema",
        "missing_required_parameter",
        "",
    ),
    (
        plain(text={"format": {"type": "json_schema", "name": "n", "schema": []}}),
        "text.format.schema",
        "invalid_type",
        "",
    ),
    (plain(text={"verbosity": "loud"}), "text.verbosity", "invalid_value", ""),
    (plain(text="json"), "text", "invalid_type", ""),
    (plain(reasoning={"effort": "extreme"}), "reasoning.effort", "invalid_value", "'none', 'minimal', 'low'"),
    (plain(reasoning={"summary": "long"}), "reasoning.summary", "invalid_value", ""),
    (
        plain(max_output_tokens=15),
        "max_output_tokens",
        "integer_below_min_value",
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 15 instead.",
    ),
    (plain(max_output_tokens=16.5), "max_output_tokens", "invalid_type", ""),
    (
        plain(temperature=2.5),
        "temperature",
        "decimal_above_max_value",
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.",
    ),
    (plain(top_p=-0.1), "top_p", "decimal_below_min_value", ""),
    (plain(store="yes"), "store", "invalid_type", "Invalid type for 'store': expected a boolean, but got a string"),
    (plain(stream=1), "stream", "invalid_type", ""),
    (plain(previous_response_id=5), "previous_response_id", "invalid_type", ""),
    (plain(instructions=["a"]), "instructions", "invalid_type", ""),
    (plain(truncation="middle"), "truncation", "invalid_value", "Supported values are: 'auto' and 'disabled'."),
    (plain(include="reasoning"), "include", "invalid_type", ""),
    (
        plain(metadata={str(n): "v" for n in range(17)}),
        "metadata",
        "object_above_max_properties",
        "Expected an object with at most 16 properties, but got an object with 17 properties instead.",
    ),
    (plain(metadata={"k": "v" * 513}), "metadata.k", "string_above_max_length", ""),
    (plain(metadata={"k" * 65: "v"}), "metadata", "string_above_max_length", ""),
    (plain(metadata={"k": 1}), "metadata.k", "invalid_type", ""),
    (plain(background=True), "background", "invalid_value", "Background mode is not supported by this gateway"),
    (plain(conversation="conv_1"), "conversation", "invalid_value", "Conversations are not supported"),
    (plain(prompt={"id": "pmpt_1"}), "prompt", "invalid_value", "Prompt templates are not supported"),
    (plain(top_logprobs=5), "top_logprobs", "invalid_value", "not supported"),
    (plain(top_logprobs=21), "top_logprobs", "integer_above_max_value", ""),
    (plain(max_tool_calls=0), "max_tool_calls", "integer_below_min_value", ""),
    (plain(stream_options={"include_obfuscation": "no"}), "stream_options.include_obfuscation", "invalid_type", ""),
]


@pytest.mark.parametrize(("body", "param", "code", "message"), REFUSED)
def test_refusals_name_the_parameter_as_openai_does(body, param, code, message):
    refused = refusal(body)
    assert (refused.param, refused.code) == (param, code)
    assert message in refused.message


def test_passthrough_accepts_what_only_the_responses_api_carries():
    """Built-in tools, their items, files by id or URL, logprobs, prompt templates: the provider runs them."""
    body = plain(
        tools=[WEB_SEARCH, {"type": "custom", "name": "apply_patch"}, SHELL],
        tool_choice={"type": "web_search_preview"},
        top_logprobs=3,
        prompt={"id": "pmpt_1"},
        input=[
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
            {"type": "item_reference", "id": "msg_1"},
            {"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}, {"type": "input_audio"}]},
            {"role": "user", "content": [{"type": "input_file", "file_url": "https://example.com/a.pdf"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "e" * 400},
        ],
    )
    shape = responses_shape(body, image_tokens=100, passthrough=True)
    assert shape.images == 1 and shape.prompt_tokens > 400  # the encrypted reasoning goes to the provider
    assert refusal(plain(background=True), passthrough=True).param == "background"
    assert refusal(plain(tools=[WEB_SEARCH], tool_choice={"type": "function", "name": "x"}), passthrough=True)


def test_values_json_cannot_carry_are_refused_not_crashed():
    deep: Any = {}
    for _ in range(300):
        deep = {"d": deep}
    assert refusal(plain(tools=[{**SHELL, "parameters": deep}])).param == "tools"
    assert refusal(plain(input=[{"type": "reasoning", "summary": []}, {"type": "x", "v": deep}]), passthrough=True)
    assert refusal(plain(extension={"v": deep}), passthrough=True)  # a field only the provider reads
    assert responses_shape(plain(extension={"v": deep}), image_tokens=0)  # translated: not sent on
