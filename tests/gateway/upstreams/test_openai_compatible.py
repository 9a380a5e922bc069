"""OpenAI-compatible and Azure adapters: the requests they build and the errors they translate; the adapter registry."""

import json

import openai
import orjson
import pytest

from apps.gateway.upstreams import ADAPTERS, ProviderNotSupported, adapter_for, azure, openai_compatible
from tests.gateway.upstreams.wire import WIRE


def test_openai_compatible_request():
    request = openai_compatible.build_request(
        deployment={"upstream_model": "deepseek-chat", "api_base": "https://api.deepseek.com/v1"},
        path="/chat/completions",
        body={"model": "alias", "messages": []},
        secret="sk-up",
    )
    assert request.url == "https://api.deepseek.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-up"
    assert orjson.loads(request.body)["model"] == "deepseek-chat"


def test_azure_request_uses_deployment_path_version_and_api_key_header():
    request = azure.build_request(
        deployment={"upstream_model": "gpt-4o prod", "api_base": "https://acme.openai.azure.com", "api_version": ""},
        path="/chat/completions",
        body={"model": "alias", "messages": []},
        secret="azure-key",
    )
    assert request.url == (
        "https://acme.openai.azure.com/openai/deployments/gpt-4o%20prod/chat/completions?api-version=2024-10-21"
    )
    assert request.headers == {"Content-Type": "application/json", "api-key": "azure-key"}
    assert "model" not in orjson.loads(request.body)


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("openai/error_401_invalid_api_key.json", 401, ("invalid_request_error", "invalid_api_key")),
        ("openai/error_404_model_not_found.json", 404, ("invalid_request_error", "model_not_found")),
        ("openai/error_429_rate_limit.json", 429, ("tokens", "rate_limit_exceeded")),
        ("openai/error_429_insufficient_quota.json", 429, ("insufficient_quota", "insufficient_quota")),
        ("openai/error_500.json", 500, ("server_error", None)),
        ("openai/context_length_exceeded.json", 400, ("invalid_request_error", "context_length_exceeded")),
        ("azure_openai/error_content_filter_400.json", 400, ("invalid_request_error", "content_filter")),
    ],
)
def test_provider_errors_keep_message_type_and_code(fixture, status, expected):
    payload = (WIRE / fixture).read_bytes()
    error = openai_compatible.error_from_upstream(status, payload)
    original = json.loads(payload)["error"]
    assert error["message"] == original["message"]
    assert (error["type"], error["code"]) == expected
    assert set(error) == {"message", "type", "param", "code"}


def test_non_json_upstream_errors_are_wrapped():
    error = openai_compatible.error_from_upstream(502, b"<html>Bad gateway</html>")
    assert error["type"] == "server_error" and "502" in error["message"] and "Bad gateway" in error["message"]


def test_unknown_providers_are_refused_not_guessed():
    assert adapter_for("azure") is azure.ADAPTER and ADAPTERS["deepseek"] is openai_compatible.ADAPTER
    with pytest.raises(ProviderNotSupported):
        adapter_for("bedrock")


@pytest.mark.django_db
def test_azure_deployment_through_the_gateway(world, live_server_url):
    client = openai.OpenAI(api_key=world.key, base_url=f"{live_server_url}/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="azure-gpt", messages=[{"role": "user", "content": "hello azure"}]
    )
    assert raw.headers["x-gateway-model-resolved"] == "azure/mock-gpt-4o-mini"
    assert raw.parse().choices[0].message.content.startswith("Mock reply to: hello azure")
    chunks = list(
        client.chat.completions.create(
            model="azure-gpt", stream=True, messages=[{"role": "user", "content": "stream azure"}]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Mock reply")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"error": "overloaded"}',
        b'{"error": {"type": ["x"], "status": {"a": 1}, "message": 5, "code": []}}',
        b"[1, 2]",
        b'{"error": null}',
        b"\xff\xfe not json",
        b"",
    ],
)
@pytest.mark.parametrize("provider", ["openai", "azure", "anthropic", "gemini"])
def test_hostile_error_bodies_become_openai_errors(provider, payload):
    """Whatever an upstream sends with an error status is read as untrusted input: an OpenAI error object."""
    error = adapter_for(provider).error_from_upstream(503, payload)
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
