"""An organisation with a week of metered requests on two keys, some folded into day buckets."""

import datetime as dt

import pytest

from apps.keys.models import VirtualKey
from apps.keys.services import key_generate
from apps.spend.rollups import spend_rollups_roll
from tests.world import ledger_add

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.SPEND_EXPORT_DIR = tmp_path / "exports"


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@pytest.fixture
def billed(org_with_roles):  # type: ignore[no-untyped-def]
    org, platform = org_with_roles["organization"], org_with_roles["platform"]
    admin, developer = org_with_roles["users"]["org_admin"], org_with_roles["users"]["developer"]
    prod = key_generate(organization=org, team=platform, user=developer, name="prod-key", actor=admin)[0]
    VirtualKey.objects.filter(pk=prod.pk).update(max_budget_micros=5_000_000)
    batch = key_generate(organization=org, team=platform, user=admin, name="batch-key", actor=admin)[0]
    common = {"team_id": platform.pk, "channel_id": prod.channel_id}
    for at, key, model, cost, status in (
        (NOW - dt.timedelta(days=3), prod, "gpt-4o-mini", 1_250_000, 200),
        (NOW - dt.timedelta(days=1), prod, "claude-haiku-4-5", 2_000_001, 200),
        (NOW - dt.timedelta(days=1), batch, "gpt-4o-mini", 3, 500),
        (NOW, batch, "gpt-4o-mini", 700_000, 200),
    ):
        ledger_add(
            org.pk,
            created_at_ms=_ms(at),
            key_id=key.pk,
            user_id=key.user_id,
            model_alias=model,
            prompt_tokens=100,
            completion_tokens=10,
            cost_micros=cost,
            status_code=status,
            **common,
        )
    spend_rollups_roll()  # fold some days; today's later rows stay in hour buckets only
    ledger_add(org.pk, created_at_ms=_ms(NOW), key_id=batch.pk, user_id=admin.pk, cost_micros=49, **common)
    return org_with_roles | {"prod": prod, "batch": batch}
