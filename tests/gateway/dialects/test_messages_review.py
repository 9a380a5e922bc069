"""POST /v1/messages under hostile clients and upstreams, through the live gateway: what a review found and
fixed, and the edges it checked (envelopes, stream grammar, metering, pass-through headers)."""

import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from apps.channels.models import Channel
from apps.keys.services import key_generate, key_update_limits
from apps.orgs.models import Team
from apps.providers.models import ProviderType
from apps.providers.prices import price_sheet
from tests.gateway.dialects.anthropic_grammar import assert_messages_stream
from tests.gateway.dialects.anthropic_hostile_upstream import (
    AnthropicHostileUpstream,
    anthropic_hostile_upstream,
)
from tests.gateway.router.hostile_upstream import HostileUpstream, hostile_upstream
from tests.gateway.router.routing_world import RoutedChannel, Upstream, routed_channel, settle, unique
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "hello there"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
BROKEN = ("garbage200", "empty200", "html503", "redirect", "reset", "reset-mid", "garbage-stream", "comment-stream")
HOSTILE = ("whole", "cut", "torn", "torn-reset", "stop-reset", "gzip")
ROUTER = {"retries": 0, "cooldown": {"failures": 1000}, "fallbacks": {"claude-rescued": ["gpt-rescue"]}}


@pytest.fixture(scope="module")
def hostile() -> Iterator[AnthropicHostileUpstream]:
    with anthropic_hostile_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def broken() -> Iterator[HostileUpstream]:
    with hostile_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def world(committed, mock_root, hostile, broken):  # type: ignore[no-untyped-def]
    """One channel for the module: Anthropic (`claude*`) and OpenAI-format (`gpt*`) aliases over the mock, and
    `h-<behaviour>` Anthropic aliases over the hostile upstream. Returns the channel and each alias's target."""
    anthropic = {"claude": "mock-claude", "claude-rescued": "mock-claude", "claude-long": "mock-claude-long"}
    anthropic |= {"claude-drip": "mock-drip-300", "claude-priced": "mock-gpt-4o-mini", "claude-429": "mock-claude"}
    openai = {"gpt": "mock-gpt-4o-mini", "gpt-rescue": "mock-gpt-4o-mini", "gpt-long": "mock-gpt-4o-mini-long"}
    openai |= {"gpt-drip": "mock-drip-300", "gpt-429": "mock-gpt-4o-mini"}
    targets = {alias: unique("mr") for alias in (*anthropic, *openai)}
    aliases = {a: [Upstream(targets[a], provider=ProviderType.ANTHROPIC, model=m)] for a, m in anthropic.items()}
    aliases |= {a: [Upstream(targets[a], model=m)] for a, m in openai.items()}
    for behaviour in HOSTILE:
        targets[f"h-{behaviour}"] = f"{behaviour}.{uuid.uuid4().hex[:6]}"
        upstream = Upstream(targets[f"h-{behaviour}"], provider=ProviderType.ANTHROPIC, model="x", root=hostile.root)
        aliases[f"h-{behaviour}"] = [upstream]
    for behaviour in BROKEN:
        for provider in (ProviderType.ANTHROPIC, ProviderType.OPENAI_COMPATIBLE):
            alias = f"b-{provider}-{behaviour}"
            targets[alias] = f"{behaviour}.{uuid.uuid4().hex[:6]}"
            aliases[alias] = [
                Upstream(targets[alias], provider=provider, model="x", root=f"http://127.0.0.1:{broken.port}")
            ]
    targets["gemini"] = unique("mr")
    aliases["gemini"] = [Upstream(targets["gemini"], provider=ProviderType.GEMINI, model="mock-gpt-4o-mini")]
    targets["h-chat-stop-reset"] = f"chat-stop-reset.{uuid.uuid4().hex[:6]}"
    aliases["h-chat-stop-reset"] = [Upstream(targets["h-chat-stop-reset"], model="x", root=hostile.root)]
    made = committed(routed_channel, mock_root, aliases, ROUTER)
    settle()
    return made, targets


def _post(base: str, key: str, body: object, *, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    sent = {"x-api-key": key, "content-type": "application/json", **headers}
    return httpx.post(f"{base}{path}", content=content, headers=sent, timeout=30)


def _message(model: str, **fields: object) -> dict[str, object]:
    return {"model": model, "max_tokens": 64, "messages": HELLO, **fields}


def _is_anthropic_error(reply: httpx.Response, status: int, kind: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    assert isinstance(body["error"]["message"], str) and "code" not in body["error"]


def _row(committed, reply: httpx.Response):  # type: ignore[no-untyped-def]
    request_id = reply.headers["x-request-id"]
    return ledger_rows_drained(committed, {request_id})[request_id]


# --- hostile client bodies -----------------------------------------------------------------------------------


def test_a_deeply_nested_unknown_field_is_refused_by_pass_through_not_a_500(live_server_url, world):
    """Unknown (beta) fields pass to Anthropic unchecked; one nested deeper than orjson writes (255 levels; it
    reads 1024) cannot be forwarded. A translated request drops unknown fields, so it is answered."""
    routed, _ = world
    nested = b"[" * 400 + b"1" + b"]" * 400

    def body(alias: str) -> bytes:
        return orjson.dumps(_message(alias, beta_option=0)).replace(b'"beta_option":0', b'"beta_option":' + nested)

    refused = _post(live_server_url, routed.key, body("claude"))
    _is_anthropic_error(refused, 400, "invalid_request_error")
    assert "nested too deeply" in refused.json()["error"]["message"]
    assert _post(live_server_url, routed.key, body("gpt")).json()["type"] == "message"


@pytest.mark.parametrize(
    "raw", [b"[]", b'"text"', b"null", b"42", b"", b"\xff\xfe", b'{"model": "claude", "max_tokens": 8, "messages": [}']
)
def test_a_body_that_is_not_an_object_is_refused_in_anthropics_envelope(live_server_url, world, raw):
    routed, _ = world
    _is_anthropic_error(_post(live_server_url, routed.key, raw), 400, "invalid_request_error")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"model": "claude", "messages": HELLO}, "max_tokens: Field required"),
        ({"max_tokens": 8, "messages": HELLO}, "model"),
        ({"model": "claude", "max_tokens": 8}, "messages: Field required"),
        ({"model": "claude", "max_tokens": 8, "messages": []}, "messages"),
        ({"model": "claude", "max_tokens": True, "messages": HELLO}, "max_tokens"),
        (b'{"model": "claude", "max_tokens": 18446744073709551616, "messages": []}', "max_tokens"),
        ({"model": ["claude"], "max_tokens": 8, "messages": HELLO}, "model"),
        ({"model": "claude", "max_tokens": 8, "messages": HELLO, "stream": "yes"}, "stream"),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field(live_server_url, world, body, where):
    routed, _ = world
    reply = _post(live_server_url, routed.key, body)
    _is_anthropic_error(reply, 400, "invalid_request_error")
    assert where in reply.json()["error"]["message"]


def test_a_body_over_the_size_limit_is_a_413_in_anthropics_envelope(live_server_url, world):
    routed, _ = world
    big = _message("claude", messages=[{"role": "user", "content": "x" * (128 * 1024)}])
    _is_anthropic_error(_post(live_server_url, routed.key, big), 413, "request_too_large")


@pytest.mark.parametrize("path", ["/messages", "/messages/", "/v1/messages/"])
def test_the_root_paths_are_the_messages_api(live_server_url, world, path):
    routed, _ = world
    reply = _post(live_server_url, routed.key, _message("gpt"), path=path)
    assert reply.status_code == 200 and reply.json()["type"] == "message"


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/v1/messages/count_tokens", 405, "invalid_request_error"),
        ("POST", "/v1/messages/batches", 404, "not_found_error"),
        ("POST", "/messages/batches", 404, "not_found_error"),
        ("POST", "/v1/messages/count_tokens/more", 404, "not_found_error"),
        ("GET", "/v1/messages", 405, "invalid_request_error"),
    ],
)
def test_what_the_gateway_does_not_serve_under_messages_is_refused_in_anthropics_envelope(
    live_server_url, world, method, path, status, kind
):
    routed, _ = world
    body = {"model": "claude", "messages": HELLO}
    reply = httpx.request(method, f"{live_server_url}{path}", json=body, headers={"x-api-key": routed.key}, timeout=10)
    _is_anthropic_error(reply, status, kind)


def test_a_bad_key_on_messages_is_anthropics_authentication_error(live_server_url, world):
    reply = _post(live_server_url, "sk-hydite-" + "0" * 32, _message("claude"))
    _is_anthropic_error(reply, 401, "authentication_error")
    missing = httpx.post(f"{live_server_url}/v1/messages", json=_message("claude"), timeout=10)
    _is_anthropic_error(missing, 401, "authentication_error")


def test_openai_chat_completions_keep_openais_envelope_and_take_an_x_api_key(live_server_url, world):
    routed, _ = world
    body = {"model": "claude", "messages": HELLO, "max_tokens": 8}
    ok = _post(live_server_url, routed.key, body, path="/v1/chat/completions")
    assert ok.status_code == 200 and ok.json()["object"] == "chat.completion"
    bad = _post(live_server_url, routed.key, b"[]", path="/v1/chat/completions")
    assert bad.status_code == 400 and set(bad.json()) == {"error"} and bad.json()["error"]["code"]


# --- pass-through headers ------------------------------------------------------------------------------------


def _seen_for(hostile: AnthropicHostileUpstream, target: str, count: int):  # type: ignore[no-untyped-def]
    seen = [s for s in hostile.seen if s.path.startswith(f"/mock/{target}/")]
    assert len(seen) == count
    return seen[-1]


def test_pass_through_sends_the_providers_key_and_only_the_anthropic_headers(live_server_url, world, hostile):
    routed, targets = world
    reply = _post(
        live_server_url,
        routed.key,
        _message("h-whole"),
        **{"anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31", "x-custom": "secret"},
    )
    assert reply.status_code == 200 and reply.json()["type"] == "message"
    seen = _seen_for(hostile, targets["h-whole"], 1)
    names = {name for name, _ in seen.headers}
    assert seen.header("anthropic-beta") == ["prompt-caching-2024-07-31"]
    assert seen.header("anthropic-version") == ["2023-06-01"]
    assert routed.key not in str(seen.headers) and "authorization" not in names and "x-custom" not in names
    assert len(seen.header("x-api-key")) == 1 and seen.header("x-api-key")[0] != routed.key
    assert seen.body["model"] == "x"


def test_the_gateway_asks_providers_for_no_encoding_it_does_not_read(live_server_url, world, hostile):
    """A provider compresses its answer when the request accepts it; the gateway reads answers (usage) and
    does not decompress them, so it must not accept gzip."""
    routed, targets = world
    reply = _post(live_server_url, routed.key, _message("h-gzip"))
    assert reply.status_code == 200, reply.text
    assert reply.json()["content"][0]["type"] == "text"
    assert _seen_for(hostile, targets["h-gzip"], 1).header("accept-encoding") in ([], ["identity"])


def test_every_anthropic_beta_header_line_reaches_the_provider(live_server_url, world, hostile):
    """A client may send its betas as several header lines (HTTP reads them as one comma-separated list)."""
    routed, targets = world
    headers = [("x-api-key", routed.key), ("anthropic-beta", "beta-one"), ("anthropic-beta", "beta-two, beta-three")]
    reply = httpx.post(f"{live_server_url}/v1/messages", json=_message("h-whole"), headers=headers, timeout=30)
    assert reply.status_code == 200
    seen = [s for s in hostile.seen if s.path.startswith(f"/mock/{targets['h-whole']}/")][-1]
    betas = [beta.strip() for value in seen.header("anthropic-beta") for beta in value.split(",")]
    assert betas == ["beta-one", "beta-two", "beta-three"]


def _raw_request(base: str, head_lines: list[bytes], body: bytes) -> bytes:
    """A request written byte by byte (headers an HTTP client refuses to send), and the raw answer."""
    url = urlsplit(base)
    head = [b"POST /v1/messages HTTP/1.1", f"host: {url.netloc}".encode(), *head_lines]
    head += [b"content-type: application/json", f"content-length: {len(body)}".encode(), b"connection: close"]
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "beta",
    [
        b"a\tb",  # a control character
        "caf\u00e9".encode(),  # UTF-8 of a latin-1 letter: aiohttp would send it on re-encoded, as mojibake
        "\u00e9t\u00e9-\u2603".encode(),  # UTF-8, not latin-1
        b"x\x7f",  # DEL
        b"a\r\n b: c",  # an obsolete line fold
        b"y" * 5000,  # far longer than any beta list
    ],
)
def test_a_hostile_anthropic_beta_header_never_reaches_the_provider(live_server_url, world, hostile, beta):
    routed, targets = world
    before = len([s for s in hostile.seen if s.path.startswith(f"/mock/{targets['h-whole']}/")])
    body = orjson.dumps(_message("h-whole"))
    answer = _raw_request(live_server_url, [f"x-api-key: {routed.key}".encode(), b"anthropic-beta: " + beta], body)
    status = int(answer.split(b" ", 2)[1])
    if status == 200:
        seen = _seen_for(hostile, targets["h-whole"], before + 1)
        assert seen.header("anthropic-beta") == [] and len(seen.headers) == len({name for name, _ in seen.headers})
    else:  # the server refused the request line itself
        assert (
            status == 400
            and len([s for s in hostile.seen if s.path.startswith(f"/mock/{targets['h-whole']}/")]) == before
        )


# --- upstream faults, both modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["cut", "torn", "torn-reset"])
def test_a_pass_through_stream_cut_short_ends_with_an_error_event(committed, live_server_url, world, behaviour):
    routed, _ = world
    reply = _post(live_server_url, routed.key, _message(f"h-{behaviour}", stream=True))
    assert reply.status_code == 200
    events = assert_messages_stream(reply.text)
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert texts == (["[", "12", "345,", "67890]"] if behaviour == "cut" else ["["])  # never half an event
    row = _row(committed, reply)  # no usage came: billed for what was sent
    assert row.usage_estimated and row.completion_tokens > 0
    assert row.status_code == (502 if behaviour == "torn-reset" else 200)  # a clean end is not a break


@pytest.mark.parametrize("alias", ["h-stop-reset", "h-chat-stop-reset"])
def test_a_stream_reset_after_its_last_event_is_a_whole_message(committed, live_server_url, world, alias):
    """Nothing may follow message_stop: the client has the whole message, and it is metered as answered."""
    routed, _ = world
    reply = _post(live_server_url, routed.key, _message(alias, stream=True))
    assert reply.status_code == 200
    events = assert_messages_stream(reply.text)
    assert events[-1]["type"] == "message_stop"
    final = next(e for e in events if e["type"] == "message_delta")
    row = _row(committed, reply)
    assert row.status_code == 200 and row.completion_tokens == final["usage"]["output_tokens"]


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_a_stream_broken_after_its_first_events_ends_in_an_error_event_and_is_metered(
    committed, live_server_url, world, mock, alias
):
    routed, targets = world
    mock.fail(targets[alias], break_after=3, count=1)
    reply = _post(live_server_url, routed.key, _message(alias, stream=True))
    events = assert_messages_stream(reply.text)
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"
    row = _row(committed, reply)
    assert row.status_code == 502 and row.attempts[-1]["outcome"] == "stream_broken"


def test_an_anthropic_stream_failing_before_its_first_event_falls_back_to_openai(
    committed, live_server_url, world, mock
):
    routed, targets = world
    mock.fail(targets["claude-rescued"], break_after=0, count=1)
    reply = _post(live_server_url, routed.key, _message("claude-rescued", stream=True))
    assert reply.status_code == 200 and reply.headers["x-hydite-fallback"] == "gpt-rescue"
    events = assert_messages_stream(reply.text)
    final = next(e for e in events if e["type"] == "message_delta")
    row = _row(committed, reply)
    assert row.status_code == 200 and row.completion_tokens == final["usage"]["output_tokens"]


@pytest.mark.parametrize("status", [401, 529])
def test_an_anthropic_deployment_refusing_falls_back_to_openai(live_server_url, world, mock, status):
    routed, targets = world
    mock.fail(targets["claude-rescued"], status=status, count=1)
    reply = _post(live_server_url, routed.key, _message("claude-rescued"))
    assert reply.status_code == 200 and reply.headers["x-hydite-fallback"] == "gpt-rescue"
    assert reply.json()["type"] == "message"


def test_when_both_refuse_the_last_error_is_anthropics(live_server_url, world, mock):
    routed, targets = world
    mock.fail(targets["claude-rescued"], status=529, count=1)
    mock.fail(targets["gpt-rescue"], status=401, count=1)
    reply = _post(live_server_url, routed.key, _message("claude-rescued"))
    _is_anthropic_error(reply, 502, "api_error")
    assert "credential" in reply.json()["error"]["message"]


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_an_idle_stream_is_cut_with_an_error_event(committed, live_server_url, world, mock, alias):
    routed, targets = world
    mock.fail(targets[alias], idle_after=2, idle_ms=4000, count=1)
    reply = _post(live_server_url, routed.key, _message(alias, stream=True))
    events = assert_messages_stream(reply.text)
    assert events[-1]["type"] == "error"


# --- quotas --------------------------------------------------------------------------------------------------


def _limited_key(committed, routed: RoutedChannel, **limits: object) -> str:  # type: ignore[no-untyped-def]
    def make() -> str:
        channel = Channel.objects.get(pk=routed.channel_id)
        organization = channel.organization
        team = Team.objects.get(organization=organization, is_default=True)
        owner = organization.memberships.filter(team__isnull=True).first().user
        key, plaintext = key_generate(
            organization=organization,
            team=team,
            user=owner,
            name=f"q-{uuid.uuid4().hex[:6]}",
            actor=owner,
            channel=channel,
        )
        key_update_limits(key=key, actor=owner, **limits)
        return plaintext

    return committed(make)


@pytest.mark.parametrize("stream", [False, True])
def test_a_rate_limited_key_is_refused_in_anthropics_envelope_with_retry_after(
    committed, live_server_url, world, stream
):
    routed, _ = world
    key = _limited_key(committed, routed, rpm_limit=1)
    assert _post(live_server_url, key, _message("gpt", stream=stream)).status_code == 200
    refused = _post(live_server_url, key, _message("gpt", stream=stream))
    _is_anthropic_error(refused, 429, "rate_limit_error")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _row(committed, refused).status_code == 429


@pytest.mark.parametrize("alias", ["claude-long", "gpt-long"])
def test_a_stream_cut_by_its_token_limit_ends_in_an_error_event_and_is_metered(
    committed, live_server_url, world, alias
):
    routed, _ = world
    body = _message(alias, stream=True, max_tokens=300)
    key = _limited_key(committed, routed, tpm_limit=600)  # the admission, not the first extension (1024)
    reply = _post(live_server_url, key, body)
    assert reply.status_code == 200
    events = assert_messages_stream(reply.text)
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "rate_limit_error"
    row = _row(committed, reply)
    assert (row.status_code, row.error_code) == (429, "tpm_limit") and row.completion_tokens > 0


# --- metering ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_a_client_that_goes_away_mid_stream_is_metered(committed, live_server_url, world, alias):
    routed, _ = world
    with httpx.stream(
        "POST",
        f"{live_server_url}/v1/messages",
        json=_message(f"{alias}-drip", stream=True),
        headers={"x-api-key": routed.key},
        timeout=20,
    ) as reply:
        request_id = reply.headers["x-request-id"]
        seen = b""
        for chunk in reply.iter_bytes():
            seen += chunk
            if seen.count(b"content_block_delta") >= 2:
                break
    started = time.monotonic()
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert time.monotonic() - started < 15
    assert row.status_code == 499 and row.completion_tokens > 0


def test_a_client_that_goes_away_while_the_model_thinks_is_billed_for_the_thinking(committed, live_server_url, world):
    """Anthropic bills thinking as output; a pass-through stream left during its thinking block is billed at
    least a token for each thinking delta the client got (as for text), not for none."""
    routed, _ = world
    body = _message("claude-drip", stream=True, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024})
    with httpx.stream(
        "POST", f"{live_server_url}/v1/messages", json=body, headers={"x-api-key": routed.key}, timeout=20
    ) as reply:
        request_id = reply.headers["x-request-id"]
        seen = b""
        for chunk in reply.iter_bytes():
            seen += chunk
            if seen.count(b'"thinking_delta"') >= 3:
                break
    assert b'"text_delta"' not in seen
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert row.status_code == 499 and row.completion_tokens >= 3


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_a_streamed_message_is_metered_at_the_usage_the_client_was_told(committed, live_server_url, world, alias):
    routed, _ = world
    reply = _post(live_server_url, routed.key, _message(alias, stream=True))
    events = assert_messages_stream(reply.text)
    start = next(e for e in events if e["type"] == "message_start")["message"]["usage"]
    final = next(e for e in events if e["type"] == "message_delta")["usage"]
    told = {**start, **{k: v for k, v in final.items() if v is not None}}
    prompt = told["input_tokens"] + told.get("cache_read_input_tokens", 0) + told.get("cache_creation_input_tokens", 0)
    row = _row(committed, reply)
    assert (row.prompt_tokens, row.completion_tokens) == (prompt, told["output_tokens"])
    assert not row.usage_estimated
    plain = _post(live_server_url, routed.key, _message(alias))
    usage = plain.json()["usage"]
    row = _row(committed, plain)
    told_prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    assert (row.prompt_tokens, row.completion_tokens) == (told_prompt, usage["output_tokens"])


@pytest.mark.parametrize("alias", ["claude-priced", "gpt"])
def test_a_message_costs_its_tokens_at_the_deployments_price(committed, live_server_url, world, alias):
    routed, _ = world
    reply = _post(live_server_url, routed.key, _message(alias))
    usage = reply.json()["usage"]
    row = _row(committed, reply)
    prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    cost = price_sheet().cost_micros(
        model="mock-gpt-4o-mini", prompt_tokens=prompt, completion_tokens=usage["output_tokens"]
    )
    assert row.cost_micros == cost > 0


# --- more provider behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["claude-429", "gpt-429"])
def test_a_providers_429_comes_with_its_retry_after(live_server_url, world, mock, alias):
    routed, targets = world
    mock.fail(targets[alias], status=429, retry_after="7", count=1)
    reply = _post(live_server_url, routed.key, _message(alias))
    _is_anthropic_error(reply, 429, "rate_limit_error")
    assert reply.headers["retry-after"] == "7"


@pytest.mark.parametrize("stream", [False, True])
def test_a_key_out_of_budget_is_refused_in_anthropics_envelope(committed, live_server_url, world, stream):
    routed, _ = world
    key = _limited_key(committed, routed, max_budget_micros=1)
    refused = _post(live_server_url, key, _message("gpt", stream=stream))
    _is_anthropic_error(refused, 429, "rate_limit_error")
    assert "budget" in refused.json()["error"]["message"].lower()


@pytest.mark.parametrize("alias", ["claude", "gpt", "gemini"])
@pytest.mark.parametrize("extra", ["tool", "thinking", "plain"])
def test_streams_of_every_kind_follow_the_grammar_and_say_what_the_plain_answer_says(
    live_server_url, world, alias, extra
):
    routed, _ = world
    fields: dict[str, object] = {}
    if extra == "tool":
        fields = {"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "get_weather"}}
    elif extra == "thinking":
        fields = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}
    plain = _post(live_server_url, routed.key, _message(alias, **fields))
    assert plain.status_code == 200, plain.text
    streamed = _post(live_server_url, routed.key, _message(alias, stream=True, **fields))
    events = assert_messages_stream(streamed.text)
    assert events[-1]["type"] == "message_stop"
    kinds = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert kinds == [block["type"] for block in plain.json()["content"]]
    final = next(e for e in events if e["type"] == "message_delta")
    assert final["delta"]["stop_reason"] == plain.json()["stop_reason"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", [ProviderType.ANTHROPIC, ProviderType.OPENAI_COMPATIBLE])
@pytest.mark.parametrize("behaviour", BROKEN)
def test_an_upstream_answering_garbage_is_an_anthropic_error_not_a_500(
    committed, live_server_url, world, behaviour, provider, stream
):
    routed, _ = world
    reply = _post(live_server_url, routed.key, _message(f"b-{provider}-{behaviour}", stream=stream))
    if reply.status_code == 200:  # a stream whose 200 went out before it broke
        assert stream and reply.headers["content-type"].startswith("text/event-stream")
        events = assert_messages_stream(reply.text, tool_json=False)
        assert events[-1]["type"] in {"error", "message_stop"}
    else:
        assert reply.status_code in {502, 503, 504}, reply.text
        _is_anthropic_error(
            reply,
            reply.status_code,
            {502: "api_error", 503: "overloaded_error", 504: "timeout_error"}[reply.status_code],
        )
    assert _row(committed, reply).status_code == reply.status_code


# --- count_tokens --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["claude", "gpt"])
def test_count_tokens_answers_a_count_and_refuses_what_it_cannot_forward(live_server_url, world, alias):
    routed, _ = world
    counted = _post(live_server_url, routed.key, {"model": alias, "messages": HELLO}, path="/v1/messages/count_tokens")
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    nested = b"[" * 400 + b"1" + b"]" * 400
    body = orjson.dumps({"model": alias, "messages": HELLO, "beta": 0}).replace(b'"beta":0', b'"beta":' + nested)
    refused = _post(live_server_url, routed.key, body, path="/v1/messages/count_tokens")
    if alias == "claude":  # forwarded to Anthropic as it came
        _is_anthropic_error(refused, 400, "invalid_request_error")
    else:  # estimated from the messages, system prompt and tools only
        assert refused.status_code == 200


def test_count_tokens_against_a_provider_answering_something_else_is_an_anthropic_error(
    live_server_url, world, hostile
):
    routed, targets = world
    reply = _post(
        live_server_url, routed.key, {"model": "h-whole", "messages": HELLO}, path="/v1/messages/count_tokens"
    )
    _is_anthropic_error(reply, 502, "api_error")
    seen = [s for s in hostile.seen if s.path.startswith(f"/mock/{targets['h-whole']}/")][-1]
    assert seen.path.endswith("/v1/messages/count_tokens") and routed.key not in str(seen.headers)
