"""Where a request may go: its alias's deployments carrying the requested tags, then its fallback aliases,
each with its resolved policy (see apps.channels.router_config)."""

from dataclasses import dataclass, field

from apps.channels.router_config import RouterPolicy, RouterSnapshot
from apps.channels.snapshots import ChannelSnapshot, DeploymentSnapshot
from apps.gateway.asgi_io import Scope, header
from apps.gateway.errors import ModelNotFound, NoDeploymentForTags
from apps.gateway.quota import model_refusal
from apps.gateway.router.failures import FailureKind
from apps.keys.snapshots import KeySnapshot

TAGS_HEADER = b"x-hydite-tags"
SESSION_HEADER = b"x-hydite-session-id"
MAX_REQUESTED_TAGS = 32
QUOTED_TAG_MAX = 64  # a deployment's tags are no longer: a refusal quotes no more of a requested one
Tags = tuple[frozenset[str], ...]  # stages: a deployment carries a tag of each (see requested_tags)
NO_TAGS: Tags = ()


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    deployments: list[DeploymentSnapshot]
    policy: RouterPolicy


@dataclass(frozen=True, slots=True)
class RoutePlan:
    routes: list[Route]  # the alias first, then its fallbacks
    tags: Tags = NO_TAGS
    # where a context-length or content-policy failure of the alias moves to (a chain of its own)
    on_failure: dict[FailureKind, list[Route]] = field(default_factory=dict)

    def deployments(self) -> list[DeploymentSnapshot]:
        """Every deployment the request may end at, whatever fails (what its reservation must cover)."""
        if len(self.routes) == 1 and not self.on_failure:
            return self.routes[0].deployments
        routes = [*self.routes, *(route for chain in self.on_failure.values() for route in chain)]
        return [deployment for route in routes for deployment in route.deployments]


def route_plan(key: KeySnapshot, channel: ChannelSnapshot, alias: str, scope: Scope) -> RoutePlan:
    """The alias's route (ModelNotFound, ModelNotAllowed, NoDeploymentForTags) and its fallbacks' (those
    the key may call, with a deployment carrying a requested tag)."""
    deployments = channel["models"].get(alias)
    if not deployments:
        raise ModelNotFound(f"The model `{alias}` does not exist or you do not have access to it.", param="model")
    refusal = model_refusal(key, alias)
    if refusal is not None:
        raise refusal
    router = channel["router"]
    tags = requested_tags(router, scope, key)
    tagged = _tagged(deployments, tags)
    if not tagged:
        listed = " and ".join("any of " + ", ".join(sorted(tag[:QUOTED_TAG_MAX] for tag in stage)) for stage in tags)
        raise NoDeploymentForTags(f"No deployment of `{alias}` carries the requested tags ({listed}).")
    primary = Route(alias, tagged, router["aliases"].get(alias, router["default"]))
    fallbacks = router["fallbacks"].get(alias)
    routes = [primary, *_routes(fallbacks, key, channel, router, tags)] if fallbacks else [primary]
    on_failure = {}
    for kind, chains in (
        (FailureKind.CONTEXT_WINDOW, router["context_window_fallbacks"]),
        (FailureKind.CONTENT_POLICY, router["content_policy_fallbacks"]),
    ):
        if alias in chains:
            on_failure[kind] = _routes(chains[alias], key, channel, router, tags)
    return RoutePlan(routes, tags, on_failure) if tags or on_failure else RoutePlan(routes)


def _routes(
    aliases: list[str], key: KeySnapshot, channel: ChannelSnapshot, router: RouterSnapshot, tags: Tags
) -> list[Route]:
    """The routes of fallback aliases the key may call and that have a deployment for the tags."""
    routes = []
    for alias in aliases:
        deployments = _tagged(channel["models"].get(alias) or [], tags)
        if deployments and model_refusal(key, alias) is None:
            routes.append(Route(alias, deployments, router["aliases"].get(alias, router["default"])))
    return routes


def _tagged(deployments: list[DeploymentSnapshot], tags: Tags) -> list[DeploymentSnapshot]:
    for stage in tags:
        deployments = [deployment for deployment in deployments if not stage.isdisjoint(deployment["tags"])]
    return deployments


def requested_tags(router: RouterSnapshot, scope: Scope, key: KeySnapshot) -> tuple[frozenset[str], ...]:
    """What a deployment must carry, stage by stage (any tag of each stage): first the channel's and the key's
    tags (the operator's: a client cannot route around them), then the request's X-Hydite-Tags and those of
    the header rules it matches (which can only narrow the first)."""
    raw = header(scope, TAGS_HEADER)
    if not raw and not router["tags"] and not router["rules"] and not key.get("tags"):
        return NO_TAGS
    granted = set(router["tags"])
    if "tags" in key:
        granted.update(key["tags"])
    asked: set[str] = set()
    if raw:
        asked.update(tag.strip() for tag in raw.decode("latin-1").split(",")[:MAX_REQUESTED_TAGS] if tag.strip())
    for rule in router["rules"]:
        value = header(scope, rule["header"].lower().encode())
        if value is not None and value.decode("latin-1").strip().lower() == rule["equals"].lower():
            asked.update(rule["tags"])
    return tuple(frozenset(stage) for stage in (granted, asked) if stage)


def session_of(scope: Scope, body: dict[str, object]) -> str:
    """What sticky routing keeps together: X-Hydite-Session-Id, else the body's `user`."""
    raw = header(scope, SESSION_HEADER)
    if raw:
        return raw.decode("latin-1")[:200]
    user = body.get("user")
    return user[:200] if isinstance(user, str) else ""


def callable_aliases(key: KeySnapshot, channel: ChannelSnapshot) -> list[str]:
    """The aliases /v1/models lists: those with a deployment that the key's model lists allow."""
    return [
        alias
        for alias, deployments in sorted(channel["models"].items())
        if deployments and model_refusal(key, alias) is None
    ]
