"""A newcomer in a real browser: sign up, redeem an activation code (first key), call /v1 and watch the balance
fall, top up with a credit code, run the wallet dry and get insufficient_quota."""

import re
import time
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from apps.accounts.services import user_create
from apps.channels.models import Channel
from apps.channels.services import DeploymentSpec, channel_curated_set, channel_default_ensure, channel_model_set
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create
from apps.providers.models import ProviderType
from apps.providers.services import provider_credential_create
from apps.wallet.models import CodeKind
from apps.wallet.services.codes import code_batch_mint
from tests.browser.test_dashboard_flows import sign_up
from tests.conftest import UPSTREAM_API_KEY
from tests.world import consume

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def curated_mix_and_codes(mock_url: str) -> tuple[str, str]:
    """The instance's curated models (on the mock provider) and one code of each kind; returns the codes."""
    operator = user_create(email=f"ops-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    home = organization_create(name=f"Ops {uuid.uuid4().hex[:6]}", owner=operator, billing_mode=BillingMode.INVOICE)
    credential = provider_credential_create(
        organization=None, name="mock", provider=ProviderType.OPENAI_COMPATIBLE, secret=UPSTREAM_API_KEY
    )
    channel = channel_default_ensure(organization=home, actor=operator)
    spec = DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "mock-gpt-4o-mini", mock_url, credential)
    channel_model_set(channel=channel, alias="gpt-4o-mini", deployments=[spec], actor=operator, platform_managed=True)
    channel_curated_set(channel=channel, actor=operator)
    activation = code_batch_mint(kind=CodeKind.ACTIVATION, count=1, credit_micros=300, actor=operator).codes[0]
    credit = code_batch_mint(kind=CodeKind.CREDIT, count=1, credit_micros=200, actor=operator).codes[0]
    return activation, credit


def _balance(page) -> int:  # type: ignore[no-untyped-def]
    """The balance the Credit Codes page shows, in micro-USD."""
    dollars, micros = page.locator("#wallet-balance").inner_text().split(".")
    return int(dollars) * 1_000_000 + int(micros)


def _ask(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
        timeout=20,
    )


def test_newcomer_redeems_calls_tops_up_and_runs_out(
    page, live_server_url, committed, mock_provider_url, live_mail_dir
):
    activation, credit = committed(curated_mix_and_codes, mock_provider_url)
    try:
        sign_up(page, live_mail_dir)
        page.click("nav >> text=Activation Codes")
        page.fill("#redeem-form input[name=code]", activation.lower())
        page.click("#redeem-form button[type=submit]")
        key = page.locator("#new-key").inner_text()
        assert re.fullmatch(r"sk-hydite-[0-9a-f]{32}", key)
        expect(page.locator("#wallet-balance")).to_have_text("0.000300")

        first = _ask(live_server_url, key)
        assert first.status_code == 200, first.text
        consume(committed, first.headers["x-request-id"])
        page.click("nav >> text=Credit Codes")
        after_one = _balance(page)
        assert 0 < after_one < 300  # the request's exact cost came off
        expect(page.locator("#wallet-entries")).to_contain_text("Metered usage")

        page.fill("#redeem-form input[name=code]", credit)
        page.click("#redeem-form button[type=submit]")
        expect(page.locator(".messages")).to_contain_text("$0.000200 added; balance")
        assert _balance(page) == after_one + 200

        request_ids, refused = [], None
        deadline = time.monotonic() + 60
        while refused is None and time.monotonic() < deadline:
            answer = _ask(live_server_url, key)
            if answer.status_code == 429:
                refused = answer
            else:
                assert answer.status_code == 200, answer.text
                request_ids.append(answer.headers["x-request-id"])
        assert refused is not None and refused.json()["error"]["code"] == "insufficient_quota"
        consume(committed, *request_ids)
        page.reload()
        assert 0 <= _balance(page) < after_one + 200
    finally:
        committed(lambda: Channel.objects.filter(is_curated=True).update(is_curated=False))
