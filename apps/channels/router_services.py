"""A channel's router settings: set from a YAML `router:` block (Enterprise), from a preset, or from the Channels
page's common settings (a preset, retries and fallback chains: every plan)."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audited_update
from apps.channels.models import Channel
from apps.channels.router_policy import ROUTING_PRESETS, router_with_preset
from apps.channels.routing_history import routing_change
from apps.channels.routing_yaml import router_check
from apps.channels.selectors import routing_yaml_allowed_here
from apps.channels.services import InvalidDeployment, channel_publish_on_commit


class RoutingYamlNotInPlan(InvalidDeployment):
    status, code = 403, "routing_yaml_not_in_plan"
    default_message = "Routing as code (router settings) needs the Enterprise plan; choose a routing preset instead."


def _router_write(*, channel: Channel, router: dict[str, Any], actor: User | None, action: str) -> None:
    audited_update(
        channel, changes={"router": router}, actor=actor, action=action, organization_id=channel.organization_id
    )
    channel_publish_on_commit(channel)


@transaction.atomic
def channel_router_set(
    *, channel: Channel, router: Mapping[str, Any], actor: User | None, gated: bool = True
) -> Channel:
    """Replace the channel's router settings with `router` (a `router:` block, checked as the YAML's is);
    versioned and audited. `gated=False` is for operators and for an import already gated: otherwise the
    instance needs the Enterprise plan (other plans: channel_router_preset_apply)."""
    if gated and not routing_yaml_allowed_here():
        raise RoutingYamlNotInPlan(param="router")
    with routing_change(channel=channel, actor=actor, summary="changed the router settings"):
        channel.refresh_from_db(fields=["router"])
        aliases = set(channel.models.values_list("alias", flat=True))
        _router_write(
            channel=channel, router=router_check(router, aliases=aliases), actor=actor, action="channel.router_set"
        )
    return channel


@transaction.atomic
def channel_router_preset_apply(*, channel: Channel, preset: str, actor: User | None) -> Channel:
    """Set the channel's top-level policy (strategy, retries, backoff, retry_after_max_s, cooldown) to a preset's;
    its fallback chains, tags, rules and aliases' own settings stay. Any plan; versioned and audited."""
    if preset not in ROUTING_PRESETS:
        raise InvalidDeployment(f"One of: {', '.join(ROUTING_PRESETS)}.", param="preset")
    with routing_change(channel=channel, actor=actor, summary=f"applied the {preset} preset"):
        channel.refresh_from_db(fields=["router"])
        router = router_with_preset(channel.router, ROUTING_PRESETS[preset])
        _router_write(channel=channel, router=router, actor=actor, action="channel.router_preset")
    return channel


def _common_router(
    current: Mapping[str, Any], *, preset: str | None, fallbacks: Mapping[str, Sequence[str]], retries: int | None
) -> dict[str, Any]:
    router = router_with_preset(current, ROUTING_PRESETS[preset]) if preset is not None else dict(current)
    if retries is not None:
        router["retries"] = retries
    chains = {**current.get("fallbacks", {}), **{alias: list(chain) for alias, chain in fallbacks.items()}}
    router["fallbacks"] = {alias: chain for alias, chain in chains.items() if chain}
    if not router["fallbacks"]:
        del router["fallbacks"]
    return router


def _common_summary(before: Mapping[str, Any], after: Mapping[str, Any], preset: str | None) -> str:
    parts = []
    if preset is not None and any(before.get(key) != after.get(key) for key in ROUTING_PRESETS[preset]):
        parts.append(f"applied the {preset} preset")
    retries = after.get("retries")
    if retries != before.get("retries") and (preset is None or retries != ROUTING_PRESETS[preset].get("retries")):
        parts.append(f"retries {retries}")  # beyond what the preset sets
    chains_before, chains_after = before.get("fallbacks", {}), after.get("fallbacks", {})
    for alias in sorted(chains_before.keys() | chains_after.keys()):
        if chains_before.get(alias) != chains_after.get(alias):
            parts.append(f"fallbacks of {alias}: {', '.join(chains_after.get(alias, [])) or 'none'}")
    return "; ".join(parts) or "changed the routing settings"


@transaction.atomic
def channel_router_common_set(
    *,
    channel: Channel,
    preset: str | None,
    fallbacks: Mapping[str, Sequence[str]],
    retries: int | None,
    actor: User | None,
) -> Channel:
    """The routing settings of the Channels page's form, on any plan (not gated): `preset` sets the top-level
    policy (None: it stays), `retries` overrides it (None: the preset's, or as it is), and each alias named in
    `fallbacks` gets that chain (empty: none; aliases not named keep theirs). Checked as a `router:` block is
    (InvalidDeployment naming `router.<field>`); versioned and audited; nothing changed, nothing recorded."""
    if preset is not None and preset not in ROUTING_PRESETS:
        raise InvalidDeployment(f"One of: {', '.join(ROUTING_PRESETS)}.", param="preset")
    locked = Channel.objects.select_for_update().get(pk=channel.pk)
    aliases = set(locked.models.values_list("alias", flat=True))
    router = router_check(
        _common_router(locked.router, preset=preset, fallbacks=fallbacks, retries=retries), aliases=aliases
    )
    if router == locked.router:
        return channel
    with routing_change(channel=channel, actor=actor, summary=_common_summary(locked.router, router, preset)):
        channel.refresh_from_db(fields=["router"])
        _router_write(channel=channel, router=router, actor=actor, action="channel.router_common_set")
    return channel
