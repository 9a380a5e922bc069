"""A channel's stored `router:` block (Channel.router, checked by apps.channels.routing_yaml): its keys in the
order the YAML writes them, the presets, and its resolution into the gateway's RouterSnapshot.

The stored block holds only what was written; resolving puts the top-level settings over DEFAULT_POLICY and
each alias's own over that (backoff and cooldown merged key by key), so the gateway merges nothing.
"""

from collections.abc import Collection, Mapping
from typing import Any

from apps.channels.router_config import (
    DEFAULT_POLICY,
    Backoff,
    Cooldown,
    HeaderRule,
    RouterPolicy,
    RouterSnapshot,
)

POLICY_KEYS = ("strategy", "retries", "backoff", "retry_after_max_s", "cooldown")
BACKOFF_KEYS = ("base_ms", "max_ms")
COOLDOWN_KEYS = ("failures", "window_s", "seconds")
CHAIN_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
RULE_KEYS = ("header", "equals", "tags")
ROUTER_KEYS = (*POLICY_KEYS, "tags", "rules", *CHAIN_KEYS, "aliases")

# What a plan without routing as code chooses from: each sets the channel's top-level policy.
ROUTING_PRESETS: dict[str, dict[str, Any]] = {
    "balanced": {"strategy": "weighted", "retries": 2, "cooldown": {"failures": 3, "window_s": 60, "seconds": 30}},
    "fastest": {"strategy": "latency", "retries": 2},
    "cheapest": {"strategy": "cost", "retries": 2},
    "resilient": {
        "strategy": "usage",
        "retries": 3,
        "backoff": {"base_ms": 500, "max_ms": 8000},
        "cooldown": {"failures": 2, "window_s": 60, "seconds": 60},
    },
}


def _ordered(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: mapping[key] for key in keys if key in mapping}


def policy_document(policy: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's settings in POLICY_KEYS order (the database's jsonb keeps no order)."""
    document = _ordered(policy, POLICY_KEYS)
    if "backoff" in document:
        document["backoff"] = _ordered(document["backoff"], BACKOFF_KEYS)
    if "cooldown" in document:
        document["cooldown"] = _ordered(document["cooldown"], COOLDOWN_KEYS)
    return document


def router_document(router: Mapping[str, Any]) -> dict[str, Any]:
    """The block as the YAML writes it: keys in ROUTER_KEYS order, aliases sorted (export, then import, gives
    the same text)."""
    document = policy_document(router)
    if "tags" in router:
        document["tags"] = list(router["tags"])
    if "rules" in router:
        document["rules"] = [_ordered(rule, RULE_KEYS) for rule in router["rules"]]
    for key in CHAIN_KEYS:
        if key in router:
            document[key] = {alias: list(chain) for alias, chain in sorted(router[key].items())}
    if "aliases" in router:
        document["aliases"] = {alias: policy_document(own) for alias, own in sorted(router["aliases"].items())}
    return document


def router_without_alias(router: Mapping[str, Any], alias: str) -> dict[str, Any]:
    """The block without `alias`: its own settings, its chains, and its place in other aliases' chains."""
    pruned = dict(router)
    if "aliases" in pruned:
        pruned["aliases"] = {name: own for name, own in pruned["aliases"].items() if name != alias}
    for key in CHAIN_KEYS:
        if key in pruned:
            chains = {name: [to for to in chain if to != alias] for name, chain in pruned[key].items() if name != alias}
            pruned[key] = {name: chain for name, chain in chains.items() if chain}
    return pruned


def router_with_preset(router: Mapping[str, Any], preset: Mapping[str, Any]) -> dict[str, Any]:
    """The block with its top-level policy replaced by the preset's; chains, tags, rules and aliases' own
    settings stay."""
    return router_document({**{key: value for key, value in router.items() if key not in POLICY_KEYS}, **preset})


def policy_over(base: RouterPolicy, own: Mapping[str, Any]) -> RouterPolicy:
    """`own`'s settings over `base`'s; backoff and cooldown key by key."""
    backoff, cooldown = own.get("backoff", {}), own.get("cooldown", {})
    return RouterPolicy(
        strategy=own.get("strategy", base["strategy"]),
        retries=own.get("retries", base["retries"]),
        backoff=Backoff(
            base_ms=backoff.get("base_ms", base["backoff"]["base_ms"]),
            max_ms=backoff.get("max_ms", base["backoff"]["max_ms"]),
        ),
        retry_after_max_s=float(own.get("retry_after_max_s", base["retry_after_max_s"])),
        cooldown=Cooldown(
            failures=cooldown.get("failures", base["cooldown"]["failures"]),
            window_s=cooldown.get("window_s", base["cooldown"]["window_s"]),
            seconds=cooldown.get("seconds", base["cooldown"]["seconds"]),
        ),
    )


def _chains(chains: Mapping[str, list[str]], aliases: Collection[str]) -> dict[str, list[str]]:
    """Chains between aliases the channel has (a chain naming a removed one, e.g. after an admin edit, skips it)."""
    kept = {alias: [to for to in chain if to in aliases] for alias, chain in chains.items() if alias in aliases}
    return {alias: chain for alias, chain in kept.items() if chain}


def router_resolve(router: Mapping[str, Any], *, aliases: Collection[str]) -> RouterSnapshot:
    """What the gateway reads: the resolved default, each alias with settings of its own resolved, the chains."""
    default = policy_over(DEFAULT_POLICY, router)
    own_settings: Mapping[str, Mapping[str, Any]] = router.get("aliases", {})
    return RouterSnapshot(
        default=default,
        aliases={alias: policy_over(default, own) for alias, own in own_settings.items() if alias in aliases},
        fallbacks=_chains(router.get("fallbacks", {}), aliases),
        context_window_fallbacks=_chains(router.get("context_window_fallbacks", {}), aliases),
        content_policy_fallbacks=_chains(router.get("content_policy_fallbacks", {}), aliases),
        tags=list(router.get("tags", [])),
        rules=[
            HeaderRule(header=rule["header"], equals=rule["equals"], tags=list(rule["tags"]))
            for rule in router.get("rules", [])
        ],
    )
