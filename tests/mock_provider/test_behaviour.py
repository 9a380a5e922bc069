"""Failures the mock provider injects on request: statuses, delays, timeouts, broken streams."""

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_API_KEY


@pytest.mark.parametrize(
    ("model", "error_class", "status"),
    [
        ("mock-status-429", openai.RateLimitError, 429),
        ("mock-status-500", openai.InternalServerError, 500),
        ("mock-status-503", openai.InternalServerError, 503),
        ("mock-status-404", openai.NotFoundError, 404),
        ("mock-status-400", openai.BadRequestError, 400),
    ],
)
def test_failure_injection_by_model_name(client, model, error_class, status):
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}


def test_failure_injection_by_header_and_bad_key(client, mock_url):
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="mock-gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-status": "429"},
        )
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(api_key="wrong", base_url=mock_url, max_retries=0).models.list()
    assert caught.value.code == "invalid_api_key"


def test_timeout_slow_first_byte_and_broken_stream(client, mock_url):
    slow = openai.OpenAI(api_key=UPSTREAM_API_KEY, base_url=mock_url, max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        slow.chat.completions.create(model="mock-timeout", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.APITimeoutError):
        slow.chat.completions.create(model="mock-slow-1500", messages=[{"role": "user", "content": "hi"}])
    assert client.chat.completions.create(model="mock-slow-50", messages=[{"role": "user", "content": "hi"}]).choices
    stream = client.chat.completions.create(
        model="mock-broken-stream", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received = []
    with pytest.raises((httpx.RemoteProtocolError, openai.APIError)):
        received.extend(stream)
    assert len(received) == 3
