"""Streams that run past their reservation: extended block by block, cut with an error event when a layer runs out.

The mock's `-long` model answers 400 words, one word (about one token) per stream chunk, and the
request sets no max_tokens, so the gateway reserves only GATEWAY_DEFAULT_RESERVE_TOKENS (20 here)
and must extend by GATEWAY_STREAM_EXTEND_TOKENS (20) as the stream goes on.
"""

import time
import uuid

import httpx
import openai
import orjson
import pytest

from apps.core.redis import redis_client, tenant_key
from apps.gateway.quota import HELD_PREFIX
from apps.gateway.usage import estimate_prompt_tokens
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.providers.prices import price_sheet
from tests.conftest import live_server_env
from tests.live import prompt_tokens_bound, uvicorn_server
from tests.spend.test_spend_pipeline import _drain_until

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


def _content_events(events: list) -> int:  # type: ignore[type-arg]
    return sum(
        1
        for event in events
        if isinstance(event, dict) and event.get("choices") and event["choices"][0]["delta"].get("content")
    )


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
    row = _drain_until(committed, {request_id})[request_id]
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
    assert sent == 3 * BLOCK, (sent, events[-2])  # the events within the allowance go, then the cut
    assert events[-1] == "[DONE]"
    error = events[-2]["error"]
    assert (error["code"], error["type"]) == ("budget_exceeded", "budget_exceeded")
    row = _drain_until(committed, {request_id})[request_id]
    assert (row.status_code, row.error_code) == (429, "budget_exceeded")
    assert (row.prompt_tokens, row.completion_tokens, row.usage_estimated) == (prompt, sent, True)
    assert row.cost_micros == _cost(prompt, sent) <= budget
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

    assert received == 2 * BLOCK
    assert caught.value.code == "tpm_limit" and "Rate limit exceeded" in caught.value.message
