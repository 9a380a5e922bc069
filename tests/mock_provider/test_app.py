"""The mock provider's routing: paths, methods, and virtual providers under /mock/<target>/."""

import http.client
import json
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.upstreams import anthropic, azure, gemini
from tests.conftest import UPSTREAM_API_KEY
from tests.mock_provider.conftest import AUTH, HELLO, target_stats


def _deployment(api_base: str, upstream_model: str = "mock-model") -> DeploymentSnapshot:
    return DeploymentSnapshot(
        id=1,
        provider="mock",
        upstream_model=upstream_model,
        api_base=api_base,
        api_version="",
        secret=None,
        weight=1,
        price_overrides=[],
    )


def test_unknown_path_and_wrong_method(mock_url):
    assert httpx.get(f"{mock_url}/nope", headers=AUTH).status_code == 404
    assert httpx.get(f"{mock_url}/chat/completions", headers=AUTH).status_code == 405


def test_a_target_serves_openai_chat_like_the_unprefixed_path(client, mock_root, target):
    prefixed = openai.OpenAI(api_key=UPSTREAM_API_KEY, base_url=f"{mock_root}/mock/{target}/v1", max_retries=0)
    plain = prefixed.chat.completions.create(**HELLO)
    assert plain.model_dump() == client.chat.completions.create(**HELLO).model_dump()
    chunks = list(prefixed.chat.completions.create(**HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    assert target_stats(mock_root, target) == {"requests": 2, "failed": 0}
    with pytest.raises(openai.AuthenticationError):  # a target asks for the key like the rest
        openai.OpenAI(api_key="wrong", base_url=f"{mock_root}/mock/{target}/v1", max_retries=0).models.list()


@pytest.mark.parametrize("suffix", ["", "/v1"])
def test_anthropics_adapter_reaches_a_target_with_either_api_base(mock_root, target, suffix):
    deployment = _deployment(f"{mock_root}/mock/{target}{suffix}")
    body = {**HELLO, "max_tokens": 5}
    request = anthropic.build_request(
        deployment=deployment, path="/chat/completions", body=body, secret=UPSTREAM_API_KEY
    )
    assert request.url == f"{mock_root}/mock/{target}/v1/messages"
    answer = httpx.post(request.url, headers=request.headers, content=request.body)
    assert answer.status_code == 200 and answer.json()["type"] == "message"
    assert answer.json()["usage"]["output_tokens"] == 5
    assert target_stats(mock_root, target) == {"requests": 1, "failed": 0}


def test_azures_and_geminis_adapters_reach_their_targets(mock_root, target):
    body = {**HELLO, "stream": True}
    azure_request = azure.build_request(
        deployment=_deployment(f"{mock_root}/mock/{target}", "my-deployment"),
        path="/chat/completions",
        body=body,
        secret=UPSTREAM_API_KEY,
    )
    streamed = httpx.post(azure_request.url, headers=azure_request.headers, content=azure_request.body)
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    assert '"model":"my-deployment"' in streamed.text
    gemini_request = gemini.build_request(
        deployment=_deployment(f"{mock_root}/mock/{target}/v1beta", "gemini-mock"),
        path="/chat/completions",
        body=body,
        secret=UPSTREAM_API_KEY,
    )
    assert gemini_request.url.startswith(f"{mock_root}/mock/{target}/v1beta/models/gemini-mock:streamGenerateContent")
    frames = httpx.post(gemini_request.url, headers=gemini_request.headers, content=gemini_request.body).text
    events = [json.loads(frame.removeprefix("data: ")) for frame in frames.split("\r\n\r\n") if frame]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert target_stats(mock_root, target) == {"requests": 2, "failed": 0}


def test_unprefixed_requests_are_target_default(mock_url, mock_root):
    before = target_stats(mock_root, "default")
    httpx.post(f"{mock_url}/chat/completions", headers=AUTH, json=HELLO).raise_for_status()
    httpx.post(f"{mock_root}/mock/default/v1/chat/completions", headers=AUTH, json=HELLO).raise_for_status()
    httpx.get(f"{mock_root}/health").raise_for_status()  # not counted
    assert target_stats(mock_root, "default")["requests"] == before["requests"] + 2


@pytest.mark.parametrize(
    "path",
    [
        "/mock/UPPER/v1/chat/completions",
        "/mock/-dash-first/v1/chat/completions",
        "/mock/" + "a" * 41 + "/v1/chat/completions",
        "/mock//v1/chat/completions",
        "/mock/../v1/chat/completions",
        "/mock/a%2Fb/v1/chat/completions",
        "/mock/a%00b/v1/chat/completions",
        "/mock/%C3%A9t%C3%A9/v1/chat/completions",
        "/mock/stats/v1/chat/completions",
        "/mock/faults/x/v1/chat/completions",
        "/mock/probe",
        "/mock/probe/v2/chat/completions",
        "/mock/probe/mock/probe/v1/chat/completions",
    ],
)
def test_hostile_target_names_and_paths_are_404s_in_openais_shape(mock_url, path):
    address = urlsplit(mock_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:  # http.client sends the path as written: no client normalises it first
        connection.request("POST", path, body=json.dumps(HELLO), headers={**AUTH, "Content-Type": "application/json"})
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 404
    assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["message"]
