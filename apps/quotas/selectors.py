import datetime as dt
from dataclasses import dataclass

from apps.core.schemas import current_schema
from apps.keys.models import VirtualKey
from apps.quotas.limits import budget_period
from apps.quotas.models import QuotaFields
from apps.spend.selectors import spend_micros_since


@dataclass(frozen=True)
class BudgetUsage:
    layer: str  # key, team, organisation
    limit_micros: int
    used_micros: int
    period: str

    @property
    def percent(self) -> int:
        return min(100, self.used_micros * 100 // self.limit_micros) if self.limit_micros else 100


def budget_usage_for_key(*, key: VirtualKey) -> list[BudgetUsage]:
    """Each layer's hard budget above this key, with the ledger's spend in its current period."""
    now = dt.datetime.now(dt.UTC)
    layers: list[tuple[str, str, int, QuotaFields]] = [
        ("key", "key", key.pk, key),
        ("team", "team", key.team_id, key.team),
        ("organisation", "org", key.organization_id, key.organization),
    ]
    usage = []
    for label, scope, scope_id, holder in layers:
        if holder.max_budget_micros is None:
            continue
        _, start, _ = budget_period(holder.budget_duration, now)
        used = spend_micros_since(
            schema=current_schema(), scope=scope, scope_id=scope_id, since=start, organization_id=key.organization_id
        )
        usage.append(BudgetUsage(label, holder.max_budget_micros, used, holder.get_budget_duration_display()))
    return usage
