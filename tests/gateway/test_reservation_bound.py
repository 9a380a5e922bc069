"""A reservation bounds what a request can cost: bursts of every shape never spend past a key's budget.

Each shape is fired 120 times at once against a key whose budget holds about 30 of them: many prompts in one
completions request, n choices, many one-letter words (4 bytes a token would underestimate them), CJK text,
and embeddings of a list of inputs. The budget counter and the ledger must both stay within the budget.
"""

import asyncio
import time
import uuid

import httpx
import pytest

from apps.core.redis import redis_client, tenant_key
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.quotas.windows import window_totals
from apps.spend.models import SpendLog
from tests.world import World, consume

pytestmark = pytest.mark.django_db

BURST = 120
FITTING = 30  # requests the budget holds at their real cost

CHAT_HI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SHAPES = {
    "completions of 40 prompts": (
        "/completions",
        {"model": "gpt-4o-mini", "prompt": [f"prompt number {n}" for n in range(40)], "max_tokens": 50},
    ),
    "n choices": (
        "/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": 8, "max_tokens": 40},
    ),
    "one-letter words": (
        "/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a " * 400}], "max_tokens": 1},
    ),
    "CJK": (
        "/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "你 好 世 界 " * 100}], "max_tokens": 2},
    ),
    "completions limited by max_completion_tokens": (
        "/completions",
        {"model": "gpt-4o-mini", "prompt": "hi", "max_tokens": 1, "max_completion_tokens": 60},
    ),
    "embeddings of a list": (
        "/embeddings",
        {"model": "text-embedding-3-small", "input": ["a b c d e f g h i j k l m n o p q r s t"] * 100},
    ),
}


def _key(world: World, **limits: int) -> tuple[VirtualKey, str]:
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    key, plaintext = key_generate(
        organization=world.organization, team=world.team, user=owner, name=f"b-{uuid.uuid4().hex[:6]}", actor=owner
    )
    if limits:
        key_update_limits(key=key, actor=owner, **limits)
    return key, plaintext


async def _burst(url: str, key: str, path: str, body: dict[str, object], count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.post(f"{url}/v1{path}", json=body, headers={"Authorization": f"Bearer {key}"})
                for _ in range(count)
            )
        )


def _real_cost(committed, world: World, url: str, path: str, body: dict[str, object]) -> int:  # type: ignore[no-untyped-def]
    """What one request of this shape costs, measured on a key without limits (the mock is deterministic)."""
    _, probe = committed(_key, world)
    (response,) = asyncio.run(_burst(url, probe, path, body, 1))
    assert response.status_code == 200, response.text[:300]
    request_id = response.headers["x-request-id"]
    consume(committed, request_id)
    return int(committed(lambda: SpendLog.objects.get(request_id=request_id).cost_micros))


@pytest.mark.parametrize("shape", SHAPES)
def test_a_burst_never_spends_past_the_budget(committed, world, live_server_url, shape):
    path, body = SHAPES[shape]
    cost = _real_cost(committed, world, live_server_url, path, body)
    budget = FITTING * cost
    key, plaintext = committed(_key, world, max_budget_micros=budget)

    responses = asyncio.run(_burst(live_server_url, plaintext, path, body, BURST))

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 429}, sorted({response.text[:200] for response in responses})
    served = statuses.count(200)
    assert 1 <= served <= FITTING, (shape, served)  # the budget bound the burst, and no request was refused early
    consume(committed, *(response.headers["x-request-id"] for response in responses))
    spent = committed(lambda: sum(SpendLog.objects.filter(key_id=key.pk).values_list("cost_micros", flat=True)))
    assert spent == served * cost <= budget  # the ledger: not a micro-dollar past the budget
    (counter,) = redis_client().scan_iter(match=tenant_key("edge", "quota", "spent", "key", key.pk, "*"))
    assert int(redis_client().get(counter)) == spent  # every reservation settled to what was spent


def test_the_largest_request_openai_accepts_cannot_corrupt_a_rate_window(committed, world, live_server_url):
    """2,048 prompts, n 128 and max_tokens 2**31-1 bound 5.6e14 tokens: a few at once overflowed the window's
    16-digit counters (and Lua's exact integers), and every later request of the key answered 503."""
    key, plaintext = committed(_key, world, rpm_limit=1000)
    body = {"model": "rate-limited", "prompt": ["x"] * 2048, "max_tokens": 2**31 - 1, "n": 128}  # the mock says 429

    refused = asyncio.run(_burst(live_server_url, plaintext, "/completions", body, 25))
    after = asyncio.run(_burst(live_server_url, plaintext, "/chat/completions", CHAT_HI, 1))

    assert {response.status_code for response in refused} == {429}
    assert after[0].status_code == 200, after[0].text[:300]
    ring = redis_client().get(tenant_key("edge", "quota", "window", "key", key.pk))
    requests, tokens = window_totals(ring, now_s=int(time.time()))
    assert requests == 26 and 0 <= tokens < 10**9
