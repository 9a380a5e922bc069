import datetime as dt
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from apps.core.outage import redis_outage_log
from apps.core.redis import redis_client
from apps.core.schemas import current_schema
from apps.keys.models import VirtualKey
from apps.orgs.models import Organization, Team
from apps.quotas.limits import GATEWAY_DEFAULT_FIELDS, GatewayDefaults, budget_period, window_key
from apps.quotas.models import GatewayDefaultsSetting, QuotaFields
from apps.quotas.windows import window_totals
from apps.spend.selectors import spend_micros_since


def _percent(used: int, limit: int) -> int:
    return min(100, max(0, used) * 100 // limit) if limit else 100


@dataclass(frozen=True)
class BudgetUsage:
    layer: str  # key, team, organisation
    limit_micros: int
    used_micros: int
    period: str  # daily, weekly, monthly, total

    @property
    def percent(self) -> int:
        return _percent(self.used_micros, self.limit_micros)


@dataclass(frozen=True)
class RateUsage:
    layer: str  # key, team, organisation
    dimension: str  # requests, tokens (per minute)
    limit: int
    used: int  # in the gateway's sliding window now

    @property
    def percent(self) -> int:
        return _percent(self.used, self.limit)


@dataclass(frozen=True)
class QuotaUsage:
    budgets: list[BudgetUsage]
    rates: list[RateUsage]
    rates_unavailable: bool  # Redis did not answer: the page says so instead of failing


@dataclass(frozen=True)
class _Layer:
    label: str  # as the page names it
    scope: str  # key, team, org: the gateway's layer name and the ledger's scope
    scope_id: int
    holder: QuotaFields


def _layers(holder: VirtualKey | Team | Organization) -> list[_Layer]:
    """The holder's layer and every layer above it (Key ⊆ Team ⊆ Organisation)."""
    if isinstance(holder, VirtualKey):
        return [_Layer("key", "key", holder.pk, holder), *_layers(holder.team)]
    if isinstance(holder, Team):
        return [_Layer("team", "team", holder.pk, holder), *_layers(holder.organization)]
    return [_Layer("organisation", "org", holder.pk, holder)]


def quota_usage(*, holder: VirtualKey | Team | Organization) -> QuotaUsage:
    """Budget use (the ledger, this period) and RPM/TPM use (the gateway's windows) of the holder's layers."""
    layers = _layers(holder)
    organization_id = holder.pk if isinstance(holder, Organization) else holder.organization_id
    rates = _rate_usage(layers)
    return QuotaUsage(
        budgets=_budget_usage(layers, organization_id=organization_id),
        rates=rates or [],
        rates_unavailable=rates is None,
    )


def _budget_usage(layers: list[_Layer], *, organization_id: int) -> list[BudgetUsage]:
    now = dt.datetime.now(dt.UTC)
    usage = []
    for layer in layers:
        holder = layer.holder
        if holder.max_budget_micros is None:
            continue
        _, start, _ = budget_period(holder.budget_duration, now)
        used = spend_micros_since(
            schema=current_schema(),
            scope=layer.scope,
            scope_id=layer.scope_id,
            since=start,
            organization_id=organization_id,
        )
        usage.append(BudgetUsage(layer.label, holder.max_budget_micros, used, holder.budget_duration))
    return usage


def _rate_usage(layers: list[_Layer]) -> list[RateUsage] | None:
    """None when Redis is unreachable. A layer without an RPM or TPM limit has no window to read."""
    rated = [layer for layer in layers if layer.holder.rpm_limit is not None or layer.holder.tpm_limit is not None]
    if not rated:
        return []
    schema = current_schema()
    try:
        rings = redis_client().mget([window_key(schema, layer.scope, layer.scope_id) for layer in rated])
    except (RedisError, OSError) as exc:
        redis_outage_log("quota usage bars", exc, "the pages show usage unavailable")
        return None
    now_s = int(time.time())
    usage = []
    for layer, ring in zip(rated, rings, strict=True):
        requests, tokens = window_totals(ring, now_s=now_s)
        for dimension, limit, used in (
            ("requests", layer.holder.rpm_limit, requests),
            ("tokens", layer.holder.tpm_limit, tokens),
        ):
            if limit is not None:
                usage.append(RateUsage(layer.label, dimension, limit, used))
    return usage


def gateway_defaults_saved() -> GatewayDefaults | None:
    """The gateway layer's limits saved for this instance, or None (the environment's apply)."""
    row = GatewayDefaultsSetting.objects.filter(pk=GatewayDefaultsSetting.SINGLETON_ID).first()
    if row is None:
        return None
    return GatewayDefaults(**{name: getattr(row, name) for name in GATEWAY_DEFAULT_FIELDS})
