"""Usage from an upstream is untrusted: an impossible report is an upstream error billed at the reservation,
no settlement moves a counter below the ledger, and a corrupted counter is healed."""

import datetime as dt
import time
import uuid

import httpx
import orjson
import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.channels.models import Channel
from apps.channels.services import DeploymentSpec, channel_model_set
from apps.core.redis import redis_client, tenant_key
from apps.gateway.upstreams.anthropic import openai_usage as anthropic_usage
from apps.gateway.upstreams.gemini import openai_usage as gemini_usage
from apps.gateway.usage import ImpossibleUsage, Usage, usage_from_mapping
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.orgs.models import BillingMode, Team
from apps.providers.models import ProviderType
from apps.providers.pricing import price_override_create
from apps.providers.services import provider_credential_create
from apps.quotas.counters import budget_counters_heal, wallet_counter
from apps.quotas.tasks import budget_counters_heal_task
from apps.spend.models import SpendLog
from apps.spend.stream import SPEND_STREAM, spend_stream_entry
from apps.wallet.models import EntryKind, Wallet
from apps.wallet.services.ledger import wallet_credit
from tests.conftest import UPSTREAM_API_KEY, client_for
from tests.world import World, build_world, consume

pytestmark = pytest.mark.django_db

GPT_4O = {"input": 2_500_000, "output": 10_000_000}  # micro-USD per million tokens
LIES = ["negative", "huge", "float", "text", "inconsistent", "cached"]
PROMPT = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    "raw",
    [
        {"prompt_tokens": -2_000_000_000, "completion_tokens": 5},
        {"prompt_tokens": 5, "completion_tokens": -1},
        {"prompt_tokens": 5.5, "completion_tokens": 1},
        {"prompt_tokens": "5", "completion_tokens": 1},
        {"prompt_tokens": True, "completion_tokens": 1},
        {"prompt_tokens": 10**12, "completion_tokens": 1},
        {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 2},
        {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 6}},
        {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": -1}},
        {"prompt_tokens": 5, "prompt_tokens_details": []},
        {"total_tokens": 7},
        [5, 1],
    ],
)
def test_impossible_usage_is_refused(raw):
    with pytest.raises(ImpossibleUsage):
        usage_from_mapping(raw)


def test_a_total_above_its_parts_is_billed_not_refused():
    """Gemini's OpenAI-compatible endpoint and many proxies leave reasoning out of completion_tokens and count it
    in total_tokens only: a real answer, whose hidden tokens are billed as completion tokens."""
    assert usage_from_mapping({"prompt_tokens": 20, "completion_tokens": 424, "total_tokens": 1016}) == Usage(
        20, 996, 1016
    )
    assert usage_from_mapping({"prompt_tokens": 21, "completion_tokens": 0, "total_tokens": 81}) == Usage(21, 60, 81)


def test_translated_usage_with_a_lie_stays_impossible():
    for usage in (
        anthropic_usage({"input_tokens": 10, "cache_read_input_tokens": -5, "output_tokens": 3}),
        anthropic_usage({"input_tokens": "10", "output_tokens": 3}),
        gemini_usage({"promptTokenCount": -2_000_000_000, "candidatesTokenCount": 4}),
        gemini_usage({"promptTokenCount": 4, "candidatesTokenCount": 4.5}),
    ):
        with pytest.raises(ImpossibleUsage):
            usage_from_mapping(usage)
    assert usage_from_mapping(anthropic_usage({"input_tokens": 10, "output_tokens": 3})).total_tokens == 13  # type: ignore[union-attr]


def _tenant_deployments(world: World, mock_url: str) -> None:
    """The organisation's own OpenAI-compatible, Anthropic and Gemini servers, answering impossible usage,
    priced like gpt-4o (a negotiated price on its channel)."""
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    channel = Channel.objects.get(organization=world.organization, is_default=True)
    own = provider_credential_create(
        organization=world.organization, name="own", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    base = mock_url.removesuffix("/v1")
    for lie in LIES:
        spec = DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, f"mock-usage-{lie}", mock_url, own)
        channel_model_set(channel=channel, alias=f"own-{lie}", deployments=[spec], actor=owner)
        price_override_create(
            model=f"mock-usage-{lie}",
            channel=channel,
            effective_from=timezone.now() - dt.timedelta(minutes=1),
            prices=GPT_4O,
            note="the tenant's own server",
            actor=owner,
        )
    platform = provider_credential_create(
        organization=None, name="mock", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    spec = DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "mock-gpt-4o", mock_url, platform)
    channel_model_set(channel=channel, alias="gpt-4o", deployments=[spec], actor=owner, platform_managed=True)
    for provider, api_base in ((ProviderType.ANTHROPIC, base), (ProviderType.GEMINI, mock_url)):
        spec = DeploymentSpec(provider, "mock-usage-negative", api_base, own)
        channel_model_set(channel=channel, alias=f"own-{provider}-negative", deployments=[spec], actor=owner)


def _liar_world(committed, mock_url: str, credit_micros: int) -> World:  # type: ignore[no-untyped-def]
    world = committed(build_world, mock_url, BillingMode.PREPAID)
    committed(_tenant_deployments, world, mock_url)
    committed(
        wallet_credit,
        organization=world.organization,
        amount_micros=credit_micros,
        kind=EntryKind.CREDIT_CODE,
        actor=None,
    )
    time.sleep(1.1)  # the gateway trusts its copy of the key snapshot for a second
    return world


@pytest.fixture(scope="module")
def liar_world(committed, mock_provider_url) -> World:  # type: ignore[no-untyped-def]
    """A prepaid organisation with $10 and its own lying servers."""
    return _liar_world(committed, mock_provider_url, 10_000_000)


def _post(url: str, key: str, model: str, **body: object) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": PROMPT, "max_tokens": 50, **body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def _wallet_counter_micros(organization_id: int, committed) -> int:  # type: ignore[no-untyped-def]
    start = committed(lambda: Wallet.objects.get(organization_id=organization_id).period_start)
    return int(redis_client().get(wallet_counter("edge", organization_id, start).key) or 0)


def test_negative_usage_from_a_tenants_upstream_unlocks_nothing(committed, mock_provider_url, live_server_url):
    world = _liar_world(committed, mock_provider_url, 100_000)  # $0.10
    organization = world.organization
    refused = _post(live_server_url, world.key, "own-negative")

    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "upstream_usage_invalid"
    request_id = refused.headers["x-request-id"]
    consume(committed, request_id)
    row = committed(lambda: SpendLog.objects.get(request_id=request_id))
    assert (row.status_code, row.error_code, row.usage_estimated) == (502, "upstream_usage_invalid", True)
    assert row.prompt_tokens > 0 and row.completion_tokens == 50 and row.cost_micros > 0  # billed at its reservation
    assert _wallet_counter_micros(organization.pk, committed) >= row.cost_micros  # never below the ledger
    _operators_see_it_on_system_health(committed, organization)

    # gpt-4o on the platform's credential: the $0.10 runs down and is refused, never past zero
    served, request_ids = 0, []
    for _ in range(20):  # about $0.01 each: some 9 fit
        response = _post(live_server_url, world.key, "gpt-4o", max_tokens=1000)
        request_ids.append(response.headers["x-request-id"])
        if response.status_code != 200:
            assert response.json()["error"]["code"] == "insufficient_quota"
            break
        served += 1
    assert 5 <= served < 10
    consume(committed, *request_ids)
    assert committed(lambda: Wallet.objects.get(organization=organization).balance_micros) >= 0


@pytest.mark.parametrize("lie", LIES)
def test_every_impossible_report_is_an_upstream_error_billed_at_the_reservation(
    committed, liar_world, live_server_url, lie
):
    response = _post(live_server_url, liar_world.key, f"own-{lie}")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_usage_invalid"
    request_id = response.headers["x-request-id"]
    consume(committed, request_id)
    row = committed(lambda: SpendLog.objects.get(request_id=request_id))
    assert (row.error_code, row.completion_tokens, row.usage_estimated) == ("upstream_usage_invalid", 50, True)
    assert row.prompt_tokens >= 1 and row.cost_micros > 0


@pytest.mark.parametrize("model", ["own-negative", "own-anthropic-negative", "own-gemini-negative"])
def test_a_stream_reporting_impossible_usage_is_billed_at_the_reservation(
    committed, liar_world, live_server_url, model
):
    response = _post(live_server_url, liar_world.key, model, stream=True, stream_options={"include_usage": True})
    assert response.status_code in {200, 502}  # a translated stream is known bad only at its end
    request_id = response.headers["x-request-id"]
    consume(committed, request_id)
    row = committed(lambda: SpendLog.objects.get(request_id=request_id))
    assert (row.status_code, row.error_code, row.usage_estimated) == (502, "upstream_usage_invalid", True)
    assert row.prompt_tokens >= 1 and row.completion_tokens == 50 and row.cost_micros >= 0


def _operators_see_it_on_system_health(committed, organization) -> None:  # type: ignore[no-untyped-def]
    owner = committed(lambda: organization.memberships.filter(team__isnull=True).first().user)
    page = client_for(owner).get(f"/o/{organization.slug}/health/")
    assert page.status_code == 200 and b"mock-usage-negative" not in page.content  # members: not theirs to see
    User.objects.filter(pk=owner.pk).update(is_staff=True)
    owner.refresh_from_db()
    page = client_for(owner).get(f"/o/{organization.slug}/health/")
    assert b"Impossible usage reports" in page.content and b"mock-usage-negative" in page.content


def _budget_key(world: World) -> tuple[int, str]:
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    team = Team.objects.get(pk=world.team.pk)
    key, plaintext = key_generate(
        organization=world.organization, team=team, user=owner, name=f"h-{uuid.uuid4().hex[:6]}", actor=owner
    )
    key_update_limits(key=key, actor=owner, max_budget_micros=1_000_000)
    return key.pk, plaintext


def test_a_corrupted_budget_counter_is_healed_from_the_ledger(committed, world, live_server_url):
    key_id, plaintext = committed(_budget_key, world)
    request_ids = [_post(live_server_url, plaintext, "gpt-4o-mini").headers["x-request-id"] for _ in range(3)]
    consume(committed, *request_ids)
    spent = committed(lambda: sum(SpendLog.objects.filter(key_id=key_id).values_list("cost_micros", flat=True)))
    (counter,) = redis_client().scan_iter(match=tenant_key("edge", "quota", "spent", "key", key_id, "*"))
    assert int(redis_client().get(counter)) == spent > 0

    redis_client().decrby(counter, 5_000_000_000)  # what a negative settlement once did
    assert committed(budget_counters_heal) >= 1
    assert int(redis_client().get(counter)) == spent

    redis_client().incrby(counter, 777)  # a counter above the ledger refuses early: healed too
    assert budget_counters_heal_task() >= 1  # the beat's task, in every instance
    assert int(redis_client().get(counter)) == spent
    assert committed(budget_counters_heal) == 0  # rerun-safe: nothing left to heal


def test_a_wallet_counter_below_the_ledger_is_raised_as_soon_as_the_consumer_sees_it(
    committed, liar_world, live_server_url
):
    organization = liar_world.organization
    first = _post(live_server_url, liar_world.key, "gpt-4o-mini").headers["x-request-id"]
    consume(committed, first)
    start = committed(lambda: Wallet.objects.get(organization=organization).period_start)
    counter = wallet_counter("edge", organization.pk, start).key
    redis_client().decrby(counter, 10**9)

    second = _post(live_server_url, liar_world.key, "gpt-4o-mini").headers["x-request-id"]
    consume(committed, second)  # the batch's wallet debit compares the counter with the ledger

    usage = committed(lambda: Wallet.objects.get(organization=organization).period_usage_micros)
    assert int(redis_client().get(counter)) >= usage > 0


def test_healing_never_takes_a_counter_below_what_was_spent_on_a_clock_a_little_ahead(
    committed, world, live_server_url
):
    """A request that ended on a gateway whose clock runs ahead of the worker's (its event dated after the heal
    read the counter) is in the counter and the stream: a heal must not take it out."""
    key_id, plaintext = committed(_budget_key, world)
    consume(committed, _post(live_server_url, plaintext, "gpt-4o-mini").headers["x-request-id"])
    (counter,) = redis_client().scan_iter(match=tenant_key("edge", "quota", "spent", "key", key_id, "*"))
    spent = int(redis_client().get(counter))
    key = committed(lambda: VirtualKey.objects.get(pk=key_id))
    ahead = {
        "request_id": f"req_{uuid.uuid4().hex}",
        "created_at_ms": int(time.time() * 1000) + 2_000,
        "schema": "edge",
        "organization_id": key.organization_id,
        "team_id": key.team_id,
        "key_id": key_id,
        "model_alias": "gpt-4o-mini",
        "status_code": 200,
        "cost_micros": 5_000,
    }
    redis_client().xadd(SPEND_STREAM, dict([spend_stream_entry([orjson.dumps(ahead)])]))
    redis_client().incrby(counter, 5_000)  # settled: its reservation became its cost

    committed(budget_counters_heal)
    assert int(redis_client().get(counter)) >= spent + 5_000

    consume(committed, ahead["request_id"])
    committed(budget_counters_heal)
    assert int(redis_client().get(counter)) == spent + 5_000  # the ledger has it now: nothing to heal either way
