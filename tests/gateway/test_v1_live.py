"""/v1 over real TCP (uvicorn, the mock provider), with the official openai SDK and plain HTTP."""

import asyncio
import time

import httpx
import openai
import pytest

from apps.channels.models import Channel, Deployment
from apps.channels.services import DeploymentSpec, channel_model_set
from apps.keys.models import KeyStatus
from apps.keys.services import key_regenerate, key_set_status
from apps.providers.models import ProviderType
from tests.conftest import LIVE_MAX_BODY_BYTES

pytestmark = pytest.mark.django_db


@pytest.fixture
def v1(live_server_url) -> str:  # type: ignore[no-untyped-def]
    return f"{live_server_url}/v1"


@pytest.fixture
def client(v1, world) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=world.key, base_url=v1, max_retries=0, timeout=20)


def _chat(client: openai.OpenAI, model: str = "gpt-4o-mini", **kwargs):  # type: ignore[no-untyped-def]
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], **kwargs)


def test_models_lists_only_the_keys_channel(client, world):
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o-mini", "text-embedding-3-small"} <= ids
    assert world.other_channel_alias not in ids


def test_chat_completion_through_the_gateway(client):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content.startswith("Mock reply to: hello there")
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-gateway-model-resolved"] == "openai_compatible/mock-gpt-4o-mini"
    assert int(raw.headers["x-usage-total-tokens"]) == completion.usage.total_tokens > 0


def test_streaming_with_usage(client):
    stream = _chat(client, stream=True, stream_options={"include_usage": True}, extra_headers={"x-mock-chunks": "20"})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == _chat(client).choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_async_client_and_embeddings(v1, world):
    async def run() -> tuple[str, int]:
        async with openai.AsyncOpenAI(api_key=world.key, base_url=v1, max_retries=0) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"n{i}"}])
                    for i in range(5)
                )
            )
            embedding = await client.embeddings.create(model="text-embedding-3-small", input="vector me")
            return replies[4].choices[0].message.content, len(embedding.data[0].embedding)

    content, dimensions = asyncio.run(run())
    assert content.startswith("Mock reply to: n4") and dimensions == 8


def test_tools_pass_through(client):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    reply = _chat(client, tools=tools, tool_choice="required")
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_missing_and_wrong_keys_are_401(v1, world):
    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(openai.OpenAI(api_key="sk-hydite-" + "0" * 32, base_url=v1, max_retries=0))
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        _chat(openai.OpenAI(api_key="not-a-hydite-key", base_url=v1, max_retries=0))
    response = httpx.post(f"{v1}/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_model_outside_the_channel_is_404(client, world):
    with pytest.raises(openai.NotFoundError) as caught:
        _chat(client, model=world.other_channel_alias)
    assert caught.value.code == "model_not_found" and caught.value.body["param"] == "model"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{oops", None),
        (b"[1, 2]", None),
        (b'{"messages": []}', "model"),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
    ],
)
def test_malformed_bodies_are_400(v1, world, body, param):
    response = httpx.post(f"{v1}/chat/completions", content=body, headers={"Authorization": f"Bearer {world.key}"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_oversized_body_is_413(v1, world):
    big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * (LIVE_MAX_BODY_BYTES + 1)}]}
    response = httpx.post(f"{v1}/chat/completions", json=big, headers={"Authorization": f"Bearer {world.key}"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_unknown_route_and_wrong_method(v1, world):
    headers = {"Authorization": f"Bearer {world.key}"}
    assert httpx.get(f"{v1}/nothing-here", headers=headers).status_code == 404
    assert httpx.get(f"{v1}/chat/completions", headers=headers).status_code == 405
    assert httpx.post(f"{v1}/models", headers=headers).json()["error"]["code"] == "method_not_allowed"


def test_upstream_errors_keep_openais_shape(client):
    with pytest.raises(openai.RateLimitError) as caught:
        _chat(client, model="rate-limited")
    assert "asked to fail with 429" in caught.value.message
    with pytest.raises(openai.InternalServerError) as caught:
        _chat(client, model="upstream-500")
    assert caught.value.status_code == 500


def test_upstream_timeout_is_504_and_unreachable_is_502(client):
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        _chat(client, model="slow")
    assert caught.value.status_code == 504 and caught.value.code == "upstream_timeout"
    assert time.monotonic() - started < 10
    with pytest.raises(openai.APIStatusError) as caught:
        _chat(client, model="unreachable")
    assert caught.value.status_code == 502 and caught.value.code == "upstream_unavailable"


def test_provider_refusing_our_credential_is_a_502_not_a_401(client):
    with pytest.raises(openai.APIStatusError) as caught:
        _chat(client, model="no-credential")
    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_failed"


def test_broken_upstream_stream_ends_with_an_error_event(v1, world):
    with httpx.stream(
        "POST",
        f"{v1}/chat/completions",
        headers={"Authorization": f"Bearer {world.key}"},
        json={"model": "broken-stream", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as response:
        body = response.read().decode()
    assert response.status_code == 200
    assert body.count('"chat.completion.chunk"') == 3
    assert '"upstream_stream_error"' in body and body.endswith("data: [DONE]\n\n")


def _wait_for_status(client: openai.OpenAI, error: type[Exception] | None, deadline_s: float = 1.5) -> float:
    """Seconds until a call fails with `error` (or succeeds when None)."""
    started = time.monotonic()
    while True:
        try:
            _chat(client)
            if error is None:
                return time.monotonic() - started
        except openai.APIStatusError as exc:
            if error is not None and isinstance(exc, error):
                return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            raise AssertionError(f"key state did not reach {error} within {deadline_s}s")
        time.sleep(0.05)


def test_pause_resume_and_revoke_take_effect_within_a_second(committed, fresh_key, v1):
    key, plaintext = fresh_key
    client = openai.OpenAI(api_key=plaintext, base_url=v1, max_retries=0)
    assert _chat(client).choices  # warm: the key is now cached in the server process
    committed(key_set_status, key=key, status=KeyStatus.PAUSED, actor=key.user)
    assert _wait_for_status(client, openai.AuthenticationError) <= 1.5
    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(client)
    assert caught.value.code == "key_paused"
    committed(key_set_status, key=key, status=KeyStatus.ACTIVE, actor=key.user)
    assert _wait_for_status(client, None) <= 1.5
    committed(key_set_status, key=key, status=KeyStatus.REVOKED, actor=key.user)
    assert _wait_for_status(client, openai.AuthenticationError) <= 1.5


def test_regenerate_replaces_the_secret_at_once(committed, fresh_key, v1):
    key, old_plaintext = fresh_key
    old_client = openai.OpenAI(api_key=old_plaintext, base_url=v1, max_retries=0)
    assert _chat(old_client).choices
    _, new_plaintext = committed(key_regenerate, key=key, actor=key.user)
    assert new_plaintext != old_plaintext and new_plaintext.startswith("sk-hydite-")
    assert _wait_for_status(old_client, openai.AuthenticationError) <= 1.5
    assert _chat(openai.OpenAI(api_key=new_plaintext, base_url=v1, max_retries=0)).choices


def _cookie_setting_upstream(world, mock_provider_url: str) -> str:  # type: ignore[no-untyped-def]
    """A model whose upstream is the mock by host name (cookie jars keep cookies of names, not of IPs)."""
    channel = Channel.objects.get(organization=world.organization, is_default=True)
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    by_name = mock_provider_url.replace("127.0.0.1", "localhost")
    credential = Deployment.objects.get(channel_model__channel=channel, channel_model__alias="gpt-4o-mini").credential
    spec = DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "mock-cookie-check", by_name, credential)
    channel_model_set(channel=channel, alias="by-host-name", deployments=[spec], actor=owner, platform_managed=True)
    return "by-host-name"


def test_cookies_an_upstream_sets_never_go_back_to_it(committed, world, client, mock_provider_url):
    """One pooled session serves every tenant: a cookie jar in it would carry one tenant's cookies into the
    next request to the same provider (the mock sets one on every answer, and refuses a mock-cookie-check
    request that sends one)."""
    alias = committed(_cookie_setting_upstream, world, mock_provider_url)
    time.sleep(1.2)  # the channel's new model reaches the gateway's snapshot
    answers = [_chat(client, model=alias) for _ in range(3)]  # a refusal raises openai.BadRequestError
    assert [answer.model for answer in answers] == ["mock-cookie-check"] * 3
