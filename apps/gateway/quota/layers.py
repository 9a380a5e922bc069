"""The layers a key's requests must pass (key, team, org, wallet, plan, gateway), read from its snapshot.

Static checks (expiry, IP and model lists) are decided here, from the snapshot alone; what a layer
counts (requests and tokens per minute, a budget) is decided by the scripts (scripts.py).
"""

import datetime as dt
import fnmatch
import ipaddress
from collections.abc import ItemsView, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, cast

from apps.core.client_ip import client_network
from apps.gateway.errors import IpNotAllowed, KeyExpired, ModelNotAllowed
from apps.keys.snapshots import KeySnapshot
from apps.quotas.limits import (
    GatewayDefaults,
    LayerLimits,
    budget_period,
    gateway_defaults_from_snapshot,
    spent_key,
    window_key,
)
from apps.wallet.selectors import WalletLimit


class Dimension(IntEnum):
    """What a layer limits; the scripts are given these numbers (scripts.py)."""

    RPM = 1  # requests per minute
    TPM = 2  # tokens per minute
    BUDGET = 3  # micro-USD per budget period


class BudgetScope(NamedTuple):
    """Whose spend a budget counter starts from (the ledger's scope and id), and since when."""

    scope: str  # key, team, org
    scope_id: int
    since: dt.datetime


@dataclass(frozen=True)
class Layer:
    name: str  # key, team, org, wallet, plan, gateway
    rate_key: str
    budget_key: str
    rpm: int | None = None
    tpm: int | None = None
    budget: int | None = None
    budget_ttl_s: int = -1
    budget_scope: BudgetScope | None = None  # to load the counter from the ledger

    @property
    def rated(self) -> bool:
        return self.rpm is not None or self.tpm is not None


LAYER_LABEL = {
    "key": "key",
    "team": "team",
    "org": "organisation",
    "wallet": "wallet",
    "plan": "plan",
    "gateway": "gateway",
}


def _matches(model: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


def _in_networks(ip: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in networks)


def _layer_limits(key: KeySnapshot) -> ItemsView[str, LayerLimits]:
    # every value of KeyLayers is a LayerLimits: a view of it as such, without copying
    return cast(Mapping[str, LayerLimits], key["limits"]).items()


def access_checks(key: KeySnapshot, *, client_ip: str, now_ms: int) -> None:
    """Expiry and the IP allow lists of every layer: for every route a key can call."""
    expires = key["expires_at_ms"]
    if expires is not None and now_ms >= expires:
        raise KeyExpired()
    for name, limits in _layer_limits(key):
        if "ips" in limits and not _in_networks(client_ip, limits["ips"]):
            raise IpNotAllowed(f"Requests from {client_ip} are not allowed by the {LAYER_LABEL[name]}'s IP allow list.")


def model_refusal(key: KeySnapshot, model: str) -> ModelNotAllowed | None:
    """Why a layer's model allow or deny list refuses `model`, or None."""
    for name, limits in _layer_limits(key):
        label = LAYER_LABEL[name]
        if "blocked" in limits and _matches(model, limits["blocked"]):
            return ModelNotAllowed(f"The model `{model}` is blocked for this {label}.", param="model")
        if "models" in limits and not _matches(model, limits["models"]):
            return ModelNotAllowed(f"The model `{model}` is not in this {label}'s allowed models.", param="model")
    return None


def layers_for(key: KeySnapshot, *, client_ip: str, defaults: GatewayDefaults, now: dt.datetime) -> list[Layer]:
    """The layers a request of `key` from `client_ip` must pass.

    The gateway layer takes the instance's saved defaults from the snapshot, else `defaults` (the process's
    environment).
    """
    layers = _holder_layers(key, now)
    wallet = key.get("wallet")
    if wallet is not None:
        layers.append(_wallet_layer(key["schema"], key["organization_id"], wallet, now))
    layers += _plan_layers(key)
    if key["shared_instance"]:
        layers += _gateway_layers(key, client_ip, defaults)
    return layers


def _holder_layers(key: KeySnapshot, now: dt.datetime) -> list[Layer]:
    """The key's, its team's and its organisation's layers, those with a limit the scripts count."""
    schema = key["schema"]
    ids = {"key": key["id"], "team": key["team_id"], "org": key["organization_id"]}
    layers = []
    for name, limits in _layer_limits(key):
        rpm, tpm, budget = limits.get("rpm"), limits.get("tpm"), limits.get("budget")
        if rpm is None and tpm is None and budget is None:
            continue
        period, start, ttl = budget_period(limits.get("period", "monthly"), now)
        layers.append(
            Layer(
                name=name,
                rate_key=window_key(schema, name, ids[name]),
                budget_key=spent_key(schema, name, ids[name], period),
                rpm=rpm,
                tpm=tpm,
                budget=budget,
                budget_ttl_s=ttl,
                budget_scope=BudgetScope(name, ids[name], start) if budget is not None else None,
            )
        )
    return layers


def _wallet_layer(schema: str, organization_id: int, wallet: WalletLimit, now: dt.datetime) -> Layer:
    """A prepaid organisation's wallet: a budget over its metering period, counted like the org's spend.

    The period comes from the snapshot, not the clock: until the platform rolls it (and republishes),
    usage keeps counting against the period the limit was computed for.
    """
    ttl = max(0, (wallet["end_ms"] - int(now.timestamp() * 1000)) // 1000) + 86_400
    return Layer(
        name="wallet",
        rate_key=window_key(schema, "wallet", organization_id),
        budget_key=spent_key(schema, "wallet", organization_id, wallet["period"]),
        budget=wallet["limit"],
        budget_ttl_s=ttl,
        budget_scope=BudgetScope("org", organization_id, dt.datetime.fromisoformat(wallet["start"])),
    )


def _plan_layers(key: KeySnapshot) -> list[Layer]:
    """The plan's caps: of the whole instance; on the Shared Edge each organisation has its own plan."""
    tier_rpm, tier_tpm = key["plan_caps"] or (None, None)
    if tier_rpm is None and tier_tpm is None:
        return []
    scope = f"org{key['organization_id']}" if key["shared_instance"] else "instance"
    return [Layer("plan", window_key(key["schema"], "plan", scope), "", rpm=tier_rpm, tpm=tier_tpm)]


def _gateway_layers(key: KeySnapshot, client_ip: str, defaults: GatewayDefaults) -> list[Layer]:
    """The Shared Edge's limits on every key and on every client IP."""
    gateway = gateway_defaults_from_snapshot(key.get("gateway_defaults")) or defaults
    scopes = [
        (f"key{key['id']}", gateway.key_rpm, gateway.key_tpm),
        # an IPv6 client is its /64: counted per address, one machine could take 2**64 windows
        (f"ip{client_network(client_ip) if ':' in client_ip else client_ip}", gateway.ip_rpm, gateway.ip_tpm),
    ]
    return [
        Layer("gateway", window_key(key["schema"], "gateway", scope), "", rpm=rpm, tpm=tpm)
        for scope, rpm, tpm in scopes
        if rpm is not None or tpm is not None
    ]
