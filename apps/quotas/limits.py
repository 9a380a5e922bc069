"""Quota limits as the gateway reads them: plain dicts in the key snapshot, and their validation."""

import datetime as dt
import ipaddress
from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict

from django.conf import settings

from apps.core.errors import HyditeError
from apps.core.redis import tenant_key
from apps.quotas.models import QuotaFields

RPM_MAX, TPM_MAX = 10**9, 10**12  # the largest limits one may set


def budget_period(duration: str, now: dt.datetime) -> tuple[str, dt.datetime, int]:
    """The budget period's id, start, and a TTL that outlives it by a day (-1: never expires)."""
    if duration == "total":
        return "total", dt.datetime(1970, 1, 1, tzinfo=dt.UTC), -1
    if duration == "daily":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
    elif duration == "weekly":
        start = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=7)
    else:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    ttl = int((end - now).total_seconds()) + 86_400
    return start.strftime("%Y%m%d"), start, ttl


class InvalidLimit(HyditeError):
    code = "invalid_limit"


class LayerLimits(TypedDict, total=False):
    """One layer's limits in a key snapshot: only those that are set (an empty dict: no limits)."""

    rpm: int
    tpm: int
    budget: int  # micro-USD per period
    soft_budget: int
    period: str  # the budget's: daily, weekly, monthly or total
    models: list[str]  # allowed model patterns
    blocked: list[str]
    ips: list[str]  # CIDR blocks


def limits_snapshot(holder: QuotaFields) -> LayerLimits:
    """Only the limits that are set; an empty dict is a layer without limits."""
    limits = LayerLimits()
    if holder.rpm_limit is not None:
        limits["rpm"] = holder.rpm_limit
    if holder.tpm_limit is not None:
        limits["tpm"] = holder.tpm_limit
    if holder.max_budget_micros is not None:
        limits["budget"] = holder.max_budget_micros
    if holder.soft_budget_micros is not None:
        limits["soft_budget"] = holder.soft_budget_micros
    if holder.allowed_models:
        limits["models"] = holder.allowed_models
    if holder.blocked_models:
        limits["blocked"] = holder.blocked_models
    if holder.allowed_ips:
        limits["ips"] = holder.allowed_ips
    if "budget" in limits or "soft_budget" in limits:
        limits["period"] = holder.budget_duration
    return limits


def allowed_ips_clean(values: list[str], *, param: str = "allowed_ips") -> list[str]:
    """CIDR blocks (a bare address is a /32 or /128), normalised; raises InvalidLimit naming the entry."""
    cleaned = []
    for index, value in enumerate(values):
        try:
            cleaned.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise InvalidLimit(f"{value!r} is not an IP address or CIDR block.", param=f"{param}[{index}]") from None
    return cleaned


def window_key(schema: str, layer: str, scope_id: int | str) -> str:
    """The Redis key of a layer's sliding RPM/TPM window (apps/quotas/windows.py reads it).

    `layer` is key, team or org with the holder's id; plan and gateway name their scope
    (`org12`, `instance`, `key7`, `ip203.0.113.9`).
    """
    return tenant_key(schema, "quota", "window", layer, scope_id)


def spent_key(schema: str, layer: str, scope_id: int, period: str) -> str:
    """The Redis key of a layer's budget counter (micro-USD spent and reserved) in one budget period."""
    return tenant_key(schema, "quota", "spent", layer, scope_id, period)


@dataclass(frozen=True)
class GatewayDefaults:
    """The Shared Edge's gateway layer: limits on every key and on every client IP (None: off)."""

    key_rpm: int | None = None
    key_tpm: int | None = None
    ip_rpm: int | None = None
    ip_tpm: int | None = None


GATEWAY_DEFAULT_FIELDS = tuple(field.name for field in fields(GatewayDefaults))


def gateway_defaults_env() -> GatewayDefaults:
    """GATEWAY_DEFAULT_RPM / _TPM, for keys and client IPs alike: what applies until the dashboard saves values."""
    rpm, tpm = settings.GATEWAY_DEFAULT_RPM or None, settings.GATEWAY_DEFAULT_TPM or None
    return GatewayDefaults(key_rpm=rpm, key_tpm=tpm, ip_rpm=rpm, ip_tpm=tpm)


def gateway_defaults_snapshot(defaults: GatewayDefaults) -> dict[str, int | None]:
    return asdict(defaults)


def gateway_defaults_from_snapshot(raw: dict[str, Any] | None) -> GatewayDefaults | None:
    """The defaults a key snapshot carries, or None (the snapshot has none: the process's own apply)."""
    if raw is None:
        return None
    return GatewayDefaults(**{name: raw.get(name) or None for name in GATEWAY_DEFAULT_FIELDS})
