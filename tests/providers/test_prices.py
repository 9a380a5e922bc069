"""Price sheets (versioned data, loaded into every instance) and staff overrides the gateway applies."""

import datetime as dt
import time
from pathlib import Path

import openai
import orjson
import pytest
from django.utils import timezone

from apps.channels.models import Channel
from apps.channels.snapshots import channel_snapshot_key
from apps.core.redis import redis_client
from apps.gateway.upstreams.anthropic import translate_response
from apps.gateway.usage import ImpossibleUsage, usage_from_body, usage_from_mapping
from apps.providers.models import PriceOverride, PriceSheetEntry, PriceSheetVersion
from apps.providers.prices import ModelPrice, PriceSheet, override_in_force, price_sheet, price_sheets
from apps.providers.pricing import PriceSheetChanged, price_override_create, price_sheets_load
from apps.spend.models import SpendLog
from tests.conftest import client_for
from tests.world import build_world, consume

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"  # recorded shapes, see its README
PROVIDERS = {"openai", "anthropic", "gemini", "deepseek", "qwen", "zhipu", "moonshot", "xai", "mistral"}


def test_the_sheet_in_force_covers_every_provider_with_cached_and_image_prices():
    sheet = price_sheet()
    assert {price.provider for price in sheet.models.values()} >= PROVIDERS
    assert sheet.models["claude-sonnet-4-5"].cached_input_micros_per_mtok == 300_000  # cache reads: a tenth
    assert sheet.models["dall-e-3"].per_image_micros == 40_000
    assert [s.version for s in price_sheets()][-1] == sheet.version  # the newest in force today
    assert price_sheet(dt.date(2026, 11, 15)).version == "2026-11-01"  # what was in force then
    assert all(len(s.digest) == 64 for s in price_sheets())


def test_costs_are_exact_integers_with_cached_tokens_requests_and_images():
    price = ModelPrice(2_500_000, 10_000_000, cached_input_micros_per_mtok=1_250_000, per_request_micros=7)
    # 1,000 prompt tokens, 400 of them cached, 3 completion: 600 at $2.50/M + 400 at $1.25/M + 3 at $10/M
    assert price.cost_micros(prompt_tokens=1_000, completion_tokens=3, cached_tokens=400) == 1_500 + 500 + 30 + 7
    assert price.cost_micros(prompt_tokens=1_000, completion_tokens=3, cached_tokens=400, requests=0) == 2_030
    assert price.cost_micros(prompt_tokens=1, completion_tokens=0, cached_tokens=99) == 1 + 7  # cached ≤ prompt
    assert (
        ModelPrice(0, 0, per_image_micros=40_000).cost_micros(prompt_tokens=0, completion_tokens=0, images=3) == 120_000
    )
    assert ModelPrice(150_000, 600_000).cost_micros(prompt_tokens=3, completion_tokens=1) == 1  # 1.05 µUSD
    assert ModelPrice(150_000, 600_000).cost_micros(prompt_tokens=10, completion_tokens=1) == 2  # 2.1


def test_an_override_replaces_only_the_fields_it_sets_and_takes_effect_when_its_time_comes():
    sheet = PriceSheet("v1", dt.date(2026, 1, 1), {"m": ModelPrice(1_000_000, 2_000_000, provider="openai")})
    fee = {"id": 7, "from_ms": 1_000, "input": 0, "cached_input": 0, "output": 0, "per_request": 500, "per_image": None}
    routed = sheet.price("m", fee)
    assert routed == ModelPrice(0, 0, cached_input_micros_per_mtok=0, per_request_micros=500, provider="openai")
    assert sheet.version_with(fee) == "v1+o7" and sheet.version_with(None) == "v1"
    assert sheet.price("unlisted") is None and sheet.price("unlisted", fee).per_request_micros == 500
    later = {**fee, "id": 8, "from_ms": 5_000}
    assert override_in_force([later, fee], at_ms=4_999) is fee and override_in_force([later, fee], at_ms=5_000) is later
    assert override_in_force([later], at_ms=10) is None


def test_cached_tokens_are_read_from_openai_usage_and_anthropic_cache_reads():
    raw = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 60}}
    assert usage_from_mapping(raw).cached_tokens == 60  # type: ignore[union-attr]
    with pytest.raises(ImpossibleUsage):  # more cached than sent: no provider reports that
        usage_from_mapping({**raw, "prompt_tokens_details": {"cached_tokens": 101}})
    message = orjson.loads((FIXTURES / "anthropic" / "messages.json").read_bytes())
    message["usage"] = {"input_tokens": 10, "cache_read_input_tokens": 2048, "output_tokens": 7}
    usage = usage_from_body(translate_response(orjson.dumps(message)))
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (2058, 2048, 7)  # type: ignore[union-attr]


@pytest.mark.django_db
def test_every_sheet_is_loaded_into_the_instance_as_published_and_never_rewritten(edge):
    for sheet in price_sheets():
        loaded = PriceSheetVersion.objects.get(version=sheet.version)  # by migrate (post_migrate)
        assert loaded.digest == sheet.digest and loaded.effective_from == sheet.effective_from
        assert PriceSheetEntry.objects.filter(sheet=loaded).count() == len(sheet.models)
    assert price_sheets_load() == 0  # rerun-safe
    changed = PriceSheet(price_sheet().version, price_sheet().effective_from, {}, digest="0" * 64)
    with pytest.raises(PriceSheetChanged):
        price_sheets_load([changed])


@pytest.mark.django_db
def test_operators_add_overrides_on_the_prices_page(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    assert client_for(admin).get(f"/o/{org.slug}/billing/prices/").status_code == 403
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client = client_for(admin)
    page = client.get(f"/o/{org.slug}/billing/prices/").content.decode()
    assert f"Sheet in force: {price_sheet().version}" in page and "claude-sonnet-4-5" in page
    channel = Channel.objects.get(organization=org, is_default=True)
    form = {
        "model": "gpt-4o",
        "channel": channel.pk,
        "effective_from": "2026-12-01T00:00",
        "input": "1.5",
        "note": "deal",
    }
    answer = client.post(f"/o/{org.slug}/billing/prices/", form)
    assert answer.status_code == 302
    override = PriceOverride.objects.get(model="gpt-4o", channel=channel)
    assert (override.input_micros_per_mtok, override.output_micros_per_mtok, override.note) == (1_500_000, None, "deal")
    refused = client.post(f"/o/{org.slug}/billing/prices/", {**form, "input": ""})  # no price at all
    assert refused.status_code == 400 and "Set at least one price." in refused.content.decode()
    assert client.post(f"/o/{org.slug}/billing/prices/", {**form, "input": "-1"}).status_code == 400


@pytest.mark.django_db
def test_the_gateway_costs_requests_with_the_override_in_force_and_records_it(
    committed, mock_provider_url, live_server_url
):
    own = committed(build_world, mock_provider_url)
    owner = committed(lambda: own.organization.memberships.filter(team__isnull=True).first().user)
    channel = committed(lambda: Channel.objects.get(organization=own.organization, is_default=True))
    now = timezone.now()
    fee = {"input": 0, "cached_input": 0, "output": 0, "per_request": 1_234, "per_image": None}
    routing = committed(
        price_override_create,
        model="mock-gpt-4o-mini",
        channel=channel,
        effective_from=now - dt.timedelta(minutes=1),
        prices=fee,
        note="BYOK: routing fee only",
        actor=owner,
    )
    committed(  # an instance-wide price from tomorrow: not in force yet, and the channel's own comes first
        price_override_create,
        model="mock-gpt-4o-mini",
        channel=None,
        effective_from=now + dt.timedelta(days=1),
        prices={**fee, "per_request": 99_999},
        note="later",
        actor=owner,
    )
    snapshot = orjson.loads(redis_client().get(channel_snapshot_key(schema="edge", channel_id=channel.pk)))
    (deployment,) = snapshot["models"]["gpt-4o-mini"]
    assert [o["per_request"] for o in deployment["price_overrides"]] == [1_234, 99_999]

    time.sleep(1.2)  # the gateway trusts its copy of a channel for GATEWAY_SNAPSHOT_TTL_MS
    client = openai.OpenAI(api_key=own.key, base_url=f"{live_server_url}/v1", max_retries=0)
    answer = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "priced by the override"}]
    )
    request_id = answer.headers["x-request-id"]
    consume(committed, request_id)
    row = committed(lambda: SpendLog.objects.get(request_id=request_id))
    assert row.total_tokens > 0 and row.cost_micros == 1_234
    assert row.price_version == f"{price_sheet().version}+o{routing.pk}"
