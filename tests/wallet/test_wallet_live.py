"""A prepaid organisation through live /v1: refused at zero, served once topped up, debited per request."""

import time

import openai
import pytest

from apps.spend.models import SpendLog
from apps.wallet.models import Account, EntryKind, Wallet, WalletEntry
from apps.wallet.services.ledger import wallet_credit
from tests.world import consume

pytestmark = pytest.mark.django_db
PROMPT = [{"role": "user", "content": "hello"}]


def _client(live_server_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{live_server_url}/v1", max_retries=0)


def _ask(client: openai.OpenAI, **extra):  # type: ignore[no-untyped-def]
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT, max_tokens=16, **extra
    )


def _until_served(client: openai.OpenAI, timeout_s: float = 5):  # type: ignore[no-untyped-def]
    """The gateway trusts its copy of a key for a second: wait for it to see the new balance."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _ask(client)
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "the top-up did not reach the gateway"
            time.sleep(0.2)


def test_zero_balance_is_insufficient_quota_then_a_top_up_serves_and_each_request_is_debited(
    committed, prepaid_world, live_server_url
):
    client = _client(live_server_url, prepaid_world.key)
    with pytest.raises(openai.RateLimitError) as refused:
        _ask(client)
    assert refused.value.status_code == 429
    assert refused.value.body == {
        "message": refused.value.body["message"],
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
    assert refused.value.body["message"].startswith("You exceeded your current quota")

    organization = prepaid_world.organization
    committed(wallet_credit, organization=organization, amount_micros=5_000, kind=EntryKind.CREDIT_CODE, actor=None)
    request_ids = [_until_served(client).headers["x-request-id"]]
    balances = []
    for _ in range(3):
        request_ids.append(_ask(client).headers["x-request-id"])
        consume(committed, *request_ids)
        balances.append(committed(lambda: Wallet.objects.get(organization=organization).balance_micros))
    assert balances == sorted(balances, reverse=True) and len(set(balances)) == 3  # falls with every request

    def ledger() -> tuple[int, int, int]:
        spent = sum(SpendLog.objects.filter(request_id__in=request_ids).values_list("cost_micros", flat=True))
        debited = sum(
            WalletEntry.objects.filter(
                wallet__organization=organization, kind=EntryKind.USAGE, account=Account.BALANCE
            ).values_list("amount_micros", flat=True)
        )
        return spent, debited, Wallet.objects.get(organization=organization).balance_micros

    spent, debited, balance = committed(ledger)
    assert spent > 0 and debited == -spent and balance == 5_000 - spent  # exact, to the micro-dollar


def test_a_prepaid_organisation_that_runs_out_is_refused_before_it_goes_below_zero(
    committed, prepaid_world, live_server_url
):
    organization = prepaid_world.organization
    committed(wallet_credit, organization=organization, amount_micros=400, kind=EntryKind.CREDIT_CODE, actor=None)
    client = _client(live_server_url, prepaid_world.key)
    request_ids = [_until_served(client).headers["x-request-id"]]
    served = 1
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(200):
            request_ids.append(_ask(client).headers["x-request-id"])
            served += 1
    assert refused.value.code == "insufficient_quota"
    assert served >= 5  # several requests (about $0.00001 each) fitted in $0.0004 before the wallet ran dry
    consume(committed, *request_ids)
    wallet = committed(lambda: Wallet.objects.get(organization=organization))
    assert wallet.balance_micros >= 0
