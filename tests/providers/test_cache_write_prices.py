"""Prompt-cache writes at their own price: the sheet that lists them, the arithmetic, overrides, usage reports."""

import datetime as dt

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.channels.models import Channel
from apps.channels.snapshots import price_overrides_for_snapshot
from apps.core.money import usd_fixed
from apps.gateway.upstreams.anthropic import openai_usage, translate_response
from apps.gateway.usage import ImpossibleUsage, usage_from_body, usage_from_mapping
from apps.providers.models import PriceOverride, PriceSheetEntry
from apps.providers.prices import ModelPrice, PriceSheet, price_sheet, price_sheets
from tests.conftest import client_for
from tests.providers.test_prices import FIXTURES

SONNET = ModelPrice(
    3_000_000,
    15_000_000,
    cached_input_micros_per_mtok=300_000,
    cache_write_micros_per_mtok=3_750_000,
    cache_write_1h_micros_per_mtok=6_000_000,
    per_request_micros=11,
)


def test_the_2026_12_03_sheet_prices_anthropic_cache_writes_at_125_and_200_percent_of_input():
    sheet = price_sheet(dt.date(2026, 12, 3))
    assert sheet.version == "2026-12-03" and sheet in price_sheets()
    assert price_sheet(dt.date(2026, 12, 2)).version == "2026-12-01-r2"  # the sheet before writes had a price
    anthropic = {name: price for name, price in sheet.models.items() if price.provider == "anthropic"}
    assert len(anthropic) == 5
    for price in anthropic.values():
        assert price.cache_write_micros_per_mtok * 4 == price.input_micros_per_mtok * 5  # type: ignore[operator]
        assert price.cache_write_1h_micros_per_mtok == 2 * price.input_micros_per_mtok
    assert sheet.models["claude-opus-4-1"].cache_write_micros_per_mtok == 18_750_000
    others = [price for price in sheet.models.values() if price.provider != "anthropic"]
    assert all(p.cache_write_micros_per_mtok is p.cache_write_1h_micros_per_mtok is None for p in others)
    previous = price_sheet(dt.date(2026, 12, 2))  # everything but the write prices carried over unchanged
    assert {
        name: (p.input_micros_per_mtok, p.cached_input_micros_per_mtok, p.output_micros_per_mtok)
        for name, p in previous.models.items()
    } == {
        name: (p.input_micros_per_mtok, p.cached_input_micros_per_mtok, p.output_micros_per_mtok)
        for name, p in sheet.models.items()
    }


def test_cache_writes_cost_their_own_price_in_exact_integers_rounded_once():
    # 7 uncached + 333 read + 1,001 written (5 min) + 2,002 written (1 h) = 3,343 prompt tokens, 26 completion
    cost = SONNET.cost_micros(
        prompt_tokens=3_343,
        completion_tokens=26,
        cached_tokens=333,
        cache_write_tokens=3_003,
        cache_write_1h_tokens=2_002,
    )
    # 21 + 99.9 + 3,753.75 + 12,012 + 390 = 16,276.65 µUSD, and the per-request price
    assert cost == 16_277 + 11
    assert isinstance(cost, int)
    half = ModelPrice(1, 0, cache_write_micros_per_mtok=3)  # the sum rounds half up, once
    # 0.4 µUSD of input + 0.400002 of writes: 0.800002, one micro-dollar (each part rounded alone: none)
    assert half.cost_micros(prompt_tokens=533_334, completion_tokens=0, cache_write_tokens=133_334) == 1
    assert half.cost_micros(prompt_tokens=250_000, completion_tokens=0, cache_write_tokens=125_000) == 1  # 0.5
    assert half.cost_micros(prompt_tokens=249_999, completion_tokens=0, cache_write_tokens=125_000) == 0  # 0.499999


def test_a_write_without_a_price_costs_as_input_and_a_one_hour_write_as_any_write():
    plain = ModelPrice(2_000_000, 8_000_000, cached_input_micros_per_mtok=500_000)
    assert plain.cost_micros(prompt_tokens=1_000, completion_tokens=0, cache_write_tokens=600) == 2_000
    assert (
        plain.cost_micros(
            prompt_tokens=1_000,
            completion_tokens=0,
            cached_tokens=400,
            cache_write_tokens=600,
            cache_write_1h_tokens=600,
        )
        == 1_200 + 200
    )
    five_minutes_only = ModelPrice(2_000_000, 0, cache_write_micros_per_mtok=2_500_000)
    assert (
        five_minutes_only.cost_micros(
            prompt_tokens=1_000, completion_tokens=0, cache_write_tokens=1_000, cache_write_1h_tokens=400
        )
        == 2_500
    )


def test_counts_beyond_the_prompt_are_cut_to_fit():
    # reads first, then writes within what is left of the prompt, one-hour writes within the writes
    assert SONNET.cost_micros(prompt_tokens=100, completion_tokens=0, cached_tokens=90, cache_write_tokens=50) == (
        (90 * 300_000 + 10 * 3_750_000 + 500_000) // 1_000_000 + 11
    )
    assert (
        SONNET.cost_micros(
            prompt_tokens=100, completion_tokens=0, cache_write_tokens=10, cache_write_1h_tokens=99, requests=0
        )
        == (90 * 3_000_000 + 10 * 6_000_000) // 1_000_000
    )
    assert SONNET.cost_micros(prompt_tokens=100, completion_tokens=0, cache_write_tokens=-5, requests=0) == 300


@given(
    prompt=st.integers(0, 10**8),
    completion=st.integers(0, 10**8),
    parts=st.tuples(st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 10**8)),
)
def test_no_report_of_the_cache_costs_more_than_the_reservation_bound(prompt, completion, parts):
    cached, written, written_1h = parts
    cost = SONNET.cost_micros(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=written,
        cache_write_1h_tokens=written_1h,
    )
    assert cost <= SONNET.bound_micros(prompt_tokens=prompt, completion_tokens=completion)
    assert (
        SONNET.bound_micros(prompt_tokens=prompt, completion_tokens=0) == (prompt * 6_000_000 + 500_000) // 10**6 + 11
    )


def test_an_override_of_the_input_price_takes_the_writes_with_it_unless_it_prices_them():
    sheet = PriceSheet("v1", dt.date(2026, 1, 1), {"claude": SONNET})
    byok = {"id": 1, "from_ms": 0, "input": 0, "cached_input": 0, "output": 0, "per_request": 500}
    routed = sheet.price("claude", byok)
    assert routed is not None and (routed.cache_write_price, routed.cache_write_1h_price) == (0, 0)
    assert routed.cost_micros(prompt_tokens=10_000, completion_tokens=9, cache_write_tokens=9_000) == 500
    negotiated = sheet.price("claude", {"id": 2, "from_ms": 0, "input": 2_000_000, "cache_write": 2_400_000})
    assert negotiated is not None and (negotiated.cache_write_price, negotiated.cache_write_1h_price) == (
        2_400_000,
        2_400_000,
    )
    writes_only = sheet.price("claude", {"id": 3, "from_ms": 0, "cache_write_1h": 4_000_000})
    assert writes_only == ModelPrice(**{**SONNET.__dict__, "cache_write_1h_micros_per_mtok": 4_000_000})
    old_snapshot = {"id": 4, "from_ms": 0, "output": 1}  # a snapshot of before: no cache-write fields at all
    assert sheet.price("claude", old_snapshot).cache_write_price == 3_750_000  # type: ignore[union-attr]


@pytest.mark.django_db
def test_the_sheet_is_loaded_with_its_write_prices(edge):
    entry = PriceSheetEntry.objects.get(sheet__version="2026-12-03", model="claude-haiku-4-5")
    assert (entry.cache_write_micros_per_mtok, entry.cache_write_1h_micros_per_mtok) == (1_250_000, 2_000_000)
    older = PriceSheetEntry.objects.get(sheet__version="2026-12-01-r2", model="claude-haiku-4-5")
    assert older.cache_write_micros_per_mtok is None  # a published version is loaded as it was


@pytest.mark.django_db
def test_staff_set_a_cache_write_price_on_the_prices_page_and_the_snapshot_carries_it(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client = client_for(admin)
    page = client.get(f"/o/{org.slug}/billing/prices/").content.decode()
    assert "Cache write (USD / 1M tokens)" in page and "Cache write, 1 hour (USD / 1M tokens)" in page
    sonnet = price_sheet().models["claude-sonnet-4-5"]
    writes = (sonnet.cache_write_micros_per_mtok, sonnet.cache_write_1h_micros_per_mtok)
    shown = "".join(f"<td>{usd_fixed(write)}</td>" for write in writes)
    assert shown in page  # the sheet's write prices (3.750000 and 6.000000 on 2026-12-03's)
    channel = Channel.objects.get(organization=org, is_default=True)
    form = {"model": "claude-sonnet-4-5", "channel": channel.pk, "effective_from": "2026-12-03T00:00"}
    answer = client.post(f"/o/{org.slug}/billing/prices/", {**form, "cache_write": "3.3", "cache_write_1h": "5.25"})
    assert answer.status_code == 302
    override = PriceOverride.objects.get(model="claude-sonnet-4-5", channel=channel)
    assert (override.cache_write_micros_per_mtok, override.cache_write_1h_micros_per_mtok) == (3_300_000, 5_250_000)
    assert override.input_micros_per_mtok is None
    assert client.post(f"/o/{org.slug}/billing/prices/", {**form, "cache_write": "-1"}).status_code == 400
    (carried,) = price_overrides_for_snapshot(channel_id=channel.pk, models=["claude-sonnet-4-5"])["claude-sonnet-4-5"]
    assert (carried["cache_write"], carried["cache_write_1h"], carried["input"]) == (3_300_000, 5_250_000, None)


def test_cache_writes_are_read_from_openai_usage_and_checked():
    raw = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 40, "cache_write_1h_tokens": 15},
    }
    usage = usage_from_mapping(raw)
    assert usage is not None
    assert (usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (60, 40, 15)
    plain = usage_from_mapping({"prompt_tokens": 100, "completion_tokens": 5})
    assert plain is not None and (plain.cache_write_tokens, plain.cache_write_1h_tokens) == (0, 0)


@pytest.mark.parametrize(
    "details",
    [
        {"cache_write_tokens": 101},  # more written than sent
        {"cached_tokens": 60, "cache_write_tokens": 41},  # reads and writes more than the prompt
        {"cache_write_tokens": 10, "cache_write_1h_tokens": 11},  # more one-hour writes than writes
        {"cache_write_1h_tokens": 1},  # one-hour writes without writes
        {"cache_write_tokens": -1},
        {"cache_write_tokens": 1.5},
        {"cache_write_tokens": "40"},
        {"cache_write_tokens": True},
        {"cache_write_tokens": 10**12},
        {"cache_write_1h_tokens": [1]},
    ],
)
def test_impossible_cache_writes_are_refused(details):
    with pytest.raises(ImpossibleUsage):
        usage_from_mapping({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": details})


def anthropic_reply(usage: dict[str, object]) -> bytes:
    message = orjson.loads((FIXTURES / "anthropic" / "messages.json").read_bytes())
    message["usage"] = usage
    return translate_response(orjson.dumps(message))


def test_anthropic_cache_creation_is_read_as_writes_within_the_prompt():
    reply = anthropic_reply(
        {
            "input_tokens": 10,
            "cache_read_input_tokens": 2_048,
            "cache_creation_input_tokens": 1_500,
            "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 500},
            "output_tokens": 7,
        }
    )
    usage = usage_from_body(reply)
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10 + 2_048 + 1_500, 7)
    assert (usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (2_048, 1_500, 500)
    older = usage_from_body(anthropic_reply({"input_tokens": 3, "cache_creation_input_tokens": 9, "output_tokens": 1}))
    assert older is not None and (older.prompt_tokens, older.cache_write_tokens, older.cache_write_1h_tokens) == (
        12,
        9,
        0,
    )
    split_only = openai_usage(
        {"input_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 2}}
    )
    assert split_only["prompt_tokens"] == 7 and split_only["prompt_tokens_details"]["cache_write_tokens"] == 6


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": 1, "cache_creation_input_tokens": -3},
        {"input_tokens": 1, "cache_creation_input_tokens": "3"},
        {"input_tokens": 1, "cache_creation_input_tokens": 3, "cache_creation": "five minutes"},
        {"input_tokens": 1, "cache_creation_input_tokens": 3, "cache_creation": {"ephemeral_1h_input_tokens": 4}},
        {"input_tokens": 1, "cache_creation_input_tokens": 3, "cache_creation": {"ephemeral_1h_input_tokens": 1.0}},
    ],
)
def test_hostile_anthropic_cache_creation_is_impossible_usage(usage):
    with pytest.raises(ImpossibleUsage):
        usage_from_body(anthropic_reply({**usage, "output_tokens": 1}))
