"""POST /v1/messages through the live gateway with the official Anthropic SDK: passed through to Anthropic
deployments (the mock's Messages API), translated to and from OpenAI-format ones, fallbacks across the two,
errors in Anthropic's envelope, and every request in the ledger."""

import anthropic
import httpx
import pytest

from apps.keys.models import VirtualKey
from apps.keys.services import key_hash, key_update_limits
from apps.providers.models import ProviderType
from tests.gateway.dialects.anthropic_grammar import assert_messages_stream
from tests.gateway.router.routing_world import Upstream, routed_channel, settle, unique
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "hello there"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def channel(committed, mock_root):  # type: ignore[no-untyped-def]
    """A channel whose `claude` alias is an Anthropic deployment and `gpt` an OpenAI-format one; `claude-rescued`
    fails over from Anthropic to OpenAI. Returns the channel and the virtual providers' names by alias."""
    targets = {alias: unique("am") for alias in ("claude", "gpt", "claude-rescued", "gpt-rescue")}
    aliases = {
        alias: [Upstream(target, provider=ProviderType.ANTHROPIC, model="mock-claude")]
        if alias.startswith("claude")
        else [Upstream(target)]
        for alias, target in targets.items()
    }
    router = {"retries": 0, "fallbacks": {"claude-rescued": ["gpt-rescue"]}}
    made = committed(routed_channel, mock_root, aliases, router)
    settle()
    return made, targets


_OPEN_CLIENTS: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _clients_closed():  # type: ignore[no-untyped-def]
    """Each test's SDK clients are closed after it (an unclosed socket warns, and warnings fail the suite)."""
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


def _client(base: str, key: str) -> anthropic.Anthropic:
    client = anthropic.Anthropic(api_key=key, base_url=base, max_retries=0, timeout=20)
    _OPEN_CLIENTS.append(client)
    return client


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_a_message_is_answered_in_anthropics_shape_and_metered(committed, live_server_url, channel, alias):
    routed, _targets = channel
    raw = _client(live_server_url, routed.key).messages.with_raw_response.create(
        model=alias, max_tokens=64, messages=HELLO
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and "hello there" in message.content[0].text
    assert message.stop_reason in {"end_turn", "max_tokens"} and message.usage.output_tokens > 0
    request_id = raw.headers["x-request-id"]
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert row.status_code == 200 and row.completion_tokens == message.usage.output_tokens
    assert row.prompt_tokens >= message.usage.input_tokens > 0


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_a_stream_follows_anthropics_event_grammar_and_is_metered(committed, live_server_url, channel, alias):
    routed, _targets = channel
    reply = httpx.post(
        f"{live_server_url}/v1/messages",
        json={"model": alias, "max_tokens": 64, "messages": HELLO, "stream": True},
        headers={"x-api-key": routed.key, "anthropic-version": "2023-06-01"},
        timeout=20,
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    events = assert_messages_stream(reply.text)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert "hello there" in text
    final = next(e for e in events if e["type"] == "message_delta")
    request_id = reply.headers["x-request-id"]
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert row.status_code == 200 and row.completion_tokens == final["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_the_sdks_stream_helper_gets_text_and_the_final_message(live_server_url, channel, alias):
    routed, _targets = channel
    with _client(live_server_url, routed.key).messages.stream(model=alias, max_tokens=64, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "hello there" in text and final.content[0].text == text


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_a_forced_tool_call_comes_back_as_tool_use(live_server_url, channel, alias):
    routed, _targets = channel
    message = _client(live_server_url, routed.key).messages.create(
        model=alias,
        max_tokens=64,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    calls = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and calls and calls[0].name == "get_weather"
    assert isinstance(calls[0].input, dict)


def test_a_failing_anthropic_deployment_falls_back_to_an_openai_one_in_the_same_dialect(live_server_url, channel, mock):
    routed, targets = channel
    mock.fail(targets["claude-rescued"], status=529)
    raw = _client(live_server_url, routed.key).messages.with_raw_response.create(
        model="claude-rescued", max_tokens=64, messages=HELLO
    )
    assert raw.headers["x-hydite-fallback"] == "gpt-rescue" and raw.parse().content[0].type == "text"


def test_errors_come_in_anthropics_envelope_and_raise_the_sdks_classes(live_server_url, channel):
    routed, _targets = channel
    client = _client(live_server_url, routed.key)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        _client(live_server_url, "sk-hydite-" + "0" * 32).messages.create(model="gpt", max_tokens=8, messages=HELLO)
    assert denied.value.body["type"] == "error"  # type: ignore[index]
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-alias", max_tokens=8, messages=HELLO)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="gpt", max_tokens=0, messages=HELLO)
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("alias", "status", "kind"), [("claude", 529, "overloaded_error"), ("gpt", 429, "rate_limit_error")]
)
def test_a_providers_error_keeps_anthropics_status_and_type(live_server_url, channel, mock, alias, status, kind):
    routed, targets = channel
    mock.fail(targets[alias], status=status)
    reply = httpx.post(
        f"{live_server_url}/v1/messages",
        json={"model": alias, "max_tokens": 8, "messages": HELLO},
        headers={"x-api-key": routed.key},
        timeout=20,
    )
    assert reply.status_code == status and reply.json()["error"]["type"] == kind


def test_a_body_that_is_not_json_is_refused_in_anthropics_envelope(live_server_url, channel):
    routed, _targets = channel
    reply = httpx.post(
        f"{live_server_url}/v1/messages", content=b"{not json", headers={"x-api-key": routed.key}, timeout=10
    )
    assert reply.status_code == 400
    assert reply.json()["type"] == "error" and reply.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_count_tokens_asks_anthropic_or_estimates(live_server_url, channel, mock, alias):
    routed, targets = channel
    client = _client(live_server_url, routed.key)
    counted = client.messages.count_tokens(model=alias, messages=HELLO, system="be brief")
    assert counted.input_tokens > 0
    asked_upstream = mock.requests(targets[alias])
    assert asked_upstream == (1 if alias == "claude" else 0)  # an estimate asks no provider
    longer = client.messages.count_tokens(model=alias, messages=[{"role": "user", "content": "hello " * 400}])
    assert longer.input_tokens > counted.input_tokens


def test_count_tokens_refusals_are_anthropics(live_server_url, channel):
    routed, _targets = channel
    client = _client(live_server_url, routed.key)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="no-such-alias", messages=HELLO)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model="gpt", messages=[])
    root = httpx.post(
        f"{live_server_url}/messages/count_tokens",
        json={"model": "gpt", "messages": HELLO},
        headers={"x-api-key": routed.key},
        timeout=10,
    )
    assert root.status_code == 200 and root.json()["input_tokens"] > 0


def _key_rpm(plaintext: str, rpm: int) -> None:
    key = VirtualKey.objects.get(key_hash=key_hash(plaintext))
    key_update_limits(key=key, actor=None, rpm_limit=rpm)


def test_a_limit_refuses_in_anthropics_envelope_with_its_rate_limit_headers(committed, live_server_url, channel):
    routed, _targets = channel
    committed(_key_rpm, routed.key, 1)
    settle()
    client = _client(live_server_url, routed.key)
    client.messages.create(model="gpt", max_tokens=8, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(model="gpt", max_tokens=8, messages=HELLO)
    headers = refused.value.response.headers
    assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(headers["retry-after"]) >= 1 and headers["anthropic-ratelimit-requests-limit"] == "1"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
