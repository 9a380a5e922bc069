"""The router under hostile upstreams and clients, through the live gateway: what a review found and fixed."""

import time
from collections.abc import Iterator

import httpx
import pytest

from apps.channels.models import Deployment
from apps.channels.snapshots import channel_snapshot_publish
from apps.core.schemas import current_schema
from apps.providers.models import ProviderType
from tests.gateway.router.hostile_upstream import HostileUpstream, hostile_upstream
from tests.gateway.router.routing_world import Upstream, routed_channel, settle, unique
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db

CHAT = {"messages": [{"role": "user", "content": "route me"}]}


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    with hostile_upstream() as upstream:
        yield upstream


@pytest.fixture
def route(committed, mock_root):  # type: ignore[no-untyped-def]
    def make(aliases, router):  # type: ignore[no-untyped-def]
        made = committed(routed_channel, mock_root, aliases, router)
        settle()
        return made

    return make


def post(base: str, key: str, model: str, *, stream: bool = False, **headers: str) -> httpx.Response:
    body: dict[str, object] = {"model": model, **CHAT}
    if stream:
        body["stream"] = True
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.post(
        f"{base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=30
    )


def test_a_retry_after_date_past_what_a_datetime_holds_is_ignored_not_a_500(committed, live_server_url, route, mock):
    flaky, steady = unique("ra"), unique("ra")
    channel = route(
        {"pair": [Upstream(flaky, weight=1000), Upstream(steady, weight=1)]}, {"cooldown": {"failures": 100}}
    )
    mock.fail(flaky, status=503, retry_after="Mon, 01 Jan 99999999999 00:00:00 GMT")
    reply = post(live_server_url, channel.key, "pair")
    assert reply.status_code == 200 and reply.headers["x-hydite-attempts"] == "2"
    row = ledger_rows_drained(committed, {reply.headers["x-request-id"]})[reply.headers["x-request-id"]]
    assert [attempt["outcome"] for attempt in row.attempts] == ["503", "ok"] and row.status_code == 200


def test_anthropics_content_filtering_refusal_moves_to_the_content_policy_fallback(live_server_url, route, mock):
    claude, gpt = unique("cp"), unique("cp")
    aliases = {
        "claude": [Upstream(claude, provider=ProviderType.ANTHROPIC, model="claude-sonnet-4-5")],
        "gpt": [Upstream(gpt)],
    }
    channel = route(aliases, {"content_policy_fallbacks": {"claude": ["gpt"]}})
    mock.fail(claude, error="content_policy")  # "Output blocked by content filtering policy"
    reply = post(live_server_url, channel.key, "claude")
    assert reply.status_code == 200 and reply.headers["x-hydite-fallback"] == "gpt"
    assert mock.requests(claude) == 1 and mock.requests(gpt) == 1


def test_a_retry_goes_back_to_a_tried_deployment_when_the_others_are_cooling_down(live_server_url, route, mock):
    steady, cooled = unique("rt"), unique("rt")
    router = {"retries": 2, "cooldown": {"failures": 2, "seconds": 60}}
    channel = route({"pair": [Upstream(steady, weight=1), Upstream(cooled, weight=1000)]}, router)
    mock.fail(cooled, status=503)
    for _ in range(2):  # two failures: `cooled` cools down; each request was retried on `steady`
        assert post(live_server_url, channel.key, "pair").status_code == 200
    mock.fail(steady, status=503, count=1)
    reply = post(live_server_url, channel.key, "pair")
    assert reply.status_code == 200 and reply.headers["x-hydite-attempts"] == "2"
    assert reply.headers["x-hydite-deployment"] == str(channel.deployments[steady])
    assert mock.requests(cooled) == 2  # never tried while cooling down


def test_the_only_deployment_carrying_the_requested_tag_is_tried_while_it_cools_down(live_server_url, route, mock):
    eu, us = unique("tg"), unique("tg")
    router = {"cooldown": {"failures": 1, "seconds": 60}}
    channel = route({"geo": [Upstream(eu, weight=1000, tags=("eu",)), Upstream(us, weight=1, tags=("us",))]}, router)
    mock.fail(eu, status=503, count=1)
    assert post(live_server_url, channel.key, "geo").headers["x-hydite-attempts"] == "2"  # `eu` cools down
    time.sleep(0.5)
    tagged = post(live_server_url, channel.key, "geo", x_hydite_tags="eu")
    assert tagged.status_code == 200 and tagged.headers["x-hydite-deployment"] == str(channel.deployments[eu])
    assert post(live_server_url, channel.key, "geo").headers["x-hydite-deployment"] == str(channel.deployments[us])


def test_a_failed_probe_starts_a_cooldown_that_ends_with_a_probe_of_its_own(live_server_url, route, mock):
    flaky, steady = unique("pr"), unique("pr")
    router = {"cooldown": {"failures": 1, "seconds": 1}}
    channel = route({"pair": [Upstream(flaky, weight=1000), Upstream(steady, weight=1)]}, router)
    mock.fail(flaky, status=503)
    assert post(live_server_url, channel.key, "pair").status_code == 200  # `flaky` failed: 1 s of cooldown
    time.sleep(1.3)
    assert post(live_server_url, channel.key, "pair").status_code == 200  # its probe failed: 1 s more
    assert mock.requests(flaky) == 2
    mock.heal(flaky)
    time.sleep(1.6)
    served = [post(live_server_url, channel.key, "pair").headers["x-hydite-deployment"] for _ in range(10)]
    assert served.count(str(channel.deployments[flaky])) >= 8  # the second probe succeeded: traffic is back


def test_a_probe_answered_with_a_client_error_returns_the_deployment_to_traffic(live_server_url, route, mock):
    flaky, steady = unique("pc"), unique("pc")
    router = {"cooldown": {"failures": 1, "seconds": 1}}
    channel = route({"pair": [Upstream(flaky, weight=1000), Upstream(steady, weight=1)]}, router)
    mock.fail(flaky, status=503, count=1)
    assert post(live_server_url, channel.key, "pair").status_code == 200  # `flaky` cools down for 1 s
    time.sleep(1.3)
    mock.fail(flaky, error="context_length", count=1)
    assert post(live_server_url, channel.key, "pair").status_code == 400  # the probe: the deployment answered
    time.sleep(0.5)
    served = [post(live_server_url, channel.key, "pair").headers["x-hydite-deployment"] for _ in range(10)]
    assert served.count(str(channel.deployments[flaky])) >= 8


@pytest.mark.parametrize(
    ("behaviour", "status", "code", "attempts"),
    [
        ("redirect", 502, "upstream_unavailable", 1),  # the deployment's fault: not tried again
        ("reset", 502, "upstream_unavailable", 2),
        ("stall", 504, "upstream_timeout", 2),
        ("html503", 503, None, 2),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_failed_request_tells_where_it_went_in_its_headers_and_its_one_ledger_row(
    committed, live_server_url, route, hostile, behaviour, status, code, attempts, stream
):
    target = f"{behaviour}.{unique('h')}"
    router = {"retries": 1, "backoff": {"base_ms": 1, "max_ms": 2}}
    channel = route({"solo": [Upstream(target, root=f"http://127.0.0.1:{hostile.port}")]}, router)
    reply = post(live_server_url, channel.key, "solo", stream=stream)
    assert reply.status_code == status and reply.json()["error"]["code"] == code
    assert reply.headers["x-hydite-attempts"] == str(attempts)
    assert reply.headers["x-hydite-deployment"] == str(channel.deployments[target])
    request_id = reply.headers["x-request-id"]
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert row.status_code == status and len(row.attempts) == attempts and row.cost_micros == 0


def test_no_fallback_is_told_when_every_fallback_was_skipped(committed, live_server_url, route, mock):
    first, spare_a, spare_b = unique("fb"), unique("fb"), unique("fb")
    aliases = {"first": [Upstream(first)], "spare": [Upstream(spare_a), Upstream(spare_b)]}
    router = {"retries": 1, "fallbacks": {"first": ["spare"]}, "cooldown": {"failures": 1, "seconds": 60}}
    channel = route(aliases, router)
    for target in (first, spare_a, spare_b):
        mock.fail(target, status=503)
    assert post(live_server_url, channel.key, "spare").headers["x-hydite-attempts"] == "2"  # both cool down
    time.sleep(0.5)
    reply = post(live_server_url, channel.key, "first")
    assert reply.status_code == 503 and "x-hydite-fallback" not in reply.headers
    row = ledger_rows_drained(committed, {reply.headers["x-request-id"]})[reply.headers["x-request-id"]]
    assert not row.fallback_used and {attempt["alias"] for attempt in row.attempts} == {"first"}


def test_a_stream_that_ends_before_its_first_event_goes_to_another_deployment(
    committed, live_server_url, route, hostile
):
    root = f"http://127.0.0.1:{hostile.port}"
    aliases = {
        behaviour: [Upstream(f"{behaviour}.{unique('e')}", root=root, weight=1000), Upstream(unique("e"), weight=1)]
        for behaviour in ("comment-stream", "garbage-stream", "garbage200")
    }
    channel = route(aliases, {"cooldown": {"failures": 100}})
    for alias, upstreams in aliases.items():
        reply = post(live_server_url, channel.key, alias, stream=True)
        assert reply.status_code == 200 and reply.text.rstrip().endswith("data: [DONE]"), alias
        assert reply.headers["x-hydite-deployment"] == str(channel.deployments[upstreams[1].target])
        row = ledger_rows_drained(committed, {reply.headers["x-request-id"]})[reply.headers["x-request-id"]]
        assert [attempt["outcome"] for attempt in row.attempts] == ["empty_stream", "ok"]


def test_a_refusal_for_an_enormous_requested_tag_quotes_a_bounded_part_of_it(live_server_url, route):
    channel = route({"geo": [Upstream(unique("tq"), tags=("eu",))]}, {})
    reply = post(live_server_url, channel.key, "geo", x_hydite_tags="x" * 60_000)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "no_deployment_for_tags"
    assert len(reply.content) < 1_000


def test_a_deployment_whose_address_is_no_longer_allowed_cools_down(committed, live_server_url, route, mock):
    moved, steady = unique("na"), unique("na")
    channel = route({"pair": [Upstream(moved, weight=1000), Upstream(steady, weight=1)]}, {"cooldown": {"failures": 1}})
    # its host now resolves, or its allowlist entry was removed: the address is refused at the gateway
    committed(_move_deployment, channel.channel_id, channel.deployments[moved], "http://10.255.255.1:9/v1")
    settle()
    for _ in range(3):  # `moved` is picked first 1,000 times in 1,001
        rescued = post(live_server_url, channel.key, "pair")
        assert rescued.status_code == 200
        assert rescued.headers["x-hydite-deployment"] == str(channel.deployments[steady])
        if rescued.headers["x-hydite-attempts"] == "2":
            break
    row = ledger_rows_drained(committed, {rescued.headers["x-request-id"]})[rescued.headers["x-request-id"]]
    assert [attempt["outcome"] for attempt in row.attempts] == ["not_allowed", "ok"]
    time.sleep(0.5)
    served = {post(live_server_url, channel.key, "pair").headers["x-hydite-deployment"] for _ in range(5)}
    assert served == {str(channel.deployments[steady])}


def test_a_lone_deployment_whose_address_is_not_allowed_is_refused_in_our_words(committed, live_server_url, route):
    moved = unique("nl")
    channel = route({"solo": [Upstream(moved)]}, {"retries": 2})
    committed(_move_deployment, channel.channel_id, channel.deployments[moved], "http://10.255.255.1:9/v1")
    settle()
    refused = post(live_server_url, channel.key, "solo")
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "upstream_not_allowed"
    assert refused.headers["x-hydite-attempts"] == "1"


def _move_deployment(channel_id: int, deployment_id: int, api_base: str) -> None:
    Deployment.objects.filter(pk=deployment_id).update(api_base=api_base)
    channel_snapshot_publish(schema=current_schema(), channel_id=channel_id)
