"""Prompt-cache writes metered end to end: an Anthropic upstream reports cache reads and writes (five-minute and
one-hour), the live gateway answers through its adapter, and the ledger row prices each part at its own price."""

import datetime as dt
from collections.abc import Iterator

import httpx
import orjson
import pytest
from django.utils import timezone

from apps.channels.models import Channel
from apps.channels.router_config import NO_TIMEOUTS
from apps.channels.snapshots import DeploymentSnapshot, channel_snapshot_key
from apps.core.redis import redis_client
from apps.gateway.context import RequestContext
from apps.gateway.reservation import reserved_cost_at
from apps.gateway.usage import Usage
from apps.providers.models import ProviderType
from apps.providers.prices import price_sheet
from apps.providers.pricing import price_override_create
from apps.spend.api import spend_log_row
from apps.spend.models import SpendLog
from tests.gateway.anthropic_cache_upstream import anthropic_cache_upstream
from tests.gateway.router.routing_world import RoutedChannel, Upstream, routed_channel, settle, unique
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db

MODEL = (
    "claude-sonnet-4-5"  # on 2026-12-03's sheet: $3 input, $0.30 reads, $3.75 writes, $6 one-hour writes, $15 output
)
UNCACHED, READ, WRITTEN_5M, WRITTEN_1H, OUTPUT = 7, 333, 1_001, 2_002, 26
USAGE = {
    "input_tokens": UNCACHED,
    "cache_read_input_tokens": READ,
    "cache_creation_input_tokens": WRITTEN_5M + WRITTEN_1H,
    "cache_creation": {"ephemeral_5m_input_tokens": WRITTEN_5M, "ephemeral_1h_input_tokens": WRITTEN_1H},
    "output_tokens": OUTPUT,
}
PROMPT = UNCACHED + READ + WRITTEN_5M + WRITTEN_1H


def micros(scaled: int) -> int:
    """micro-USD per 1M tokens x tokens, in micro-USD: rounded half up once."""
    return (scaled + 500_000) // 1_000_000


@pytest.fixture(scope="module")
def upstream_root() -> Iterator[str]:
    with anthropic_cache_upstream(USAGE) as root:
        yield root


@pytest.fixture
def channel(committed, upstream_root) -> RoutedChannel:  # type: ignore[no-untyped-def]
    made = committed(
        routed_channel,
        upstream_root,
        {"claude": [Upstream(unique("cw"), provider=ProviderType.ANTHROPIC, model=MODEL, root=upstream_root)]},
        {},
    )
    settle()
    return made


def post(base: str, key: str, *, stream: bool) -> httpx.Response:
    body = {"model": "claude", "messages": [{"role": "user", "content": "cache me"}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return httpx.post(f"{base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def reported_usage(reply: httpx.Response, *, stream: bool) -> dict[str, object]:
    if not stream:
        return reply.json()["usage"]  # type: ignore[no-any-return]
    events = [orjson.loads(line[6:]) for line in reply.text.split("\n") if line.startswith("data: {")]
    return next(event["usage"] for event in events if event.get("usage"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_ledger_prices_cache_writes_at_their_own_prices(committed, live_server_url, channel, stream):
    reply = post(live_server_url, channel.key, stream=stream)
    assert reply.status_code == 200, reply.text
    assert reported_usage(reply, stream=stream) == {  # what the client sees: OpenAI's shape, Hydite's write fields
        "prompt_tokens": PROMPT,
        "completion_tokens": OUTPUT,
        "total_tokens": PROMPT + OUTPUT,
        "prompt_tokens_details": {
            "cached_tokens": READ,
            "cache_write_tokens": WRITTEN_5M + WRITTEN_1H,
            "cache_write_1h_tokens": WRITTEN_1H,
        },
    }
    request_id = reply.headers["x-request-id"]
    row = ledger_rows_drained(committed, {request_id})[request_id]
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.cache_write_1h_tokens) == (
        PROMPT,
        READ,
        WRITTEN_5M + WRITTEN_1H,
        WRITTEN_1H,
    )
    price = price_sheet().models[MODEL]
    assert price.cache_write_1h_price > price.cache_write_price > price.input_micros_per_mtok  # writes cost more
    priced = micros(
        UNCACHED * price.input_micros_per_mtok
        + READ * price.cached_price
        + WRITTEN_5M * price.cache_write_price
        + WRITTEN_1H * price.cache_write_1h_price
        + OUTPUT * price.output_micros_per_mtok
    )
    assert row.cost_micros == priced  # at 2026-12-03's prices: 16,276.65 µUSD, rounded once to 16,277
    prompt_at_input = (UNCACHED + WRITTEN_5M + WRITTEN_1H) * price.input_micros_per_mtok
    assert row.cost_micros > micros(prompt_at_input + READ * price.cached_price + OUTPUT * price.output_micros_per_mtok)
    assert row.price_version == price_sheet().version and not row.usage_estimated
    logged = spend_log_row(row)["usage"]  # GET /spend/logs
    assert (logged["cached_tokens"], logged["cache_write_tokens"], logged["cache_write_1h_tokens"]) == (
        READ,
        WRITTEN_5M + WRITTEN_1H,
        WRITTEN_1H,
    )


def test_a_reservation_prices_the_prompt_at_the_dearest_cache_write():
    """A budget holds whatever a provider writes to its cache: every reserved prompt token at the dearest price."""
    ctx = RequestContext(request_id="r", started=0.0, scope={}, reserved=Usage(1_000, 10, 1_010, estimated=True))
    price = price_sheet().models[MODEL]
    reserved = reserved_cost_at(ctx, _deployment(MODEL))
    assert reserved == micros(1_000 * price.cache_write_1h_price + 10 * price.output_micros_per_mtok)
    assert reserved > price.cost_micros(prompt_tokens=1_000, completion_tokens=10)
    plain = price_sheet().models["gpt-4o-mini"]  # no cache-write price: as before, the prompt at input
    assert reserved_cost_at(ctx, _deployment("gpt-4o-mini")) == plain.cost_micros(
        prompt_tokens=1_000, completion_tokens=10
    )


def _deployment(model: str) -> DeploymentSnapshot:
    return DeploymentSnapshot(
        id=1,
        provider=ProviderType.ANTHROPIC,
        upstream_model=model,
        api_base="http://127.0.0.1:9",
        api_version="",
        secret=None,
        weight=1,
        price_overrides=[],
        tags=[],
        rpm=None,
        tpm=None,
        timeouts=NO_TIMEOUTS,
    )


def test_an_override_of_the_cache_write_price_reaches_the_gateway(committed, live_server_url, channel):
    routed = committed(lambda: Channel.objects.select_related("organization").get(pk=channel.channel_id))
    owner = committed(lambda: routed.organization.memberships.filter(team__isnull=True).first().user)
    negotiated = committed(
        price_override_create,
        model=MODEL,
        channel=routed,
        effective_from=timezone.now() - dt.timedelta(minutes=1),
        prices={"cache_write": 3_000_000},  # writes at the input price; one-hour writes follow it
        note="writes at input",
        actor=owner,
    )
    stored = orjson.loads(redis_client().get(channel_snapshot_key(schema="edge", channel_id=channel.channel_id)))
    (deployment,) = stored["models"]["claude"]
    assert deployment["price_overrides"][0]["cache_write"] == 3_000_000
    settle()
    reply = post(live_server_url, channel.key, stream=False)
    request_id = reply.headers["x-request-id"]
    row: SpendLog = ledger_rows_drained(committed, {request_id})[request_id]
    price = price_sheet().models[MODEL]
    written = (WRITTEN_5M + WRITTEN_1H) * 3_000_000  # the override's price, for both lifetimes
    sheet_priced = (
        UNCACHED * price.input_micros_per_mtok + READ * price.cached_price + OUTPUT * price.output_micros_per_mtok
    )
    assert row.cost_micros == micros(sheet_priced + written)
    assert row.price_version == f"{price_sheet().version}+o{negotiated.pk}"
