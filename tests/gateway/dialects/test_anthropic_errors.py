"""Gateway and upstream errors in Anthropic's envelope, as bodies and as stream events."""

import orjson
import pytest
from hypothesis import given, settings

from apps.gateway.dialects.anthropic_errors import (
    anthropic_error,
    anthropic_error_event,
    hydite_error,
    hydite_error_event,
)
from apps.gateway.errors import (
    BodyTooLarge,
    InvalidApiKey,
    IpNotAllowed,
    MissingParameter,
    ModelNotFound,
    QuotaUnavailable,
    RpmLimitExceeded,
    UpstreamStreamBroken,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.gateway.dialects.anthropic_grammar import assert_messages_stream
from tests.gateway.dialects.hostile import json_values
from tests.gateway.upstreams.wire import WIRE


def recorded(provider: str, name: str) -> bytes:
    return (WIRE / provider / name).read_bytes()


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (405, "invalid_request_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (501, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_type_follows_the_status_which_is_kept(status, error_type):
    openai_error = {"message": "m", "type": "whatever", "param": None, "code": None}
    assert anthropic_error(status, openai_error) == (
        status,
        orjson.dumps({"type": "error", "error": {"type": error_type, "message": "m"}}),
    )


@pytest.mark.parametrize(
    ("openai_fixture", "status", "anthropic_fixture"),
    [
        ("error_401_invalid_api_key.json", 401, "error_401.json"),
        ("error_429_rate_limit.json", 429, "error_429_rate_limit.json"),
        ("error_400_invalid_request.json", 400, "error_400.json"),
    ],
)
def test_recorded_openai_errors_become_anthropic_envelopes(openai_fixture, status, anthropic_fixture):
    openai_error = orjson.loads(recorded("openai", openai_fixture))["error"]
    client_status, body = anthropic_error(status, openai_error, request_id="req_1")
    translated, anthropic = orjson.loads(body), orjson.loads(recorded("anthropic", anthropic_fixture))
    assert client_status == status
    assert translated["error"]["type"] == anthropic["error"]["type"]
    assert translated["error"]["message"] == openai_error["message"] and translated["request_id"] == "req_1"
    assert set(translated) == set(anthropic) and set(translated["error"]) == set(anthropic["error"])


def test_overloaded_529_keeps_its_status_and_matches_anthropics_body():
    status, body = anthropic_error(529, {"message": "Overloaded"}, request_id="req_011CZAZLDXQdVKwgHDw6GTiN")
    assert status == 529 and body == recorded("anthropic", "error_529_overloaded.json").strip()


@pytest.mark.parametrize(
    ("exc", "status", "error_type"),
    [
        (MissingParameter("max_tokens: Field required", param="max_tokens"), 400, "invalid_request_error"),
        (InvalidApiKey(), 401, "authentication_error"),
        (IpNotAllowed("nope"), 403, "permission_error"),
        (ModelNotFound("no such model"), 404, "not_found_error"),
        (BodyTooLarge("too big"), 413, "request_too_large"),
        (RpmLimitExceeded(), 429, "rate_limit_error"),
        (UpstreamUnavailable(), 502, "api_error"),
        (QuotaUnavailable(), 503, "overloaded_error"),
        (UpstreamTimeout(), 504, "timeout_error"),
    ],
)
def test_gateway_refusals_in_anthropics_envelope(exc, status, error_type):
    client_status, body = hydite_error(exc)
    assert client_status == status
    assert orjson.loads(body) == {"type": "error", "error": {"type": error_type, "message": exc.message}}


def test_error_events_have_anthropics_stream_shape():
    event = anthropic_error_event({"message": "Overloaded", "type": "overloaded_error"})
    assert orjson.loads(event.split(b"data: ")[1]) == orjson.loads(
        recorded("anthropic", "stream_error_event.sse").split(b"data: ")[1]
    )
    assert event.startswith(b"event: error\ndata: ") and event.endswith(b"\n\n")
    broken = hydite_error_event(UpstreamStreamBroken())
    assert assert_messages_stream(broken.decode())[0]["error"] == {
        "type": "api_error",
        "message": "The model provider's stream broke.",
    }


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        ({"type": "rate_limit_error"}, "rate_limit_error"),
        ({"type": "insufficient_quota", "code": "insufficient_quota"}, "rate_limit_error"),
        ({"type": "invalid_request_error", "code": "context_length_exceeded"}, "invalid_request_error"),
        ({"type": "server_error"}, "api_error"),
        ({"code": "overloaded"}, "overloaded_error"),
        ({"code": 429}, "rate_limit_error"),
        ({"code": True, "type": 5}, "api_error"),
    ],
)
def test_stream_error_type_without_status(error, error_type):
    event = orjson.loads(anthropic_error_event({"message": "m", **error}).split(b"data: ")[1])
    assert event["error"]["type"] == error_type


@settings(max_examples=200, deadline=None)
@given(error=json_values)
def test_hostile_error_objects_still_give_an_envelope(error):
    fields = error if isinstance(error, dict) else {"message": error}
    status, body = anthropic_error(500, fields)
    parsed = orjson.loads(body)
    assert status == 500 and parsed["error"]["type"] == "api_error" and isinstance(parsed["error"]["message"], str)
    assert assert_messages_stream(anthropic_error_event(fields).decode())[0]["type"] == "error"


def test_long_upstream_messages_are_cut():
    _status, body = anthropic_error(500, {"message": "x" * 100_000})
    assert len(orjson.loads(body)["error"]["message"]) == 2000
