"""Which provider failures are retried, which move to another alias, which are the caller's answer."""

import email.utils
import time

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from apps.gateway.router.failures import FailureKind, failure_of_exception, failure_of_status, retry_after_s
from apps.providers.url_safety import UnsafeUpstream


def _headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({name.replace("_", "-"): value for name, value in values.items()}))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_overload_and_server_errors_are_transient(status):
    failure = failure_of_status(status, {"message": "busy"}, _headers())
    assert failure.kind is FailureKind.TRANSIENT and failure.reason == str(status)


@pytest.mark.parametrize("status", [400, 405, 409, 413, 422])
def test_client_errors_fail_fast(status):
    assert failure_of_status(status, {"message": "nope", "code": None}, _headers()).kind is FailureKind.PERMANENT


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_credential_or_model_is_the_deployments_fault(status):
    failure = failure_of_status(status, {"message": "bad key", "code": None}, None)
    assert failure.kind is FailureKind.DEPLOYMENT and failure.counts_for_cooldown


def test_a_bad_request_does_not_count_toward_the_deployments_cooldown():
    assert not failure_of_status(400, {"message": "bad param"}, None).counts_for_cooldown


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("context_length_exceeded", "This model's maximum context length is 128000 tokens."),
        (None, "prompt is too long: 210000 tokens > 200000 maximum"),
        ("invalid_request_error", "Input exceeds the maximum number of tokens"),
    ],
)
def test_context_length_errors_are_told_apart(code, message):
    failure = failure_of_status(400, {"message": message, "code": code}, None)
    assert failure.kind is FailureKind.CONTEXT_WINDOW and not failure.counts_for_cooldown


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("content_policy_violation", "Your request was rejected"),
        ("content_filter", "filtered"),
        (None, "flagged as potentially violating our usage policy"),
    ],
)
def test_content_policy_refusals_are_told_apart(code, message):
    assert failure_of_status(400, {"message": message, "code": code}, None).kind is FailureKind.CONTENT_POLICY


def test_errors_without_an_answer():
    assert failure_of_exception(TimeoutError()).reason == "timeout"
    connector = aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]
    assert failure_of_exception(connector).kind is FailureKind.TRANSIENT
    assert failure_of_exception(aiohttp.ServerDisconnectedError()).reason == "connection"
    assert failure_of_exception(UnsafeUpstream("private address")).kind is FailureKind.DEPLOYMENT


def test_retry_after_in_milliseconds_seconds_and_dates():
    assert retry_after_s(_headers(retry_after_ms="1500", retry_after="9")) == 1.5
    assert retry_after_s(_headers(retry_after="3")) == 3.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_s(_headers(retry_after=later)) or 0) <= 31


@pytest.mark.parametrize("raw", ["-1", "nan", "inf", "soon", "", "1e400"])
def test_hostile_retry_after_is_ignored(raw):
    assert retry_after_s(_headers(retry_after=raw)) is None


def test_an_enormous_retry_after_is_bounded():
    assert retry_after_s(_headers(retry_after="99999999999")) == 24 * 3600


@pytest.mark.parametrize("raw", ["Mon, 01 Jan 99999999999 00:00:00 GMT", "01 Jan 99999999999 00:00:00 +0000"])
def test_a_date_beyond_datetimes_range_is_ignored(raw):
    assert retry_after_s(_headers(retry_after=raw)) is None


def test_anthropics_content_filtering_refusal_is_a_content_policy_one():
    refusal = {"message": "Output blocked by content filtering policy", "code": None}
    assert failure_of_status(400, refusal, None).kind is FailureKind.CONTENT_POLICY
