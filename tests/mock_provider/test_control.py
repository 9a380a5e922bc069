"""The mock provider's control API: faults set, listed and cleared; request counts per target; bad input."""

import re
import uuid

import httpx
import pytest

from tests.mock_provider.conftest import AUTH, HELLO, fault_put, target_stats


def test_a_fault_is_listed_with_what_remains_and_cleared(mock_root, target):
    stored = fault_put(mock_root, target, status=503, count=2, retry_after=7)
    assert stored == {
        "status": 503,
        "count": 2,
        "delay_ms": 0,
        "retry_after": "7",
        "retry_after_ms": None,
        "timeout": False,
        "break_after": None,
        "error": None,
        "first_byte_delay_ms": 0,
        "idle_ms": 0,
        "idle_after": None,
        "remaining": 2,
    }
    httpx.post(f"{mock_root}/mock/{target}/v1/chat/completions", headers=AUTH, json=HELLO)
    assert httpx.get(f"{mock_root}/mock/faults").json()[target]["remaining"] == 1
    cleared = httpx.delete(f"{mock_root}/mock/faults/{target}")
    assert cleared.status_code == 200 and cleared.json() == {"cleared": [target]}
    assert target not in httpx.get(f"{mock_root}/mock/faults").json()
    assert httpx.delete(f"{mock_root}/mock/faults/{target}").json() == {"cleared": []}  # idempotent
    again = httpx.post(f"{mock_root}/mock/{target}/v1/chat/completions", headers=AUTH, json=HELLO)
    assert again.status_code == 200


def test_a_new_fault_replaces_the_old_and_delete_all_clears_every_target(mock_root, target):
    other = f"t-{uuid.uuid4().hex[:12]}"
    fault_put(mock_root, target, status=500, count=5)
    assert fault_put(mock_root, target, status=429)["remaining"] is None  # until cleared
    fault_put(mock_root, other, timeout=True)
    cleared = httpx.delete(f"{mock_root}/mock/faults").json()["cleared"]
    assert {target, other} <= set(cleared)
    assert httpx.get(f"{mock_root}/mock/faults").json() == {}


def test_stats_count_requests_and_failures_per_target_until_reset(mock_root, target):
    url = f"{mock_root}/mock/{target}/v1/chat/completions"
    fault_put(mock_root, target, status=502, count=1)
    assert httpx.post(url, headers=AUTH, json=HELLO).status_code == 502
    assert httpx.post(url, headers=AUTH, json=HELLO).status_code == 200
    assert httpx.post(url, headers=AUTH, json={"model": "m"}).status_code == 400  # its own error counts too
    assert httpx.post(url, headers={"Authorization": "Bearer wrong"}, json=HELLO).status_code == 401
    assert target_stats(mock_root, target) == {"requests": 4, "failed": 3}
    assert httpx.delete(f"{mock_root}/mock/stats").json() == {}
    assert httpx.get(f"{mock_root}/mock/stats").json() == {}


def test_the_control_api_asks_no_key_and_allows_only_its_methods(mock_root, target):
    assert httpx.get(f"{mock_root}/mock/faults", headers={"Authorization": "Bearer wrong"}).status_code == 200
    assert httpx.post(f"{mock_root}/mock/faults", json={}).status_code == 405
    assert httpx.get(f"{mock_root}/mock/faults/{target}").status_code == 405
    assert httpx.put(f"{mock_root}/mock/stats", json={}).status_code == 405
    refused = httpx.patch(f"{mock_root}/mock/faults/{target}", json={"status": 500})
    assert refused.status_code == 405 and refused.json()["error"]["message"].startswith("Method PATCH")


@pytest.mark.parametrize("name", ["UPPER", "-x", "a" * 41, "faults", "stats", "a.b", "%C3%A9", "a%20b", "a/b", "a%00"])
def test_a_fault_on_a_name_that_is_no_target_is_a_404(mock_root, name):
    response = httpx.put(f"{mock_root}/mock/faults/{name}", json={"status": 500})
    assert response.status_code == 404 and response.json()["error"]["message"]
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", key) for key in httpx.get(f"{mock_root}/mock/faults").json())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"status": "503"}, "status"),
        ({"status": 200}, "status"),
        ({"status": 600}, "status"),
        ({"status": True}, "status"),
        ({"status": 503.0}, "status"),
        ({"status": 503, "count": 0}, "count"),
        ({"status": 503, "count": -1}, "count"),
        ({"status": 503, "count": "3"}, "count"),
        ({"status": 503, "surprise": 1}, "surprise"),
        ({"timeout": "yes"}, "timeout"),
        ({"timeout": 1}, "timeout"),
        ({"error": "overloaded"}, "error"),
        ({"error": 400}, "error"),
        ({"status": 400, "error": "context_length"}, "error"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": 1.5}, "delay_ms"),
        ({"delay_ms": 10**12}, "delay_ms"),
        ({"first_byte_delay_ms": []}, "first_byte_delay_ms"),
        ({"break_after": -2}, "break_after"),
        ({"idle_ms": 100}, "idle_after"),
        ({"idle_after": 2}, "idle_ms"),
        ({"status": 429, "retry_after": "1\r\nset-cookie: x=1"}, "retry_after"),
        ({"status": 429, "retry_after": ""}, "retry_after"),
        ({"status": 429, "retry_after": -1}, "retry_after"),
        ({"status": 429, "retry_after_ms": "10"}, "retry_after_ms"),
        ({"retry_after": "1"}, "retry_after"),
        ({"delay_ms": 0}, None),
        ({}, None),
    ],
)
def test_a_bad_fault_is_a_400_naming_the_field(mock_root, target, body, param):
    response = httpx.put(f"{mock_root}/mock/faults/{target}", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    if param is not None:
        assert param in error["message"]
    assert target not in httpx.get(f"{mock_root}/mock/faults").json()


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[]", b'"status"', b"null"])
def test_a_body_that_is_no_json_object_is_a_400(mock_root, target, raw):
    response = httpx.put(f"{mock_root}/mock/faults/{target}", content=raw)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
