"""The management API answers any input with its JSON envelope: malformed, hostile or unexpected, never a 5xx
or Django's HTML page."""

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.json_input import MAX_BODY_BYTES
from apps.keys.services import key_generate, management_key_create
from tests.conftest import EDGE_HOST, client_for

ENVELOPE = {"message", "type", "param", "code"}

# Every management API endpoint: method, path, and the fields it reads (body for POST, query for GET).
LIMITS = ["max_budget", "soft_budget", "budget_duration", "rpm_limit", "tpm_limit", "models", "blocked_models"]
LIMITS += ["allowed_ips"]
KEY_FIELDS = ["organization", "key", "key_id", "key_alias", "duration", "expires", "metadata", *LIMITS]
ENDPOINTS: list[tuple[str, str, list[str]]] = [
    ("post", "/key/generate", [*KEY_FIELDS, "team_id", "user_id", "channel_id"]),
    ("post", "/key/update", [*KEY_FIELDS, "blocked"]),
    ("post", "/key/regenerate", ["organization", "key", "key_id"]),
    ("post", "/key/delete", ["organization", "keys", "key_ids"]),
    ("post", "/key/info", ["organization", "key", "key_id"]),
    ("post", "/team/update", ["organization", "team_id", *LIMITS]),
    ("post", "/organization/update", ["organization", *LIMITS]),
    ("get", "/key/info", ["organization", "key", "key_id"]),
    ("get", "/key/list", ["organization", "team_id", "page", "size"]),
    ("get", "/spend/logs", ["organization", "key_id", "team_id", "model", "start", "end", "page", "page_size"]),
    ("get", "/spend/report", ["organization", "start", "end", "bucket", "group_by", "every_request", "format"]),
    ("get", "/spend/exports/1", ["organization"]),
    ("get", "/spend/exports/1/download", ["organization"]),
]


def _envelope(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ENVELOPE, body
    return body["error"]


@pytest.fixture
def callers(org_with_roles) -> dict[str, Client]:  # type: ignore[no-untyped-def]
    """The org admin by management key and by session, with a key of the organisation to act on."""
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    key_generate(organization=org, team=org_with_roles["platform"], user=admin, name="target", actor=admin)
    _, secret = management_key_create(organization=org, name="fuzz", actor=admin)
    return {"key": Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {secret}"), "session": client_for(admin)}


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": {"env": "a\u0000b"}},
        {"metadata": {"a\u0000": 1}},
        {"metadata": {"deep": json.loads("[" * 40 + "]" * 40)}},
        {"metadata": json.loads('{"a":' * 6 + "1" + "}" * 6)},
        {"metadata": {f"k{index}": index for index in range(60)}},
        {"metadata": {"big": "x" * 10_000}},
        '{"metadata": {"inf": 1e999}}',  # valid JSON, an infinite float to Python, refused by jsonb
        {"metadata": {"lone": "\ud800"}},
        {"key_alias": "nul\u0000"},
        {"models": ["gpt\u0000"]},
        {"metadata": [1, 2]},
        {"rpm_limit": {"a": 1}},
        {"max_budget": [1]},
        {"duration": 7},
        {"expires": "0001-01-01T00:00:00+14:00"},
    ],
)
def test_hostile_bodies_are_400s_naming_the_field(callers, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    for client in callers.values():
        response = client.post("/key/generate", raw, content_type="application/json")
        assert response.status_code == 400, response.content[:500]
        assert _envelope(response)["param"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (b'{"metadata": {"a": 1}', "application/json", 400),
        (b"\xff\xfe not utf-8", "application/json", 400),
        (b'{"key_alias": "x"}', "application/json; charset=rot13", 400),
        (b'{"key_alias": "x"}', "text/plain", 415),
        (b"key_alias=x", "application/x-www-form-urlencoded", 415),
        (b'{"key_alias": "' + b"x" * MAX_BODY_BYTES + b'"}', "application/json", 413),
        (b"NaN", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
    ],
)
def test_malformed_bodies_are_answered_in_the_envelope(callers, raw, content_type, status):
    response = callers["key"].generic("POST", "/key/generate", raw, content_type=content_type)
    assert response.status_code == status, response.content[:500]
    _envelope(response)


def test_unknown_management_urls_and_methods_are_json(callers):
    for client in callers.values():
        assert _envelope(client.get("/key/no-such-endpoint"))["code"] == "not_found"
        assert _envelope(client.post("/team/new", {}, content_type="application/json"))["code"] == "not_found"
        assert client.put("/key/generate").status_code == 405


def test_an_unexpected_error_is_a_json_500_without_its_traceback(callers, monkeypatch, caplog):
    def broken(**kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("apps.keys.services.key_generate", broken)
    response = callers["key"].post("/key/generate", {}, content_type="application/json")
    assert response.status_code == 500
    error = _envelope(response)
    assert error["code"] == "server_error" and "secret internals" not in response.content.decode()
    assert any("secret internals" in (record.exc_text or str(record.exc_info)) for record in caplog.records)


# Besides random values, the shapes that once answered 500: NUL and lone surrogates (PostgreSQL refuses them),
# numbers out of every column's range, deep nesting (the parser's recursion limit).
_hostile_text = st.sampled_from(["\x00", "a\x00b", "9" * 30, "-1", "", " ", "sk-hydite-" + "0" * 32])
_query_text = st.text(max_size=20) | _hostile_text
_text = _query_text | st.just("\ud800")  # a URL cannot carry a lone surrogate; its UTF-8-like bytes it can
_raw_query = st.sampled_from(["", "organization=%ED%A0%80", "key=%FF%FE", "page=%00", "start=%C0%AF"])
_scalars = st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70) | st.floats() | _text
_deep = st.integers(20, 200).map(lambda depth: json.loads("[" * depth + "]" * depth))
_json = _deep | st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def _calls(draw: st.DrawFn) -> tuple[str, str, str, str | None]:
    method, path, fields = draw(st.sampled_from(ENDPOINTS))
    caller = draw(st.sampled_from(["key", "session"]))
    if method == "get":
        query = draw(st.dictionaries(st.sampled_from([*fields, "junk"]), _query_text, max_size=4))
        return caller, method, f"{path}?{urlencode(query)}&{draw(_raw_query)}", None
    body = draw(_json | st.dictionaries(st.sampled_from(fields), _json, max_size=5))
    # deeper than Python's parser can go, written as text: no JSON library here could write it
    depth = draw(st.sampled_from([0, 0, 0, 5_000]))
    return caller, method, path, "[" * depth + json.dumps(body) + "]" * depth


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=_calls())
def test_fuzzed_calls_never_answer_5xx_and_4xx_are_the_envelope(callers, call):
    caller, method, path, payload = call
    client = callers[caller]
    response = client.get(path) if method == "get" else client.post(path, payload, content_type="application/json")
    assert response.status_code < 500, (call, response.content[:500])
    if response.status_code >= 400:
        _envelope(response)
