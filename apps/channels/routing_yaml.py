"""The routing YAML's `router:` block (and the dashboard's router form), checked into what Channel.router stores.

    router:
      strategy: weighted          # weighted | latency | cost | least-busy | usage | sticky
      retries: 2                  # 0..10
      backoff: {base_ms: 200, max_ms: 5000}
      retry_after_max_s: 20
      cooldown: {failures: 3, window_s: 60, seconds: 30}
      tags: [prod]
      rules:
        - {header: x-customer-tier, equals: enterprise, tags: [enterprise]}
      fallbacks: {claude-sonnet-4-5: [claude-3-7-sonnet, gpt-4o]}
      context_window_fallbacks: {gpt-4o-mini: [gpt-4o-long]}
      content_policy_fallbacks: {}
      aliases:
        claude-sonnet-4-5: {strategy: latency, retries: 3}

Every key is known, every value typed and bounded; chains name aliases of the channel, never the alias
itself, at most CHAIN_MAX long. A chain is followed one level only (a fallback's own fallbacks are not
tried), so chains that name each other (a → b, b → a) cannot loop. A refusal names the field
(`router.fallbacks.claude-sonnet-4-5[1]`) and, for a YAML document, its line.
"""

import re
from collections.abc import Collection, Mapping
from typing import Any

from apps.channels.router_config import DEFAULT_POLICY, STRATEGIES, RouterPolicy
from apps.channels.router_policy import (
    BACKOFF_KEYS,
    CHAIN_KEYS,
    COOLDOWN_KEYS,
    POLICY_KEYS,
    ROUTER_KEYS,
    RULE_KEYS,
    policy_over,
    router_document,
)
from apps.channels.services import InvalidDeployment, is_number, is_whole, tags_check, text_check
from apps.channels.yaml_read import Lines, located

RETRIES_MAX = 10
BASE_MS_MAX, MAX_MS_MAX = 60_000, 600_000
RETRY_AFTER_MAX_S = 3600
COOLDOWN_FAILURES_MAX, COOLDOWN_S_MAX = 1000, 86_400
CHAIN_MAX = 5
RULES_MAX, RULE_EQUALS_MAX_LENGTH = 64, 256
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an HTTP token (RFC 9110 5.6.2)
# A rule compares a header with a value written in the routing: never one that carries a secret.
CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-goog-api-key"}


class _Check:
    """Where refusals point: the field's path, and its line when the block was read from a document."""

    def __init__(self, lines: Lines | None) -> None:
        self.lines = lines

    def fail(self, path: str, problem: str) -> InvalidDeployment:
        return located(problem, path, self.lines)

    def mapping(self, raw: object, path: str, keys: Collection[str] | None = None) -> Mapping[Any, Any]:
        if not isinstance(raw, dict):
            raise self.fail(path, f"A mapping of any of: {', '.join(keys)}." if keys is not None else "A mapping.")
        for key in raw:
            if keys is not None and key not in keys:
                raise self.fail(f"{path}.{key}", f"Unknown setting; known here: {', '.join(keys)}.")
        return raw

    def whole(self, raw: object, path: str, low: int, high: int) -> int:
        if not is_whole(raw) or not low <= raw <= high:
            raise self.fail(path, f"An integer from {low} to {high}.")
        return raw

    def text(self, raw: object, path: str, *, max_length: int) -> str:
        try:
            return text_check(raw, param=path, max_length=max_length)
        except InvalidDeployment as exc:
            raise self.fail(path, exc.message) from exc

    def tags(self, raw: object, path: str, *, required: bool = False) -> list[str]:
        try:
            tags = tags_check(raw, param=path)
        except InvalidDeployment as exc:
            raise self.fail(path, exc.message) from exc
        if required and not tags:
            raise self.fail(path, "At least one tag.")
        return tags

    def alias(self, raw: object, path: str, aliases: Collection[str]) -> str:
        if not isinstance(raw, str) or raw not in aliases:
            shown = raw[:80] if isinstance(raw, str) else raw
            raise self.fail(path, f'No alias "{shown}" in this channel.')
        return raw


def _part(
    check: _Check, raw: object, path: str, keys: tuple[str, ...], bounds: dict[str, tuple[int, int]]
) -> dict[str, int]:
    """backoff or cooldown: any of `keys`, each an integer within its bounds."""
    part = check.mapping(raw, path, keys)
    return {key: check.whole(part[key], f"{path}.{key}", *bounds[key]) for key in keys if key in part}


def _policy(check: _Check, block: Mapping[Any, Any], path: str) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if "strategy" in block:
        if block["strategy"] not in STRATEGIES:
            raise check.fail(f"{path}.strategy", f"One of: {', '.join(STRATEGIES)}.")
        policy["strategy"] = block["strategy"]
    if "retries" in block:
        policy["retries"] = check.whole(block["retries"], f"{path}.retries", 0, RETRIES_MAX)
    if "backoff" in block:
        bounds = {"base_ms": (1, BASE_MS_MAX), "max_ms": (1, MAX_MS_MAX)}
        policy["backoff"] = _part(check, block["backoff"], f"{path}.backoff", BACKOFF_KEYS, bounds)
    if "retry_after_max_s" in block:
        seconds = block["retry_after_max_s"]
        if not is_number(seconds) or not 0 <= seconds <= RETRY_AFTER_MAX_S:
            raise check.fail(f"{path}.retry_after_max_s", f"Seconds: a number from 0 to {RETRY_AFTER_MAX_S}.")
        policy["retry_after_max_s"] = seconds
    if "cooldown" in block:
        bounds = {
            "failures": (1, COOLDOWN_FAILURES_MAX),
            "window_s": (1, COOLDOWN_S_MAX),
            "seconds": (0, COOLDOWN_S_MAX),
        }
        policy["cooldown"] = _part(check, block["cooldown"], f"{path}.cooldown", COOLDOWN_KEYS, bounds)
    return policy


def _resolved(check: _Check, policy: RouterPolicy, path: str) -> RouterPolicy:
    backoff = policy["backoff"]
    if backoff["base_ms"] > backoff["max_ms"]:
        raise check.fail(
            f"{path}.backoff.base_ms", f"Above max_ms ({backoff['max_ms']}) once merged with the defaults."
        )
    return policy


def _rule(check: _Check, raw: object, path: str) -> dict[str, Any]:
    rule = check.mapping(raw, path, RULE_KEYS)
    for key in RULE_KEYS:
        if key not in rule:
            raise check.fail(f"{path}.{key}", "Required.")
    header = rule["header"]
    if not isinstance(header, str) or not HEADER_NAME.fullmatch(header):
        raise check.fail(f"{path}.header", "A header name: at most 64 letters, digits and !#$%&'*+-.^_`|~.")
    if header.lower() in CREDENTIAL_HEADERS:
        raise check.fail(f"{path}.header", "A header that carries credentials cannot choose deployments.")
    return {
        "header": header.lower(),  # HTTP header names are case-insensitive; ASGI gives them lower-case
        "equals": check.text(rule["equals"], f"{path}.equals", max_length=RULE_EQUALS_MAX_LENGTH),
        "tags": check.tags(rule["tags"], f"{path}.tags", required=True),
    }


def _rules(check: _Check, raw: object, path: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > RULES_MAX:
        raise check.fail(path, f"A list of at most {RULES_MAX} rules.")
    return [_rule(check, rule, f"{path}[{index}]") for index, rule in enumerate(raw)]


def _chain(check: _Check, alias: str, raw: object, path: str, aliases: Collection[str]) -> list[str]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= CHAIN_MAX:
        raise check.fail(path, f"A list of 1 to {CHAIN_MAX} aliases, tried in order.")
    chain: list[str] = []
    for index, to in enumerate(raw):
        to = check.alias(to, f"{path}[{index}]", aliases)
        if to == alias:
            raise check.fail(f"{path}[{index}]", "An alias cannot fall back to itself.")
        if to in chain:
            raise check.fail(f"{path}[{index}]", f'"{to}" is already in this chain.')
        chain.append(to)
    return chain


def _chains(check: _Check, raw: object, path: str, aliases: Collection[str]) -> dict[str, list[str]]:
    chains = check.mapping(raw, path)
    return {
        check.alias(alias, f"{path}.{alias}", aliases): _chain(check, alias, chain, f"{path}.{alias}", aliases)
        for alias, chain in chains.items()
    }


def _alias_policies(
    check: _Check, raw: object, path: str, aliases: Collection[str], default: RouterPolicy
) -> dict[str, dict[str, Any]]:
    own_settings = check.mapping(raw, path)
    checked = {}
    for alias, own in own_settings.items():
        where = f"{path}.{alias}"
        check.alias(alias, where, aliases)
        checked[alias] = _policy(check, check.mapping(own, where, POLICY_KEYS), where)
        _resolved(check, policy_over(default, checked[alias]), where)
    return checked


def router_check(
    raw: object, *, aliases: Collection[str], lines: Lines | None = None, path: str = "router"
) -> dict[str, Any]:
    """The block as Channel.router stores it (keys in order), or InvalidDeployment naming the field.

    `aliases`: the channel's aliases once the change is made (chains and own settings may name only those);
    `lines`: the document's line of each field (yaml_read), when the block was read from one.
    """
    check = _Check(lines)
    block = check.mapping(raw, path, ROUTER_KEYS)
    checked = _policy(check, block, path)
    default = _resolved(check, policy_over(DEFAULT_POLICY, checked), path)
    if "tags" in block:
        checked["tags"] = check.tags(block["tags"], f"{path}.tags")
    if "rules" in block:
        checked["rules"] = _rules(check, block["rules"], f"{path}.rules")
    for key in CHAIN_KEYS:
        if key in block:
            checked[key] = _chains(check, block[key], f"{path}.{key}", aliases)
    if "aliases" in block:
        checked["aliases"] = _alias_policies(check, block["aliases"], f"{path}.aliases", aliases, default)
    return router_document(checked)
