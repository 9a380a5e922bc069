import difflib

from apps.channels.models import Channel, RoutingVersion
from apps.channels.router_policy import POLICY_KEYS, ROUTING_PRESETS
from apps.core.errors import NotFound
from apps.core.schemas import current_schema
from apps.orgs.access import OrgAccess
from apps.tenancy.models import Instance, InstanceTier
from apps.tenancy.selectors import instance_get_by_schema


def access_channel_by_slug(*, access: OrgAccess, channel_slug: str) -> Channel:
    """The organisation's channel (another organisation's: NotFound, like a channel that does not exist)."""
    channel = Channel.objects.filter(organization=access.organization, slug=channel_slug).first()
    if channel is None:
        raise NotFound("Channel not found.")
    return channel


def routing_yaml_allowed(*, instance: Instance) -> bool:
    """Whether the instance's plan writes routing as code (a `router:` block); other plans choose a preset."""
    return instance.tier == InstanceTier.ENTERPRISE


def routing_yaml_allowed_here() -> bool:
    """routing_yaml_allowed for the instance the connection works in."""
    instance = instance_get_by_schema(schema_name=current_schema())
    return instance is not None and routing_yaml_allowed(instance=instance)


def channel_router_preset(*, channel: Channel) -> str | None:
    """The preset whose settings are the channel's top-level policy, if one is."""
    policy = {key: value for key, value in channel.router.items() if key in POLICY_KEYS}
    return next((name for name, preset in ROUTING_PRESETS.items() if preset == policy), None)


def routing_versions(*, channel: Channel) -> list[RoutingVersion]:
    """The channel's routing versions, newest first."""
    return list(channel.routing_versions.select_related("author").order_by("-number"))


def routing_version_summaries(*, channel: Channel, limit: int) -> tuple[list[RoutingVersion], int]:
    """The channel's newest `limit` versions without their documents (newest first), and how many it has."""
    versions = channel.routing_versions.select_related("author").defer("document").order_by("-number")
    return list(versions[:limit]), channel.routing_versions.count()


def routing_version_diff(*, version: RoutingVersion) -> str:
    """A unified diff of the version's document against the version before it (the first: against nothing)."""
    previous = version.channel.routing_versions.filter(number__lt=version.number).order_by("-number").first()
    lines = difflib.unified_diff(
        previous.document.splitlines(keepends=True) if previous is not None else [],
        version.document.splitlines(keepends=True),
        fromfile=f"v{previous.number}" if previous is not None else "(none)",
        tofile=f"v{version.number}",
    )
    return "".join(lines)
