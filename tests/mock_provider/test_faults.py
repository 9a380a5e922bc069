"""Faults set on a target through the control API: error answers in each route's own wire format (read back by
the gateway's adapters), delays, hangs, stream pauses and breaks, and exact counts under concurrency."""

import asyncio
import json
import re
import time
from typing import Any

import httpx
import pytest

from apps.gateway.upstreams import adapter_for
from tests.conftest import UPSTREAM_API_KEY
from tests.live import ROOT
from tests.mock_provider.conftest import AUTH, HELLO, fault_put, target_stats

FIXTURES = ROOT / "tests" / "fixtures" / "wire"
ANTHROPIC_ASK = {"model": "claude-mock", "max_tokens": 20, "messages": HELLO["messages"]}
GEMINI_ASK = {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}


def _request(mock_root: str, target: str, wire: str, *, stream: bool = False) -> dict[str, Any]:
    """httpx keyword arguments for a chat request in `wire`'s format to `target`."""
    base = f"{mock_root}/mock/{target}"
    if wire == "anthropic":
        headers = {"x-api-key": UPSTREAM_API_KEY, "anthropic-version": "2023-06-01"}
        return {"url": f"{base}/v1/messages", "headers": headers, "json": {**ANTHROPIC_ASK, "stream": stream}}
    if wire == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{base}/v1beta/models/gemini-mock:{method}"
        return {"url": url, "headers": {"x-goog-api-key": UPSTREAM_API_KEY}, "json": GEMINI_ASK}
    if wire == "azure":
        url = f"{base}/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
        body = {"messages": HELLO["messages"], "stream": stream}
        return {"url": url, "headers": {"api-key": UPSTREAM_API_KEY}, "json": body}
    return {"url": f"{base}/v1/chat/completions", "headers": AUTH, "json": {**HELLO, "stream": stream}}


def _post(mock_root: str, target: str, wire: str, *, stream: bool = False, timeout: float = 10) -> httpx.Response:
    return httpx.post(**_request(mock_root, target, wire, stream=stream), timeout=timeout)


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("wire", "status", "fixture", "read_by_gateway"),
    [
        ("openai", 503, "openai/error_500.json", ("server_error", None)),
        ("openai", 429, "openai/error_429_rate_limit.json", ("requests", "rate_limit_exceeded")),
        ("azure", 500, "openai/error_500.json", ("server_error", None)),
        ("anthropic", 529, "anthropic/error_529_overloaded.json", ("server_error", "overloaded")),
        ("anthropic", 429, "anthropic/error_429_rate_limit.json", ("rate_limit_error", "rate_limit_exceeded")),
        ("anthropic", 401, "anthropic/error_401.json", ("invalid_request_error", "invalid_api_key")),
        ("gemini", 429, "gemini/error_429.json", ("rate_limit_error", "rate_limit_exceeded")),
        ("gemini", 503, "gemini/error_429.json", ("server_error", None)),
    ],
)
def test_a_status_fault_answers_in_the_routes_wire_format(mock_root, target, wire, status, fixture, read_by_gateway):
    fault_put(mock_root, target, status=status, count=1, retry_after="2", retry_after_ms=1500)
    failed = _post(mock_root, target, wire)
    assert failed.status_code == status
    assert failed.headers["retry-after"] == "2" and failed.headers["retry-after-ms"] == "1500"
    body, recorded = failed.json(), _fixture(fixture)
    assert set(body) == set(recorded) and {"message"} <= set(body["error"]) <= set(recorded["error"])
    if wire == "anthropic":  # the recorded error type of the same status
        assert body["error"]["type"] == recorded["error"]["type"] and body["request_id"].startswith("req_")
    if wire == "gemini":
        assert body["error"]["code"] == status
    translated = adapter_for(wire).error_from_upstream(status, failed.content)
    assert (translated["type"], translated["code"]) == read_by_gateway and translated["message"]
    assert _post(mock_root, target, wire).status_code == 200  # count 1: spent


@pytest.mark.parametrize(
    ("wire", "fixture", "expected"),
    [
        ("openai", "openai/context_length_exceeded.json", {"code": "context_length_exceeded", "param": "messages"}),
        ("azure", "openai/context_length_exceeded.json", {"code": "context_length_exceeded"}),
        ("anthropic", "anthropic/error_400.json", {"type": "invalid_request_error"}),
        ("gemini", "gemini/error_400.json", {"status": "INVALID_ARGUMENT", "code": 400}),
    ],
)
def test_a_context_length_fault_is_the_providers_own_refusal(mock_root, target, wire, fixture, expected):
    fault_put(mock_root, target, error="context_length")
    refused = _post(mock_root, target, wire, stream=True)
    assert refused.status_code == 400
    error, recorded = refused.json()["error"], _fixture(fixture)["error"]
    assert expected.items() <= error.items() and set(error) <= set(recorded)
    assert re.fullmatch(
        {
            "openai": r"This model's maximum context length is \d+ tokens\. However, .*",
            "azure": r"This model's maximum context length is \d+ tokens\. However, .*",
            "anthropic": r"prompt is too long: \d+ tokens > \d+ maximum",
            "gemini": r"The input token count \(\d+\) exceeds the maximum number of tokens allowed \(\d+\)\.",
        }[wire],
        error["message"],
    )
    assert _post(mock_root, target, wire).status_code == 400  # no count: until cleared


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("openai", {"code": "content_policy_violation", "type": "invalid_request_error"}),
        ("azure", {"code": "content_filter", "param": "prompt", "status": 400}),
        ("anthropic", {"type": "invalid_request_error", "message": "Output blocked by content filtering policy"}),
    ],
)
def test_a_content_policy_fault_is_the_providers_own_refusal(mock_root, target, wire, expected):
    fault_put(mock_root, target, error="content_policy", count=1)
    refused = _post(mock_root, target, wire)
    assert refused.status_code == 400 and expected.items() <= refused.json()["error"].items()
    if wire == "azure":
        recorded = _fixture("azure_openai/error_content_filter_400.json")["error"]
        assert set(refused.json()["error"]) == set(recorded)
        assert refused.json()["error"]["innererror"]["code"] == recorded["innererror"]["code"]


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_blocks_a_prompt_with_feedback_and_no_candidates(mock_root, target, stream):
    fault_put(mock_root, target, error="content_policy", count=1)
    blocked = _post(mock_root, target, "gemini", stream=stream)
    assert blocked.status_code == 200
    payload = json.loads(blocked.text.removeprefix("data: ")) if stream else blocked.json()
    assert blocked.text.endswith("\r\n\r\n") is stream
    assert payload["promptFeedback"] == {"blockReason": "SAFETY"} and "candidates" not in payload
    assert payload["usageMetadata"]["promptTokenCount"] == 6
    assert target_stats(mock_root, target) == {"requests": 1, "failed": 1}


def test_a_count_fails_exactly_that_many_of_50_concurrent_requests(mock_root, target):
    fault_put(mock_root, target, status=503, count=20, delay_ms=150)
    request = _request(mock_root, target, "openai")
    request["headers"] = {**request["headers"], "x-mock-delay-ms": "150"}  # every request in flight at once

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50), timeout=30) as client:
            return await asyncio.gather(*(client.post(**request) for _ in range(50)))

    started = time.monotonic()
    statuses = [response.status_code for response in asyncio.run(burst())]
    assert time.monotonic() - started < 5  # concurrent: 50 x 150 ms one after the other would be 7.5 s
    assert statuses.count(503) == 20 and statuses.count(200) == 30
    assert target_stats(mock_root, target) == {"requests": 50, "failed": 20}
    assert target not in httpx.get(f"{mock_root}/mock/faults").json()


def test_a_delay_answers_late_and_a_timeout_never(mock_root, target):
    fault_put(mock_root, target, delay_ms=400, count=1)
    started = time.monotonic()
    assert _post(mock_root, target, "anthropic").status_code == 200
    assert time.monotonic() - started >= 0.4
    fault_put(mock_root, target, timeout=True, count=1)
    with pytest.raises(httpx.ReadTimeout):
        _post(mock_root, target, "openai", timeout=0.5)
    assert _post(mock_root, target, "openai").status_code == 200
    assert target_stats(mock_root, target) == {"requests": 3, "failed": 1}


def test_a_first_byte_delay_holds_a_streams_body_not_its_headers(mock_root, target):
    fault_put(mock_root, target, first_byte_delay_ms=800, count=1)
    started = time.monotonic()
    with httpx.stream("POST", **_request(mock_root, target, "openai", stream=True), timeout=10) as response:
        headers_after = time.monotonic() - started
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(lines)
        first_byte_after = time.monotonic() - started
        rest = [line for line in lines if line]
    assert headers_after < 0.5 <= 0.8 <= first_byte_after
    assert first.startswith("data: {") and rest[-1] == "data: [DONE]"


def test_an_idle_gap_pauses_a_stream_after_some_events(mock_root, target):
    fault_put(mock_root, target, idle_ms=700, idle_after=2, count=1)
    started, events = time.monotonic(), []
    with httpx.stream("POST", **_request(mock_root, target, "anthropic", stream=True), timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append((time.monotonic() - started, json.loads(line.removeprefix("data: "))["type"]))
    arrivals = [arrival for arrival, _ in events]
    assert arrivals[1] - arrivals[0] < 0.3 and arrivals[2] - arrivals[1] >= 0.6  # 0.7 s after the server sent
    assert events[-1][1] == "message_stop"  # the whole stream came, with one gap
    assert target_stats(mock_root, target) == {"requests": 1, "failed": 0}


@pytest.mark.parametrize("wire", ["openai", "azure", "anthropic", "gemini"])
def test_break_after_drops_a_stream_after_that_many_events(mock_root, target, wire):
    fault_put(mock_root, target, break_after=2)
    events = []
    with httpx.stream("POST", **_request(mock_root, target, wire, stream=True), timeout=10) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):  # after the events that came before the drop
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(line)
    assert len(events) == 2
    assert target_stats(mock_root, target) == {"requests": 1, "failed": 1}


def test_a_target_fault_wins_over_the_requests_own_and_stays_on_its_target(mock_root, target):
    fault_put(mock_root, target, status=503)
    asked_429 = {"x-mock-status": "429"}
    request = _request(mock_root, target, "openai", stream=True)
    won = httpx.post(request["url"], headers={**request["headers"], **asked_429}, json=request["json"])
    assert won.status_code == 503 and won.json()["error"]["type"] == "server_error"
    untouched = _request(mock_root, f"{target}-other", "openai")
    assert httpx.post(**untouched).status_code == 200
    own = httpx.post(untouched["url"], headers={**untouched["headers"], **asked_429}, json=untouched["json"])
    assert own.status_code == 429  # a request's own injection still works where no fault is set
    fault_put(mock_root, target, delay_ms=300, count=1)  # what the fault leaves unset still applies
    started = time.monotonic()
    combined = httpx.post(request["url"], headers={**request["headers"], **asked_429}, json=request["json"])
    assert combined.status_code == 429 and time.monotonic() - started >= 0.3
