"""Streams that run past their reservation: extended block by block, cut with an error event when a layer runs out.

The mock's `-long` model answers 400 words, one word per stream chunk, and the request sets no
max_tokens, so the gateway reserves only GATEWAY_DEFAULT_RESERVE_TOKENS (20 here) and must extend by
GATEWAY_STREAM_EXTEND_TOKENS (20) as the stream goes on. It counts a chunk at its content's UTF-8 bytes
(the most tokens it can hold): a word of five letters and a space is six.
"""

import time
import uuid

import httpx
import openai
import orjson
import pytest

from apps.channels.models import Channel
from apps.channels.services import DeploymentSpec, channel_model_set
from apps.core.redis import redis_client, tenant_key
from apps.gateway.reservation import completion_cap_parameter
from apps.gateway.usage import StreamTap, estimate_prompt_tokens
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.mock_provider.plan import reply_words
from apps.providers.models import ProviderType
from apps.providers.prices import price_sheet
from apps.providers.services import provider_credential_create
from apps.quotas.reservations import HELD_PREFIX
from tests.conftest import UPSTREAM_API_KEY, live_server_env
from tests.live import prompt_tokens_bound, uvicorn_server
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db

BLOCK = 20
PROMPT = [{"role": "user", "content": "x"}]
LONG_WORDS = 400


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    env = live_server_env(GATEWAY_DEFAULT_RESERVE_TOKENS=str(BLOCK), GATEWAY_STREAM_EXTEND_TOKENS=str(BLOCK))
    with uvicorn_server(env, tmp_path_factory.mktemp("stream-quota") / "uvicorn.log") as url:
        yield url


def _key(committed, world, **limits):  # type: ignore[no-untyped-def]
    def make() -> tuple[VirtualKey, str]:
        owner = world.organization.memberships.filter(team__isnull=True).first().user
        key, plaintext = key_generate(
            organization=world.organization, team=world.team, user=owner, name=f"s-{uuid.uuid4().hex[:6]}", actor=owner
        )
        key_update_limits(key=key, actor=owner, **limits)
        return key, plaintext

    return committed(make)


def _stream(url: str, key: str) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    """The request id and the parsed data events of a long stream; the last item is "[DONE]" if it came."""
    body = {"model": "long", "stream": True, "messages": PROMPT}
    events: list = []  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", f"{url}/v1/chat/completions", headers=headers, json=body, timeout=30) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                payload = line.removeprefix("data: ")
                events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return request_id, events


def _contents(events: list) -> list[str]:  # type: ignore[type-arg]
    return [
        event["choices"][0]["delta"]["content"]
        for event in events
        if isinstance(event, dict) and event.get("choices") and event["choices"][0]["delta"].get("content")
    ]


def _content_events(events: list) -> int:  # type: ignore[type-arg]
    return len(_contents(events))


def _within(limit: int) -> int:
    """How many of the long answer's words fit in `limit` completion tokens counted as UTF-8 bytes."""
    words = reply_words("x", LONG_WORDS)  # the mock's answer to PROMPT, a word and a space per chunk
    total = count = 0
    for word in words:
        total += len(word.encode()) + 1
        if total > limit:
            return count
        count += 1
    return count


def _cost(prompt: int, completion: int) -> int:
    return price_sheet().cost_micros(model="mock-gpt-4o-mini-long", prompt_tokens=prompt, completion_tokens=completion)  # type: ignore[return-value]


def _budget_counter(key: VirtualKey) -> int:
    (name,) = redis_client().scan_iter(match=tenant_key("edge", "quota", "spent", "key", key.pk, "*"))
    return int(redis_client().get(name))


def _settled(request_id: str, timeout_s: float = 5) -> bool:
    """No reservation of the request (or of its extensions) is still held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = [
            field
            for name in redis_client().scan_iter(match=f"{HELD_PREFIX}*")
            if redis_client().type(name) == b"hash"
            for field in redis_client().hkeys(name)
            if field.decode().startswith(request_id)
        ]
        if not held:
            return True
        time.sleep(0.05)
    return False


def test_a_stream_within_its_budget_is_extended_to_the_end_and_settled_exactly(committed, world, stream_server):
    key, plaintext = _key(committed, world, max_budget_micros=1_000_000)
    request_id, events = _stream(stream_server, plaintext)

    assert events[-1] == "[DONE]" and not any("error" in event for event in events if isinstance(event, dict))
    assert _content_events(events) == LONG_WORDS  # 400 tokens through a 20-token reservation: 19 extensions
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert (row.status_code, row.error_code, row.completion_tokens) == (200, "", LONG_WORDS)
    assert _settled(request_id)
    assert _budget_counter(key) == row.cost_micros  # every extension settled: nothing reserved is left over


def test_a_stream_that_runs_out_of_budget_is_cut_with_an_error_event_and_billed_for_what_it_sent(
    committed, world, stream_server
):
    prompt = estimate_prompt_tokens({"messages": PROMPT})  # what a stream cut short is billed for
    # room for the admission (the prompt's bound + 20) and two extensions of 20: 60 completion tokens, not a third
    budget = _cost(prompt_tokens_bound({"messages": PROMPT}), BLOCK) + 2 * _cost(0, BLOCK) + 5
    key, plaintext = _key(committed, world, max_budget_micros=budget)

    request_id, events = _stream(stream_server, plaintext)

    sent = _content_events(events)
    assert sent == _within(3 * BLOCK), (sent, events[-2])  # the events within the allowance go, then the cut
    assert events[-1] == "[DONE]"
    error = events[-2]["error"]
    assert (error["code"], error["type"]) == ("budget_exceeded", "budget_exceeded")
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert (row.status_code, row.error_code) == (429, "budget_exceeded")
    assert (row.prompt_tokens, row.completion_tokens, row.usage_estimated) == (prompt, 3 * BLOCK, True)
    assert row.cost_micros == _cost(prompt, 3 * BLOCK) <= budget  # the allowance it reached
    assert _settled(request_id)
    assert _budget_counter(key) == row.cost_micros <= budget  # billed for the tokens sent, never above the budget


def test_a_stream_that_runs_out_of_tokens_per_minute_is_cut_and_the_sdk_raises(committed, world, stream_server):
    prompt = prompt_tokens_bound({"messages": PROMPT})
    _, plaintext = _key(committed, world, tpm_limit=prompt + 2 * BLOCK + 5)  # the admission and one extension
    client = openai.OpenAI(api_key=plaintext, base_url=f"{stream_server}/v1", max_retries=0)

    received = 0
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="long", stream=True, messages=PROMPT):
            received += bool(chunk.choices and chunk.choices[0].delta.content)

    assert received == _within(2 * BLOCK)
    assert caught.value.code == "tpm_limit" and "Rate limit exceeded" in caught.value.message


def _gemini_long(world, mock_url: str) -> None:  # type: ignore[no-untyped-def]
    """A Gemini deployment of the long answer: Gemini streams whole sentences, many tokens an event."""
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    channel = Channel.objects.get(organization=world.organization, is_default=True)
    credential = provider_credential_create(
        organization=None, name="mock", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    spec = DeploymentSpec(ProviderType.GEMINI, "mock-gpt-4o-mini-long", mock_url, credential)
    channel_model_set(channel=channel, alias="gemini-long", deployments=[spec], actor=owner, platform_managed=True)


def test_a_stream_of_many_tokens_an_event_is_cut_within_its_budget(committed, world, stream_server, mock_provider_url):
    committed(_gemini_long, world, mock_provider_url)
    budget = _cost(prompt_tokens_bound({"messages": PROMPT}), BLOCK) + 16 * _cost(0, BLOCK) + 5  # 340 tokens: < 400
    key, plaintext = _key(committed, world, max_budget_micros=budget)
    time.sleep(1.1)  # the gateway's channel snapshot

    body = {"model": "gemini-long", "stream": True, "messages": PROMPT}
    with httpx.stream(
        "POST", f"{stream_server}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {plaintext}"}
    ) as response:
        request_id = response.headers["x-request-id"]
        payloads = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    events = [payload if payload == "[DONE]" else orjson.loads(payload) for payload in payloads]

    sent = "".join(_contents(events))
    assert 0 < len(sent.encode()) <= 17 * BLOCK < len(" ".join(reply_words("x", LONG_WORDS)))  # cut short
    assert events[-2]["error"]["code"] == "budget_exceeded"
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert row.cost_micros <= budget and _budget_counter(key) == row.cost_micros  # never past the budget


def test_a_budgeted_request_without_a_limit_is_sent_with_the_reserved_one(committed, world, stream_server):
    """Not streamed, it could not be cut: the provider is told the limit its reservation counted (20 here)."""
    _, budgeted = _key(committed, world, max_budget_micros=1_000_000)
    _, unlimited = _key(committed, world)
    body = {"model": "long", "messages": PROMPT}

    def completion_tokens(key: str) -> int:
        answer = httpx.post(
            f"{stream_server}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        return int(answer.json()["usage"]["completion_tokens"])

    assert completion_tokens(budgeted) == BLOCK
    assert completion_tokens(unlimited) == LONG_WORDS  # no budget: the request's own (none) stands


@pytest.mark.parametrize(
    ("deployment", "path", "parameter"),
    [
        ({"provider": "openai"}, "/chat/completions", "max_completion_tokens"),
        ({"provider": "azure", "api_version": "2024-10-21"}, "/chat/completions", "max_completion_tokens"),
        ({"provider": "azure", "api_version": ""}, "/chat/completions", "max_completion_tokens"),
        ({"provider": "azure", "api_version": "2024-06-01"}, "/chat/completions", "max_tokens"),
        ({"provider": "openai_compatible"}, "/chat/completions", "max_tokens"),
        ({"provider": "anthropic"}, "/chat/completions", "max_tokens"),
        ({"provider": "openai"}, "/completions", "max_tokens"),
    ],
)
def test_the_limit_is_sent_in_the_parameter_the_provider_knows(deployment, path, parameter):
    assert completion_cap_parameter(deployment, path) == parameter


def _chunk(**delta: object) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta}]}) + b"\n\n"


def test_the_tap_bounds_by_bytes_and_parses_only_when_they_cannot_decide():
    contents = ["héllo ", "wörld ", "again"]
    tool = {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    events = [_chunk(role="assistant", content=""), *(_chunk(content=text) for text in contents), _chunk(**tool)]
    tap = StreamTap(strip_usage_event=False, measure=True)

    first, rest = b"".join(events[:2]), b"".join(events[2:])
    forwarded = tap.feed(first + rest[:9]) + tap.feed(rest[9:])  # an event split across two chunks
    assert forwarded == b"".join(events)
    assert tap.loose_bound == len(forwarded) and tap.measured == 0  # nothing parsed yet
    exact = sum(len(text.encode()) for text in contents) + len(b'f{"a": 1}')
    assert tap.bound() == exact == tap.loose_bound  # the bytes of what was generated
    assert tap.events_within(len(b"h\xc3\xa9llo w\xc3\xb6rld ")) == events[2]  # the last feed: within its bound


def test_an_event_without_the_space_after_data_is_counted_too():
    """SSE allows "data:{…}": a provider that sends it must not slip its chunks past the bound."""
    tap = StreamTap(strip_usage_event=False, measure=True)
    tap.feed(b'data:{"choices": [{"index": 0, "delta": {"content": "abcdef"}}]}\n\n')
    tap.feed(b'event: chunk\ndata: {"choices": [{"index": 0, "delta": {"content": "gh"}}]}\n\n')
    assert tap.bound() == 8
