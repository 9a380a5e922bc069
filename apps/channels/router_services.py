"""A channel's router settings: set from the dashboard's form or a YAML `router:` block, or from a preset."""

from collections.abc import Mapping
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
