"""Quotas through the live /v1 endpoint: each dimension and layer, with status, body and headers."""

import asyncio
import datetime as dt
import time
import uuid
from contextlib import ExitStack

import httpx
import openai
import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.billing.models import Plan
from apps.core.redis import redis_client, tenant_key
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.orgs.models import Organization, Team
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import team_create
from apps.providers.prices import price_sheet
from apps.quotas.limits import window_key
from apps.quotas.services import gateway_defaults_reset, quota_limits_update
from apps.quotas.windows import window_totals
from apps.wallet.services.subscriptions import subscription_grant
from tests.conftest import PASSWORD, client_for, live_server_env
from tests.html_forms import form_fields
from tests.live import live_password_hash, logged_in_client, prompt_tokens_bound, uvicorn_server
from tests.world import mock_key

pytestmark = pytest.mark.django_db

PROMPT = [{"role": "user", "content": "x"}]


def _post(url: str, key: str, *, model: str = "gpt-4o-mini", headers: dict[str, str] | None = None, **body):  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        json={"model": model, "messages": PROMPT, **body},
        timeout=20,
    )


def _limited_key(committed, world, **limits):  # type: ignore[no-untyped-def]
    def make() -> tuple[VirtualKey, str]:
        owner = world.organization.memberships.filter(team__isnull=True).first().user
        key, plaintext = key_generate(
            organization=world.organization, team=world.team, user=owner, name=f"q-{uuid.uuid4().hex[:6]}", actor=owner
        )
        if limits:
            key_update_limits(key=key, actor=owner, **limits)
        return key, plaintext

    return committed(make)


def test_rpm_limit_of_a_key(committed, world, live_server_url):
    _, key = _limited_key(committed, world, rpm_limit=3)
    for remaining in (2, 1, 0):
        response = _post(live_server_url, key)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        assert response.headers["x-ratelimit-remaining-requests"] == str(remaining)
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
    refused = _post(live_server_url, key)
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {"type": "rate_limit_error", "code": "rpm_limit", "message": "Rate limit exceeded", "param": None}
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-layer"] == "key"
    with pytest.raises(openai.RateLimitError) as caught:
        openai.OpenAI(api_key=key, base_url=f"{live_server_url}/v1", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=PROMPT
        )
    assert caught.value.code == "rpm_limit"


def test_tpm_limit_reserves_max_tokens_and_settles_to_real_usage(committed, world, live_server_url):
    record, key = _limited_key(committed, world, tpm_limit=100)
    window = tenant_key("edge", "quota", "window", "key", record.pk)
    reserve = prompt_tokens_bound({"messages": PROMPT})  # the prompt's bound, plus max_tokens
    first = _post(live_server_url, key, max_tokens=40)
    assert first.status_code == 200
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 100 - (reserve + 40)
    used = first.json()["usage"]["total_tokens"]
    assert used != reserve + 40  # otherwise settling would not be visible

    # settlements ride the spend pipeline (a few ms): the window then holds the real usage
    def tokens_in_window() -> int:
        return window_totals(redis_client().get(window), now_s=int(time.time()))[1]

    deadline = time.monotonic() + 5
    while tokens_in_window() != used and time.monotonic() < deadline:
        time.sleep(0.02)
    assert tokens_in_window() == used
    second = _post(live_server_url, key, max_tokens=10)
    assert second.status_code == 200
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 100 - used - (reserve + 10)
    refused = _post(live_server_url, key, max_tokens=90)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "tpm_limit"
    assert refused.headers["x-ratelimit-limit-tokens"] == "100" and "retry-after" in refused.headers


def test_models_allow_and_deny_lists_with_wildcards(committed, world, live_server_url):
    _, key = _limited_key(committed, world, allowed_models=["gpt-4o*", "text-*"], blocked_models=["*-3-small"])
    assert _post(live_server_url, key, model="gpt-4o-mini").status_code == 200
    blocked = httpx.post(
        f"{live_server_url}/v1/embeddings",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "text-embedding-3-small", "input": "x"},
    )
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "model_not_allowed" and blocked.json()["error"]["param"] == "model"
    outside = _post(live_server_url, key, model="claude")
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "model_not_allowed"


def test_expired_key_is_401_key_expired(committed, world, live_server_url):
    _, key = _limited_key(committed, world, expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = _post(live_server_url, key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "key_expired"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key=key, base_url=f"{live_server_url}/v1", max_retries=0).models.list()


def test_allowed_ips_use_the_forwarded_address_only_from_a_trusted_proxy(committed, world, live_server_url):
    # The test server trusts 127.0.0.1 as a proxy, so X-Forwarded-For names the client.
    _, key = _limited_key(committed, world, allowed_ips=["10.0.0.0/8"])
    assert _post(live_server_url, key, headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
    assert _post(live_server_url, key, headers={"X-Forwarded-For": "10.1.2.3, 127.0.0.1"}).status_code == 200
    refused = _post(live_server_url, key, headers={"X-Forwarded-For": "192.168.7.7"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ip_not_allowed"
    assert _post(live_server_url, key).status_code == 403  # the peer itself, 127.0.0.1


def _team_with_key(world, **limits):  # type: ignore[no-untyped-def]
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    team = team_create(organization=world.organization, name=f"Quota {uuid.uuid4().hex[:6]}", actor=owner)
    quota_limits_update(holder=team, actor=owner, **limits)
    _, plaintext = key_generate(organization=world.organization, team=team, user=owner, name="t", actor=owner)
    return team, plaintext


def test_the_strictest_layer_wins_and_is_named(committed, world, live_server_url):
    team, key = committed(_team_with_key, world, rpm_limit=2)
    committed(lambda: key_update_limits(key=VirtualKey.objects.get(team=team), actor=None, rpm_limit=100))
    assert [_post(live_server_url, key).status_code for _ in range(2)] == [200, 200]
    refused = _post(live_server_url, key)
    assert refused.status_code == 429 and refused.headers["x-ratelimit-layer"] == "team"

    # a second key of the same team shares the team's window
    def second_key() -> str:
        owner = world.organization.memberships.filter(team__isnull=True).first().user
        team_now = Team.objects.get(pk=team.pk)
        return key_generate(organization=world.organization, team=team_now, user=owner, name="u", actor=owner)[1]

    other = committed(second_key)
    assert _post(live_server_url, other).status_code == 429


BUDGET_MAX_TOKENS = 1000  # the mock answers with exactly max_tokens words


def _costs() -> tuple[int, int]:
    """What one request reserves (its prompt's bound) and what it really costs (the mock's count)."""
    price = price_sheet().models["mock-gpt-4o-mini"]
    prompt_bound = prompt_tokens_bound({"messages": PROMPT})
    prompt_real = 1 + 4  # the mock: words + 4 per message

    def cost(prompt: int) -> int:
        micros = prompt * price.input_micros_per_mtok + BUDGET_MAX_TOKENS * price.output_micros_per_mtok
        return (micros + 500_000) // 1_000_000

    return cost(prompt_bound), cost(prompt_real)


async def _fire(urls: list[str], key: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{urls[n % len(urls)]}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": "gpt-4o-mini", "messages": PROMPT, "max_tokens": BUDGET_MAX_TOKENS},
                )
                for n in range(count)
            )
        )


@pytest.mark.parametrize("processes", [1, 2])
def test_200_concurrent_requests_against_a_budget_for_50(committed, world, live_server_url, tmp_path, processes):
    reserved, cost = _costs()
    key, plaintext = _limited_key(committed, world, max_budget_micros=50 * cost)
    with ExitStack() as stack:
        urls = [live_server_url]
        if processes == 2:
            urls.append(stack.enter_context(uvicorn_server(live_server_env(), tmp_path / "second.log")))
        responses = asyncio.run(_fire(urls, plaintext, 200))
    statuses = [response.status_code for response in responses]
    # as many as the budget holds reservations for, and more as earlier ones settle below what they reserved
    served = statuses.count(200)
    assert 50 * cost // reserved <= served <= 50, sorted({response.text[:200] for response in responses})
    refused = [response for response in responses if response.status_code != 200]
    assert {response.status_code for response in refused} == {429}
    assert {response.json()["error"]["code"] for response in refused} == {"budget_exceeded"}
    assert refused[0].json()["error"]["type"] == "budget_exceeded"
    spent_keys = list(redis_client().scan_iter(match=tenant_key("edge", "quota", "spent", "key", key.pk, "*")))
    assert len(spent_keys) == 1
    assert int(redis_client().get(spent_keys[0])) == served * cost <= 50 * cost  # settled: never above the budget


def test_gateway_layer_limits_each_key_and_each_client_ip(committed, world, tmp_path):
    env = live_server_env(GATEWAY_DEFAULT_RPM="3", GATEWAY_DEFAULT_TPM="1000000", GATEWAY_TRUSTED_PROXIES="")
    redis_client().delete(tenant_key("edge", "quota", "window", "gateway", "ip127.0.0.1"))
    _, first = _limited_key(committed, world)
    _, second = _limited_key(committed, world)
    with uvicorn_server(env, tmp_path / "defaults.log") as url:
        assert [_post(url, first).status_code for _ in range(3)] == [200, 200, 200]
        by_key = _post(url, first)
        assert by_key.status_code == 429 and by_key.headers["x-ratelimit-layer"] == "gateway"
        # another key from the same address: the per-IP window is full too, and a forged
        # X-Forwarded-For is ignored because the peer is not a trusted proxy
        by_ip = _post(url, second, headers={"X-Forwarded-For": "203.0.113.9"})
        assert by_ip.status_code == 429 and by_ip.json()["error"]["code"] == "rpm_limit"
    redis_client().delete(tenant_key("edge", "quota", "window", "gateway", "ip127.0.0.1"))


def _org_key_on_plan(mock_url: str, plan: str) -> str:
    """A new Shared Edge organisation on `plan` (granted, as in test mode); its key's snapshot carries the caps."""

    def on_plan(organization: Organization) -> None:
        subscription_grant(organization=organization, plan=Plan.objects.get(slug=plan), actor=None)

    return mock_key(mock_url, "tier", on_created=on_plan)


def test_the_plan_caps_an_organisation(committed, mock_provider_url, live_server_url):
    key = committed(_org_key_on_plan, mock_provider_url, "pro")  # Pro: 600 requests a minute

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{live_server_url}/v1/chat/completions",
                        headers={"Authorization": f"Bearer {key}"},
                        json={"model": "gpt-4o-mini", "messages": PROMPT, "max_tokens": 1},
                    )
                    for _ in range(610)
                )
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses].count(200) == 600
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 10 and {r.headers["x-ratelimit-layer"] for r in refused} == {"plan"}
    assert refused[0].headers["x-ratelimit-limit-requests"] == "600"


def test_the_key_page_counts_the_requests_in_the_gateway_s_window(committed, world, live_server_url, edge):
    record, key = _limited_key(committed, world, rpm_limit=100, tpm_limit=100_000)
    sent = 3
    assert [_post(live_server_url, key, max_tokens=5).status_code for _ in range(sent)] == [200] * sent
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    page = client_for(owner).get(f"/o/{world.organization.slug}/keys/{record.pk}/").content.decode()
    assert f'Key requests in the last minute: <span class="rate-used">{sent}</span> of 100' in page
    assert "Key tokens in the last minute:" in page and "of 100000" in page


def _operator_of(committed, organization) -> str:  # type: ignore[no-untyped-def]
    """A staff user (an operator of the Shared Edge), member of `organization`; returns the email."""

    def make() -> str:
        operator = user_create(email=f"ops-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
        User.objects.filter(pk=operator.pk).update(is_staff=True, password=live_password_hash(PASSWORD))
        admin = organization.memberships.filter(team__isnull=True).first().user
        member_add(organization=organization, team=None, user=operator, role=Role.VIEWER, actor=admin)
        return operator.email

    return committed(make)


def _until(condition, timeout_s: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held (polled), or raises after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_gateway_defaults_saved_in_settings_apply_without_a_restart(committed, world, tmp_path):
    # A server of its own: a per-IP limit would reach every test on 127.0.0.1. Its environment turns the
    # gateway layer off, so whatever limits it from here on came from the dashboard.
    env = live_server_env(GATEWAY_TRUSTED_PROXIES="")
    record, key = _limited_key(committed, world)
    windows = [window_key("edge", "gateway", scope) for scope in (f"key{record.pk}", "ip127.0.0.1")]
    redis_client().delete(*windows)
    settings_url = f"/o/{world.organization.slug}/settings/quotas/"
    email = _operator_of(committed, world.organization)
    try:
        with uvicorn_server(env, tmp_path / "defaults.log") as url, logged_in_client(url, email, PASSWORD) as ops:
            assert [_post(url, key).status_code for _ in range(3)] == [200] * 3  # no gateway layer yet
            fields = form_fields(ops.get(settings_url).text, "gateway-defaults-form")
            saved = ops.post(f"{settings_url}gateway/", data={**fields, "key_rpm": "2", "key_tpm": "", "ip_rpm": ""})
            assert saved.status_code == 302

            refusals: list[httpx.Response] = []

            def refused() -> bool:
                response = _post(url, key)
                if response.status_code == 429:
                    refusals.append(response)
                return bool(refusals)

            assert _until(refused, timeout_s=2.5) < 2
            assert refusals[0].headers["x-ratelimit-layer"] == "gateway"
            assert refusals[0].headers["x-ratelimit-limit-requests"] == "2"
            assert refusals[0].json()["error"]["code"] == "rpm_limit"

            fields = form_fields(ops.get(settings_url).text, "gateway-defaults-reset")
            assert ops.post(f"{settings_url}gateway/reset/", data=fields).status_code == 302
            assert _until(lambda: _post(url, key).status_code == 200, timeout_s=2.5) < 2  # the environment's: off
    finally:
        committed(gateway_defaults_reset, actor=None)
        redis_client().delete(*windows)
