"""Spend events: every /v1 request metered, exact cost, nothing lost or doubled on the way to the ledger."""

import asyncio
import time
import uuid
from decimal import Decimal

import httpx
import openai
import orjson
import pytest
from django.conf import settings

from apps.core.redis import redis_client
from apps.gateway.redis_wire import RedisWire
from apps.gateway.spend_events import SpendEmitter
from apps.providers.prices import price_sheet
from apps.spend.models import SpendLog, SpendRollup
from apps.spend.stream import SPEND_STREAM, spend_stream_events
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db


def _cost(model: str, prompt: int, completion: int) -> int:
    price = price_sheet().models[model]
    return (prompt * price.input_micros_per_mtok + completion * price.output_micros_per_mtok + 500_000) // 1_000_000


def test_price_arithmetic_is_exact_integers():
    assert _cost("mock-gpt-4o-mini", 1_000_000, 0) == 150_000
    assert price_sheet().cost_micros(model="mock-gpt-4o", prompt_tokens=3, completion_tokens=1) == 18  # 7.5 + 10
    assert price_sheet().cost_micros(model="not-priced", prompt_tokens=3, completion_tokens=1) is None


def test_every_request_becomes_one_ledger_row(committed, world, live_server_url):
    v1 = f"{live_server_url}/v1"
    client = openai.OpenAI(api_key=world.key, base_url=v1, max_retries=0)
    headers = {"Authorization": f"Bearer {world.key}"}
    ids: dict[str, str] = {}

    plain = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "meter me please"}],
        extra_headers={"X-Feature-Id": "support-chat"},
    )
    ids["plain"] = plain.headers["x-request-id"]
    usage = plain.parse().usage

    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "stream me"}]}
    with httpx.stream("POST", f"{v1}/chat/completions", headers=headers, json=body) as response:
        ids["stream_no_usage"] = response.headers["x-request-id"]
        events = [orjson.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert events and all(event["choices"] for event in events)  # the usage event the client did not ask for is removed

    with httpx.stream(
        "POST", f"{v1}/chat/completions", headers=headers, json={**body, "stream_options": {"include_usage": True}}
    ) as response:
        ids["stream_usage"] = response.headers["x-request-id"]
        streamed = [orjson.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert streamed[-1]["choices"] == [] and streamed[-1]["usage"]["total_tokens"] > 0

    for name, model in (("not_found", "no-such-model"), ("rate_limited", "rate-limited")):
        response = httpx.post(
            f"{v1}/chat/completions",
            headers=headers,
            json={"model": model, "messages": [{"role": "user", "content": "x"}]},
        )
        ids[name] = response.headers["x-request-id"]

    rows = ledger_rows_drained(committed, set(ids.values()))
    assert set(rows) == set(ids.values())
    row = rows[ids["plain"]]
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    assert row.cost_micros == _cost("mock-gpt-4o-mini", usage.prompt_tokens, usage.completion_tokens)
    assert (row.status_code, row.model_alias, row.model_resolved, row.provider) == (
        200,
        "gpt-4o-mini",
        "mock-gpt-4o-mini",
        "openai_compatible",
    )
    assert row.organization_id == world.organization.pk and row.team_id == world.team.pk and row.key_id
    assert row.price_version == price_sheet().version and not row.usage_estimated
    assert row.feature_id == "support-chat" and rows[ids["stream_usage"]].feature_id == ""
    assert row.provider_request_id.startswith("req_")  # the mock provider's x-request-id, as OpenAI sends
    assert row.provider_request_id != rows[ids["stream_usage"]].provider_request_id
    assert rows[ids["not_found"]].provider_request_id == ""  # never reached a provider
    org = world.organization.pk
    hours = committed(lambda: list(SpendRollup.objects.filter(period="hour", organization_id=org)))
    ledger = committed(lambda: list(SpendLog.objects.filter(organization_id=org)))  # this test's rows and others'
    assert sum(hour.requests for hour in hours) == len(ledger)
    assert sum(hour.cost_micros for hour in hours) == sum(log.cost_micros for log in ledger)
    assert sum(hour.errors for hour in hours) == sum(log.status_code >= 400 for log in ledger)
    featured = [hour for hour in hours if hour.feature_id == "support-chat"]
    assert sum(hour.requests for hour in featured) == sum(log.feature_id == "support-chat" for log in ledger) >= 1
    for name in ("stream_no_usage", "stream_usage"):
        assert rows[ids[name]].stream and rows[ids[name]].total_tokens > 0
        assert not rows[ids[name]].usage_estimated
    assert (rows[ids["not_found"]].status_code, rows[ids["not_found"]].error_code) == (404, "model_not_found")
    assert rows[ids["not_found"]].cost_micros == 0
    assert (rows[ids["rate_limited"]].status_code, rows[ids["rate_limited"]].error_code) == (429, "rate_limit_exceeded")


def test_abandoned_stream_is_cut_upstream_and_metered_with_the_tokens_seen(committed, world, live_server_url):
    """The drip model sends a chunk every 250 ms; the client leaves after two events."""
    headers = {"Authorization": f"Bearer {world.key}"}
    body = {"model": "drip", "stream": True, "messages": [{"role": "user", "content": "leave early"}]}
    started = time.monotonic()
    with httpx.stream("POST", f"{live_server_url}/v1/chat/completions", headers=headers, json=body) as response:
        request_id = response.headers["x-request-id"]
        seen = 0
        for line in response.iter_lines():
            seen += line.startswith("data: {")
            if seen == 2:
                break
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert (row.status_code, row.error_code, row.stream) == (499, "client_disconnected", True)
    assert row.usage_estimated and row.prompt_tokens > 0 and row.completion_tokens >= 1
    # the gateway dropped the upstream stream when the client left, instead of reading all 20 chunks (5 s)
    assert row.latency_provider_ms < 3000, row.latency_provider_ms
    assert time.monotonic() - started < 5


def test_spend_logs_endpoint(committed, world, live_server_url, make_user, edge):
    from tests.conftest import client_for

    client = openai.OpenAI(api_key=world.key, base_url=f"{live_server_url}/v1", max_retries=0)
    request_id = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "for the log"}]
    ).headers["x-request-id"]
    ledger_rows_drained(committed, {request_id})
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    http = client_for(owner)
    page = http.get("/spend/logs", {"organization": world.organization.slug, "model": "gpt-4o-mini"}).json()
    assert request_id in {row["request_id"] for row in page["data"]}
    assert all(row["model_alias"] == "gpt-4o-mini" for row in page["data"])
    entry = next(row for row in page["data"] if row["request_id"] == request_id)
    assert Decimal(entry["cost_usd"]) * 1_000_000 == entry["cost_micros"] > 0
    assert http.get("/spend/logs", {"organization": world.organization.slug, "start": "nope"}).status_code == 400
    assert client_for(None).get("/spend/logs").status_code == 401
    assert client_for(make_user()).get("/spend/logs", {"organization": world.organization.slug}).status_code == 404
    from django.test import Client

    from apps.keys.services import management_key_create
    from tests.conftest import EDGE_HOST

    _, admin_key = management_key_create(organization=world.organization, name="spend", actor=owner)
    by_key = Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {admin_key}").get("/spend/logs")
    assert by_key.status_code == 200 and request_id in {row["request_id"] for row in by_key.json()["data"]}


def _no_correction(correction: object) -> None:
    raise AssertionError("no request was admitted ahead of Redis")


def test_emitter_keeps_events_while_redis_is_down_and_counts_overflow():
    async def run() -> tuple[int, int, int]:
        dead = RedisWire("redis://127.0.0.1:1", connect_timeout_s=0.2)
        emitter = SpendEmitter(dead, after_write=_no_correction)
        emitter.start()
        marker = uuid.uuid4().hex
        for n in range(3):
            emitter.emit({"request_id": f"{marker}-{n}"})
        await asyncio.sleep(0.5)
        buffered_while_down = len(emitter.buffer)
        emitter.wire = RedisWire(settings.REDIS_URL)
        await emitter.close()
        found = sum(
            marker.encode() in event
            for _, fields in redis_client().xrevrange(SPEND_STREAM, count=50)
            for event in spend_stream_events(fields)
        )
        overflow = SpendEmitter(dead, after_write=_no_correction, max_buffered=2)
        for n in range(3):
            overflow.emit({"request_id": f"overflow-{n}"})
        await emitter.wire.close()
        await dead.close()
        return buffered_while_down, found, overflow.dropped

    assert asyncio.run(run()) == (3, 3, 1)
