"""The router through the live gateway (uvicorn) and the mock provider's virtual providers and faults."""

import collections
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from apps.keys.models import VirtualKey
from apps.keys.services import key_hash, key_update_limits
from apps.providers.models import ProviderType
from tests.conftest import live_server_env
from tests.gateway.router.routing_world import Upstream, routed_channel, settle, unique
from tests.live import uvicorn_server
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db

CHAT = {"messages": [{"role": "user", "content": "route me"}]}


@pytest.fixture
def route(committed, mock_root):  # type: ignore[no-untyped-def]
    """Make a routed channel (committed) and wait until the gateway sees it."""

    def make(aliases, router):  # type: ignore[no-untyped-def]
        made = committed(routed_channel, mock_root, aliases, router)
        settle()
        return made

    return make


def post(base: str, key: str, model: str, *, stream: bool = False, **extra: object) -> httpx.Response:
    body = {"model": model, **CHAT, **extra}
    if stream:
        body["stream"] = True
    return httpx.post(f"{base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def test_weights_split_traffic(live_server_url, route, mock):
    a, b, c = unique("w"), unique("w"), unique("w")
    channel = route({"trio": [Upstream(a, weight=6), Upstream(b, weight=3), Upstream(c, weight=1)]}, {})
    replies = [post(live_server_url, channel.key, "trio") for _ in range(300)]
    assert {reply.status_code for reply in replies} == {200}
    served = collections.Counter(reply.headers["x-hydite-deployment"] for reply in replies)
    shares = {target: served[str(channel.deployments[target])] / 300 for target in (a, b, c)}
    # 300 picks: a share's standard deviation is at most 2.9 points; 9 points is over three of them.
    assert abs(shares[a] - 0.6) < 0.09 and abs(shares[b] - 0.3) < 0.09 and abs(shares[c] - 0.1) < 0.09
    assert sum(mock.requests(target) for target in (a, b, c)) == 300


def test_a_transient_failure_is_retried_on_another_deployment(committed, live_server_url, route, mock):
    bad, good = unique("r"), unique("r")
    channel = route({"pair": [Upstream(bad, weight=1000), Upstream(good, weight=1)]}, {"cooldown": {"failures": 100}})
    mock.fail(bad, status=503)
    reply = post(live_server_url, channel.key, "pair")
    assert reply.status_code == 200 and reply.headers["x-hydite-attempts"] == "2"
    assert reply.headers["x-hydite-deployment"] == str(channel.deployments[good])
    row = ledger_rows_drained(committed, {reply.headers["x-request-id"]})[reply.headers["x-request-id"]]
    assert [attempt["outcome"] for attempt in row.attempts] == ["503", "ok"]
    assert row.deployment_id == channel.deployments[good] and row.routing_strategy == "weighted"
    assert row.attempts[0]["deployment_id"] == channel.deployments[bad] and row.attempts[0]["status"] == 503


def test_permanent_errors_fail_fast(live_server_url, route, mock):
    target, other = unique("p"), unique("p")
    channel = route({"one": [Upstream(target, weight=1000), Upstream(other, weight=1)]}, {"retries": 3})
    mock.fail(target, status=400)
    reply = post(live_server_url, channel.key, "one")
    assert reply.status_code == 400 and reply.headers["x-hydite-attempts"] == "1"
    assert mock.requests(target) == 1 and mock.requests(other) == 0


def test_a_refused_credential_or_model_moves_to_another_deployment_without_spending_a_retry(
    committed, live_server_url, route, mock
):
    revoked, retired, good = unique("d"), unique("d"), unique("d")
    aliases = {"trio": [Upstream(revoked, weight=1000), Upstream(retired, weight=1000), Upstream(good, weight=1)]}
    channel = route(aliases, {"retries": 0, "cooldown": {"failures": 100}})
    mock.fail(revoked, status=401)
    mock.fail(retired, status=404)
    replies = [post(live_server_url, channel.key, "trio") for _ in range(5)]
    assert {reply.status_code for reply in replies} == {200}
    assert {reply.headers["x-hydite-deployment"] for reply in replies} == {str(channel.deployments[good])}
    rows = ledger_rows_drained(committed, {reply.headers["x-request-id"] for reply in replies})
    outcomes = [[attempt["outcome"] for attempt in row.attempts] for row in rows.values()]
    # the good one has weight 1 in 2,001: nearly every request meets both refusals first, each once
    assert all(sorted(tried[:-1]) in (["401", "404"], ["401"], ["404"], []) and tried[-1] == "ok" for tried in outcomes)
    assert ["401", "404"] in [sorted(tried[:-1]) for tried in outcomes]


def test_when_every_deployment_refuses_the_credential_the_fallback_answers(live_server_url, route, mock):
    first, second, spare = unique("df"), unique("df"), unique("df")
    aliases = {"main": [Upstream(first), Upstream(second)], "spare": [Upstream(spare)]}
    channel = route(aliases, {"retries": 3, "fallbacks": {"main": ["spare"]}})
    for target in (first, second, spare):
        mock.fail(target, status=403)
    reply = post(live_server_url, channel.key, "main")
    # each deployment once (a retry would meet the same refusal), then the fallback's; the caller's key is fine
    assert reply.status_code == 502 and reply.json()["error"]["code"] == "upstream_auth_failed"
    assert reply.headers["x-hydite-attempts"] == "3" and reply.headers["x-hydite-fallback"] == "spare"
    assert [mock.requests(target) for target in (first, second, spare)] == [1, 1, 1]
    mock.heal(spare)
    rescued = post(live_server_url, channel.key, "main")
    assert rescued.status_code == 200 and rescued.headers["x-hydite-fallback"] == "spare"


def test_retries_and_backoff_stay_within_their_bounds(live_server_url, route, mock):
    target = unique("b")
    router = {"retries": 2, "backoff": {"base_ms": 100, "max_ms": 150}}
    channel = route({"solo": [Upstream(target)]}, router)
    mock.fail(target, status=502)
    started = time.monotonic()
    reply = post(live_server_url, channel.key, "solo")
    elapsed = time.monotonic() - started
    assert reply.status_code == 502 and reply.headers["x-hydite-attempts"] == "3"
    assert mock.requests(target) == 3
    assert elapsed < 0.25 + 1.0  # two waits of at most 100 and 150 ms, plus the requests themselves


def test_retry_after_is_honoured_and_a_longer_one_is_not_waited_for(live_server_url, route, mock):
    target = unique("ra")
    channel = route({"solo": [Upstream(target)]}, {"retries": 1, "retry_after_max_s": 5})
    mock.fail(target, status=429, count=1, retry_after="1")
    started = time.monotonic()
    reply = post(live_server_url, channel.key, "solo")
    assert reply.status_code == 200 and time.monotonic() - started >= 1.0
    assert reply.headers["x-hydite-attempts"] == "2"
    mock.fail(target, status=429, count=1, retry_after="60")
    started = time.monotonic()
    refused = post(live_server_url, channel.key, "solo")
    assert refused.status_code == 429 and time.monotonic() - started < 1.0
    assert refused.headers["x-hydite-attempts"] == "1" and refused.headers["retry-after"] == "60"


def test_fallback_from_an_anthropic_deployment_to_an_openai_one(live_server_url, route, mock):
    claude, gpt = unique("fa"), unique("fo")
    aliases = {
        "claude": [Upstream(claude, provider=ProviderType.ANTHROPIC, model="claude-sonnet-4-5")],
        "gpt": [Upstream(gpt)],
    }
    channel = route(aliases, {"retries": 0, "fallbacks": {"claude": ["gpt"]}})
    mock.fail(claude, status=529)
    client = openai.OpenAI(api_key=channel.key, base_url=f"{live_server_url}/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="claude", **CHAT)
    assert raw.headers["x-hydite-fallback"] == "gpt" and raw.parse().choices[0].message.content
    stream = client.chat.completions.create(model="claude", stream=True, **CHAT)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("Mock reply")
    mock.heal(claude)
    answered = client.chat.completions.with_raw_response.create(model="claude", **CHAT)
    assert "x-hydite-fallback" not in answered.headers
    assert answered.headers["x-gateway-model-resolved"] == "anthropic/claude-sonnet-4-5"


def test_context_window_and_content_policy_fallbacks(live_server_url, route, mock):
    small, large, strict, lenient = unique("cs"), unique("cl"), unique("ps"), unique("pl")
    aliases = {
        "small": [Upstream(small)],
        "large": [Upstream(large)],
        "strict": [Upstream(strict)],
        "lenient": [Upstream(lenient)],
    }
    router = {"context_window_fallbacks": {"small": ["large"]}, "content_policy_fallbacks": {"strict": ["lenient"]}}
    channel = route(aliases, router)
    mock.fail(small, error="context_length")
    mock.fail(strict, error="content_policy")
    moved = post(live_server_url, channel.key, "small")
    assert moved.status_code == 200 and moved.headers["x-hydite-fallback"] == "large"
    assert mock.requests(small) == 1  # a context-length error is not retried on the same model
    assert post(live_server_url, channel.key, "strict").headers["x-hydite-fallback"] == "lenient"
    mock.fail(large, error="context_length")
    too_long = post(live_server_url, channel.key, "small")
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"


def test_a_stream_falls_back_before_its_first_byte_and_never_after(committed, live_server_url, route, mock):
    first, second = unique("s"), unique("s")
    channel = route(
        {"streamy": [Upstream(first, weight=1000), Upstream(second, weight=1)]}, {"cooldown": {"failures": 100}}
    )
    mock.fail(first, break_after=0)  # dropped before any event
    before = post(live_server_url, channel.key, "streamy", stream=True)
    assert before.status_code == 200 and before.headers["x-hydite-attempts"] == "2"
    assert before.text.rstrip().endswith("data: [DONE]") and "error" not in before.text
    mock.fail(first, break_after=2)  # two events reach the client, then the upstream drops
    after = post(live_server_url, channel.key, "streamy", stream=True)
    served_by_second = mock.requests(second)
    assert '"upstream_stream_error"' in after.text and after.headers["x-hydite-attempts"] == "1"
    assert mock.requests(second) == served_by_second  # no silent restart elsewhere
    row = ledger_rows_drained(committed, {after.headers["x-request-id"]})[after.headers["x-request-id"]]
    assert row.attempts[-1]["outcome"] == "stream_broken" and row.attempts[-1]["billed"] is True


def test_first_byte_and_idle_timeouts(committed, live_server_url, route, mock):
    slow, fast, idle = unique("t"), unique("t"), unique("t")
    aliases = {
        "timed": [Upstream(slow, weight=1000, timeouts={"first_byte_s": 0.3}), Upstream(fast, weight=1)],
        "idle": [Upstream(idle, timeouts={"idle_s": 0.3})],
    }
    channel = route(aliases, {"cooldown": {"failures": 100}})
    mock.fail(slow, delay_ms=2000)
    started = time.monotonic()
    reply = post(live_server_url, channel.key, "timed")
    assert reply.status_code == 200 and reply.headers["x-hydite-deployment"] == str(channel.deployments[fast])
    assert time.monotonic() - started < 1.5
    mock.fail(idle, idle_after=2, idle_ms=3000)
    cut = post(live_server_url, channel.key, "idle", stream=True)
    assert '"upstream_stream_error"' in cut.text
    row = ledger_rows_drained(committed, {cut.headers["x-request-id"]})[cut.headers["x-request-id"]]
    assert row.usage_estimated and row.completion_tokens > 0  # billed for what was sent


def test_caps_spread_load_and_a_capped_deployment_is_skipped(live_server_url, route, mock):
    capped, roomy = unique("u"), unique("u")
    channel = route(
        {"capped": [Upstream(capped, rpm=5, weight=1000), Upstream(roomy, weight=1)]}, {"strategy": "usage"}
    )
    replies = [post(live_server_url, channel.key, "capped") for _ in range(30)]
    assert {reply.status_code for reply in replies} == {200}
    assert mock.requests(capped) <= 5 and mock.requests(roomy) >= 25


def test_sticky_sessions_keep_a_user_on_one_deployment(live_server_url, route, mock):
    targets = [unique("st") for _ in range(3)]
    channel = route({"sticky": [Upstream(target) for target in targets]}, {"strategy": "sticky"})
    for user in ("alice", "bob", "carol", "dave"):
        served = {
            post(live_server_url, channel.key, "sticky", user=user).headers["x-hydite-deployment"] for _ in range(8)
        }
        assert len(served) == 1
    headers = {"x-hydite-session-id": "session-1"}
    body = {"model": "sticky", **CHAT}
    url = f"{live_server_url}/v1/chat/completions"
    served = {
        httpx.post(url, json=body, headers={"authorization": f"Bearer {channel.key}", **headers}).headers[
            "x-hydite-deployment"
        ]
        for _ in range(8)
    }
    assert len(served) == 1


def test_latency_routing_finds_the_fast_deployment(live_server_url, route, mock):
    slow, fast = unique("l"), unique("l")
    channel = route({"quick": [Upstream(slow), Upstream(fast)]}, {"strategy": "latency"})
    mock.fail(slow, delay_ms=120)
    replies = [post(live_server_url, channel.key, "quick") for _ in range(80)]
    assert {reply.status_code for reply in replies} == {200}
    assert mock.requests(slow) <= 16  # measured once or twice, then 5 % exploration


def test_cost_routing_takes_the_cheapest_model(live_server_url, route, mock):
    dear, cheap = unique("c"), unique("c")
    channel = route({"thrifty": [Upstream(dear, model="mock-gpt-4o"), Upstream(cheap)]}, {"strategy": "cost"})
    for _ in range(20):
        assert post(live_server_url, channel.key, "thrifty").status_code == 200
    assert mock.requests(dear) == 0 and mock.requests(cheap) == 20


def test_tags_choose_the_pool(live_server_url, route, mock):
    eu, us = unique("eu"), unique("us")
    router = {"rules": [{"header": "x-customer-tier", "equals": "enterprise", "tags": ["eu"]}]}
    channel = route({"geo": [Upstream(eu, tags=("eu",)), Upstream(us, tags=("us",))]}, router)
    url, body = f"{live_server_url}/v1/chat/completions", {"model": "geo", **CHAT}

    def served(**headers: str) -> set[str]:
        answers = [
            httpx.post(url, json=body, headers={"authorization": f"Bearer {channel.key}", **headers}) for _ in range(10)
        ]
        return {answer.headers.get("x-hydite-deployment", str(answer.status_code)) for answer in answers}

    assert served(**{"x-hydite-tags": "us"}) == {str(channel.deployments[us])}
    assert served(**{"x-customer-tier": "Enterprise"}) == {str(channel.deployments[eu])}
    refused = httpx.post(url, json=body, headers={"authorization": f"Bearer {channel.key}", "x-hydite-tags": "cn"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "no_deployment_for_tags"


def test_a_client_cannot_route_around_the_channels_tags(live_server_url, route, mock):
    eu, us = unique("eu"), unique("us")
    channel = route({"resident": [Upstream(eu, tags=("eu",)), Upstream(us, tags=("us",))]}, {"tags": ["eu"]})
    url, body = f"{live_server_url}/v1/chat/completions", {"model": "resident", **CHAT}
    headers = {"authorization": f"Bearer {channel.key}"}
    assert {httpx.post(url, json=body, headers=headers).headers["x-hydite-deployment"] for _ in range(8)} == {
        str(channel.deployments[eu])
    }
    widened = httpx.post(url, json=body, headers={**headers, "x-hydite-tags": "us"})
    assert widened.status_code == 400 and widened.json()["error"]["code"] == "no_deployment_for_tags"
    assert mock.requests(us) == 0


def test_cooldown_is_shared_by_two_gateway_processes_and_ends_with_a_probe(live_server_url, route, mock, tmp_path):  # type: ignore[no-untyped-def]
    flaky, steady = unique("cd"), unique("cd")
    router = {"retries": 1, "cooldown": {"failures": 3, "window_s": 60, "seconds": 2}}
    channel = route({"cool": [Upstream(flaky, weight=1000), Upstream(steady, weight=1)]}, router)
    mock.fail(flaky, status=503)
    with uvicorn_server(live_server_env(), tmp_path / "second.log") as second:
        for _ in range(3):  # three failures through the first process: the deployment cools down
            assert post(live_server_url, channel.key, "cool").status_code == 200
        assert mock.requests(flaky) == 3
        time.sleep(0.6)  # both processes read the cooldown from Redis
        for base in (second, live_server_url) * 5:
            reply = post(base, channel.key, "cool")
            assert reply.headers["x-hydite-attempts"] == "1" and reply.status_code == 200
        assert mock.requests(flaky) == 3  # neither process tried it while it cooled down
        mock.heal(flaky)
        time.sleep(2.2)  # the cooldown ended: one probe, then traffic returns
        answers = [post(base, channel.key, "cool") for base in (second, live_server_url) * 5]
        assert {answer.status_code for answer in answers} == {200}
        assert mock.requests(flaky) >= 8  # the weight sends nearly everything back to it


def test_the_reservation_covers_the_dearest_deployment_the_request_may_end_at(committed, live_server_url, route):
    cheap, dear = unique("rc"), unique("rd")
    aliases = {"cheap": [Upstream(cheap)], "dear": [Upstream(dear, model="mock-gpt-4o")]}
    channel = route(aliases, {"fallbacks": {"cheap": ["dear"]}})
    # a budget the cheap model's reservation fits in, and the dear one's does not
    committed(_key_budget, channel.key, 1_500)
    settle()
    refused = post(live_server_url, channel.key, "cheap", max_tokens=200)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"


def _key_budget(plaintext: str, micros: int) -> None:
    key = VirtualKey.objects.get(key_hash=key_hash(plaintext))
    key_update_limits(key=key, actor=None, max_budget_micros=micros)


def test_least_busy_routing_sends_concurrent_requests_to_the_deployment_with_fewer_in_flight(
    live_server_url, route, mock
):  # type: ignore[no-untyped-def]
    slow, fast = unique("lb"), unique("lb")
    channel = route({"busy": [Upstream(slow), Upstream(fast)]}, {"strategy": "least-busy"})
    mock.fail(slow, delay_ms=400)  # a request there stays in flight a long while
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: post(live_server_url, channel.key, "busy"), range(40)))
    assert {reply.status_code for reply in replies} == {200}
    # weighted alike, half would go to the slow one; least-busy sends it one at a time
    assert mock.requests(slow) <= 8 and mock.requests(fast) >= 32
