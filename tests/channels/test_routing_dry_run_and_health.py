"""The routing page's dry run (the gateway's own route_plan and choose over the channel's snapshot) and its
deployments' health, read from what gateway processes share in Redis; Redis down: the page still renders."""

import re
import time
import uuid
from collections.abc import Iterator

import pytest

from apps.channels.models import Channel, Deployment
from apps.channels.router_services import channel_router_set
from apps.channels.routing_health import routing_health_read
from apps.channels.yaml_io import channel_yaml_import
from apps.core.redis import redis_client
from apps.gateway.router.shared import COOLDOWNS, PROCESSES, load_key
from tests.channels.conftest import PUBLIC_BASE
from tests.conftest import client_for, redis_unreachable

pytestmark = pytest.mark.django_db

MODELS = f"""models:
  - alias: duo
    provider: {{name: openai, model: duo-a, api_base: {PUBLIC_BASE}}}
    tags: [eu]
  - alias: duo
    provider: {{name: openai, model: duo-b, api_base: {PUBLIC_BASE}}}
    tags: [us]
  - alias: duo
    provider: {{name: openai, model: duo-c, api_base: {PUBLIC_BASE}}}
    tags: [eu, enterprise]
  - alias: solo
    provider: {{name: anthropic, model: solo, api_base: {PUBLIC_BASE}}}
    rpm: 5
  - alias: spare
    provider: {{name: openai, model: spare, api_base: {PUBLIC_BASE}}}
"""
ROUTER = {
    "strategy": "sticky",
    "rules": [{"header": "x-customer-tier", "equals": "enterprise", "tags": ["enterprise"]}],
    "fallbacks": {"duo": ["solo", "spare"]},
    "context_window_fallbacks": {"duo": ["spare"]},
}


class SharedHealth:
    """What gateway processes write (apps.gateway.router.shared), written by hand and removed afterwards."""

    def __init__(self) -> None:
        self.client = redis_client()
        self.fields: list[str] = []
        self.processes: list[str] = []

    def cool(self, deployment: Deployment, ends_ms: int) -> None:
        field = f"edge:{deployment.pk}"
        self.client.hset(COOLDOWNS, field, ends_ms)
        self.fields.append(field)

    def process(self, counters: dict[Deployment, str], *, seen_ms: int | None = None) -> None:
        name = uuid.uuid4().hex[:16]
        self.client.zadd(PROCESSES, {name: seen_ms or int(time.time() * 1000)})
        self.client.hset(load_key(name), mapping={f"edge:{d.pk}": value for d, value in counters.items()})
        self.processes.append(name)

    def remove(self) -> None:
        if self.fields:
            self.client.hdel(COOLDOWNS, *self.fields)
        if self.processes:
            self.client.zrem(PROCESSES, *self.processes)
            self.client.delete(*(load_key(name) for name in self.processes))


@pytest.fixture
def shared() -> Iterator[SharedHealth]:
    health = SharedHealth()
    yield health
    health.remove()


@pytest.fixture
def routed(channel, admin) -> Channel:  # type: ignore[no-untyped-def]
    channel_yaml_import(channel=channel, text=MODELS, actor=admin)
    channel_router_set(channel=channel, router=ROUTER, actor=None, gated=False)
    return channel


def _deployment(model: str) -> Deployment:
    return Deployment.objects.get(upstream_model=model)


def _dry_run(client, channel: Channel, *samples: dict[str, str], total: int = 5):  # type: ignore[no-untyped-def]
    data = {"samples-TOTAL_FORMS": str(total), "samples-INITIAL_FORMS": "0"}
    for index, sample in enumerate(samples):
        data.update({f"samples-{index}-{name}": value for name, value in sample.items()})
    return client.post(f"/o/{channel.organization.slug}/channels/{channel.slug}/routing/dry-run/", data)


def _results(html: str) -> list[str]:
    return re.findall(r'<div class="dry-run-result">(.*?)</div>', html, re.S)


def _pick(result: str, route: int = 0) -> str:
    return re.findall(r'<td class="pick">(.*?)</td>', result, re.S)[route]


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_each_sample_shows_its_candidates_cooldowns_strategy_and_pick(routed, admin, shared):
    a, b, c = _deployment("duo-a"), _deployment("duo-b"), _deployment("duo-c")
    shared.cool(a, _now_ms() + 60_000)
    shared.cool(b, _now_ms() - 1_000)  # ended: waiting for its probe
    response = _dry_run(
        client_for(admin),
        routed,
        {"alias": "duo", "tags": "eu"},
        {"alias": "duo", "headers": "X-Customer-Tier: Enterprise"},
        {"alias": "duo", "session": "user-42"},
        {"alias": "duo", "tags": "mars"},
        {"alias": "nope"},
    )
    assert response.status_code == 200
    eu, tier, anyone, mars, nope = _results(response.content.decode())

    assert "Requested tags: eu" in eu and f"#{b.pk} " not in eu  # tagged us
    assert f"#{a.pk} cooling down until" in eu and _pick(eu).startswith(f"#{c.pk} openai:duo-c")
    assert "sticky, 2 retries" in eu and "fallback 1" not in eu  # no fallback has a deployment tagged eu
    assert "On a context window error: none with a deployment for the requested tags." in eu

    assert "Requested tags: enterprise" in tier and _pick(tier) == f"#{c.pk} openai:duo-c"  # by the header rule
    assert f"#{b.pk} waiting for its probe" in anyone and "On a context window error: spare." in anyone
    assert "fallback 1: <code>solo</code>" in anyone and "fallback 2: <code>spare</code>" in anyone
    assert _pick(anyone, 1).endswith("anthropic:solo") and _pick(anyone, 2).endswith("openai:spare")
    assert _pick(anyone) == f"#{b.pk} as its probe (unless a request is probing it), else #{c.pk} openai:duo-c"
    assert "No deployment of `duo` carries the requested tags (any of mars)." in mars
    assert "The model `nope` does not exist" in nope


def test_loads_from_every_live_process_decide_least_busy_and_caps(routed, admin, shared):
    channel_router_set(
        channel=routed, router={**ROUTER, "aliases": {"duo": {"strategy": "least-busy"}}}, actor=None, gated=False
    )
    a, b, c, solo = (_deployment(model) for model in ("duo-a", "duo-b", "duo-c", "solo"))
    minute = int(time.time()) // 60
    shared.process({a: f"2 {minute} 1 10 -1 -1 0 0", c: f"1 {minute} 1 10 -1 -1 0 0"})
    shared.process({c: f"2 {minute} 1 10 -1 -1 0 0", solo: f"0 {minute} 5 100 -1 -1 0 0"})
    shared.process({b: f"9 {minute} 1 10 -1 -1 0 0"}, seen_ms=_now_ms() - 10_000)  # gone: not counted
    html = _dry_run(client_for(admin), routed, {"alias": "duo"}).content.decode()
    (result,) = _results(html)
    assert "least-busy, 2 retries" in result and _pick(result) == f"#{b.pk} openai:duo-b"  # 0 in flight
    assert f"#{solo.pk} at its rpm/tpm cap" in result and _pick(result, 1) == "none: the next route is tried"


@pytest.mark.parametrize(
    ("samples", "total", "message"),
    [
        ([{"alias": "duo"}] * 6, 6, "Please submit at most 5 forms."),
        ([], 5, "Name an alias in at least one sample."),
        ([{"tags": "eu"}], 5, "Which alias would this request name?"),
        ([{"alias": "duo", "headers": "no colon here"}], 5, "Line 1: `name: value`, the name a header name."),
        ([{"alias": "duo", "headers": "bad header: x"}], 5, "Line 1: `name: value`"),
        ([{"alias": "duo", "headers": "x-a: 1\n" * 17}], 5, "At most 16 headers."),
        ([{"alias": "duo", "session": "a\x01b"}], 5, "Must not contain control characters"),
        ([{"alias": "duo", "tags": "eu\x1b[31m"}], 5, "Must not contain control characters"),
        ([{"alias": "d" * 201}], 5, "at most 200 characters"),
        ([{"alias": "duo"}], 100_000, "Please submit at most 5 forms."),
    ],
)
def test_bad_samples_are_refused_in_words(routed, admin, samples, total, message):
    response = _dry_run(client_for(admin), routed, *samples, total=total)
    assert response.status_code == 400 and message in response.content.decode()
    assert 'id="dry-run-results"' not in response.content.decode()


def test_a_viewer_may_dry_run(routed, org_with_roles):
    response = _dry_run(client_for(org_with_roles["users"]["viewer"]), routed, {"alias": "spare"})
    assert response.status_code == 200 and "openai:spare" in _pick(_results(response.content.decode())[0])


def test_health_per_deployment_over_the_live_processes(routed, admin, shared):
    a, b, c, solo = (_deployment(model) for model in ("duo-a", "duo-b", "duo-c", "solo"))
    Deployment.objects.filter(pk=solo.pk).update(is_active=False)
    ends = _now_ms() + 90_000
    shared.cool(a, ends)
    shared.cool(b, _now_ms() - 5_000)
    minute = int(time.time()) // 60
    shared.process({a: f"1 {minute} 5 100 120.0 300.0 0.2 10", c: "garbage"})
    shared.process({a: f"2 {minute} 3 50 80.0 200.0 0.0 30", c: f"0 {minute - 1} 7 70 -1 -1 0 0"})
    shared.process({a: f"50 {minute} 50 50 1.0 1.0 0.5 50"}, seen_ms=_now_ms() - 10_000)  # gone

    health = routing_health_read(schema="edge", deployment_ids=[a.pk, b.pk, c.pk])
    assert health is not None and health.cooldowns == {a.pk: ends, b.pk: health.cooldowns[b.pk]}
    load = health.loads[a.pk]
    assert (load.inflight, load.requests, load.tokens, load.samples) == (3, 8, 150, 40)
    assert load.error_rate == pytest.approx(0.05)
    assert load.p50_ms == pytest.approx((8 * 120 + 30 * 80) / 38) and load.p95_ms == pytest.approx(
        (8 * 300 + 30 * 200) / 38
    )
    assert (health.loads[c.pk].requests, health.loads[c.pk].p95_ms) == (0, None)  # last minute's; not measured

    html = client_for(admin).get(f"/o/{routed.organization.slug}/channels/{routed.slug}/routing/").content.decode()
    rows = {int(pk): row for pk, row in re.findall(r'<tr data-deployment="(\d+)">(.*?)</tr>', html, re.S)}
    until = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ends / 1000))
    assert f"cooling down until {until} UTC" in rows[a.pk]
    assert "88 ms" in rows[a.pk] and "221 ms" in rows[a.pk] and "5 % of 40" in rows[a.pk]
    assert "waiting for its probe" in rows[b.pk] and "healthy" in rows[c.pk] and "disabled" in rows[solo.pk]


def test_redis_unreachable_the_page_renders_and_says_health_is_unavailable(routed, admin, settings):
    client = client_for(admin)
    url = f"/o/{routed.organization.slug}/channels/{routed.slug}/routing/"
    with redis_unreachable(settings):
        page = client.get(url)
        assert page.status_code == 200 and "Health is unavailable: Redis cannot be reached." in page.content.decode()
        dry_run = _dry_run(client, routed, {"alias": "duo", "tags": "us"})
    html = dry_run.content.decode()
    assert dry_run.status_code == 200 and "cooldowns and loads are unknown" in html
    assert _pick(_results(html)[0]) == f"#{_deployment('duo-b').pk} openai:duo-b"
