"""The Channels page's dry run: where sample requests would go now, decided by the gateway's own router
(apps.gateway.router.plan.route_plan and strategies.choose) over the channel's snapshot as channel_snapshot_build
makes it and the deployments' health as the gateway processes share it. Nothing is sent, claimed or counted.

The samples route as a key with no model lists or tags of its own would. What a dry run cannot know exactly:
a weighted or exploring choice is one draw; `latency` reads the percentiles summed over the processes (each
process routes on its own); `cost` prices a request of DRY_RUN_PROMPT_TOKENS and the default completion.
"""

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from apps.channels.models import Channel
from apps.channels.router_config import RouterPolicy
from apps.channels.routing_health import RoutingHealth, routing_health_read
from apps.channels.snapshots import ChannelSnapshot, DeploymentSnapshot, channel_snapshot_build
from apps.core.errors import HyditeError, NotFound
from apps.core.schemas import current_schema
from apps.gateway.asgi_io import Scope
from apps.gateway.reservation import completion_default, deployment_price
from apps.gateway.router.failures import FailureKind
from apps.gateway.router.health import DeploymentStats, Health, Usage
from apps.gateway.router.plan import SESSION_HEADER, TAGS_HEADER, Route, route_plan, session_of
from apps.gateway.router.strategies import choose, headroom
from apps.keys.models import KeyStatus
from apps.keys.snapshots import KEY_SNAPSHOT_VERSION, KeyLayers, KeySnapshot
from apps.quotas.limits import LayerLimits

DRY_RUN_SAMPLES_MAX = 5
DRY_RUN_PROMPT_TOKENS = 1_000
FAILURE_LABELS = {FailureKind.CONTEXT_WINDOW: "context window", FailureKind.CONTENT_POLICY: "content policy"}


@dataclass(frozen=True)
class DryRunSample:
    alias: str
    tags: str = ""  # X-Hydite-Tags, as a client sends it
    headers: Mapping[str, str] = field(default_factory=dict)  # header name (lower case) -> value, for the rules
    session: str = ""  # X-Hydite-Session-Id (the body's `user` takes its place when absent)


@dataclass(frozen=True)
class RouteOutcome:
    alias: str
    policy: RouterPolicy
    candidates: list[DeploymentSnapshot]  # the alias's active deployments carrying a requested tag
    cooling: list[tuple[DeploymentSnapshot, dt.datetime]]  # skipped until then
    awaiting_probe: list[DeploymentSnapshot]  # cooldown ended: the next request to reach it is its probe
    at_cap: list[DeploymentSnapshot]  # at its rpm/tpm this minute
    pick: DeploymentSnapshot | None  # what the strategy picks among the others now; None: none left

    @property
    def probe(self) -> DeploymentSnapshot | None:
        """Where the gateway sends the request first, unless another request is probing it already."""
        return self.awaiting_probe[0] if self.awaiting_probe else None


@dataclass(frozen=True)
class DryRunResult:
    sample: DryRunSample
    error: str | None = None  # why the gateway would refuse it, in words
    tags: list[str] = field(default_factory=list)  # every requested tag (channel, request, rules)
    routes: list[RouteOutcome] = field(default_factory=list)  # the alias, then its fallbacks
    on_failure: list[tuple[str, list[str]]] = field(default_factory=list)  # ("context window", [aliases])


@dataclass(frozen=True)
class DryRunReport:
    results: list[DryRunResult]
    health_known: bool  # False: Redis unreachable, cooldowns and loads unknown (all taken as healthy)


def _key(channel: Channel, schema: str) -> KeySnapshot:
    """A key of the channel without model lists, limits or tags of its own."""
    return KeySnapshot(
        version=KEY_SNAPSHOT_VERSION,
        id=0,
        schema=schema,
        organization_id=channel.organization_id,
        team_id=0,
        user_id=None,
        channel_id=channel.pk,
        status=KeyStatus.ACTIVE,
        expires_at_ms=None,
        shared_instance=False,
        limits=KeyLayers(key=LayerLimits(), team=LayerLimits(), org=LayerLimits()),
        tier="",
        plan_caps=None,
    )


def _scope(sample: DryRunSample) -> Scope:
    """The request's headers as ASGI carries them (a client's UTF-8 is read as Latin-1, as by the gateway)."""
    headers = [(name.lower().encode(), value.encode()) for name, value in sample.headers.items()]
    if sample.tags:
        headers.append((TAGS_HEADER, sample.tags.encode()))
    if sample.session:
        headers.append((SESSION_HEADER, sample.session.encode()))
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}


def _gateway_health(health: RoutingHealth | None, schema: str) -> Health:
    """The gateway's Health as a process that had seen every process's counters would hold it."""
    gateway = Health()
    if health is None:
        return gateway
    gateway.cooling = {(schema, deployment_id): ends for deployment_id, ends in health.cooldowns.items()}
    for deployment_id, load in health.loads.items():
        key = (schema, deployment_id)
        gateway.others[key] = Usage(load.inflight, load.minute, load.requests, load.tokens)
        if load.p95_ms is not None and load.p50_ms is not None:
            # read as measured: since_recompute 0 keeps percentiles() from recomputing over no samples
            gateway.stats[key] = DeploymentStats(p50_s=load.p50_ms / 1000, p95_s=load.p95_ms / 1000, since_recompute=0)
    return gateway


def _cost_of(now_ms: int) -> Callable[[DeploymentSnapshot], int | None]:
    completion_tokens = completion_default("/chat/completions")

    def cost_of(deployment: DeploymentSnapshot) -> int | None:
        price = deployment_price(deployment, at_ms=now_ms)[0]
        if price is None:
            return None
        return price.cost_micros(prompt_tokens=DRY_RUN_PROMPT_TOKENS, completion_tokens=completion_tokens)

    return cost_of


@dataclass(frozen=True)
class _Now:
    schema: str
    health: Health
    now_ms: int
    session: str


def _outcome(route: Route, now: _Now) -> RouteOutcome:
    """The route's deployments sorted as RouterState.pick sorts them for a first attempt, and its choice."""
    cooling, awaiting, at_cap, available = [], [], [], []
    for deployment in route.deployments:
        ends = now.health.cooling.get((now.schema, deployment["id"]))
        if ends is not None and ends > now.now_ms:
            cooling.append((deployment, dt.datetime.fromtimestamp(ends / 1000, tz=dt.UTC)))
        elif ends is not None:
            awaiting.append(deployment)
        elif (deployment["rpm"] or deployment["tpm"]) and headroom(deployment, now.health, now.schema) <= 0:
            at_cap.append(deployment)
        else:
            available.append(deployment)
    pick = None
    if available:
        pick = choose(
            route.policy["strategy"],
            available,
            health=now.health,
            schema=now.schema,
            cost_of=_cost_of(now.now_ms),
            session=now.session,
        )
    return RouteOutcome(route.alias, route.policy, route.deployments, cooling, awaiting, at_cap, pick)


def _result(sample: DryRunSample, *, key: KeySnapshot, snapshot: ChannelSnapshot, now: _Now) -> DryRunResult:
    scope = _scope(sample)
    try:
        plan = route_plan(key, snapshot, sample.alias, scope)
    except HyditeError as exc:
        return DryRunResult(sample, error=exc.message)
    now = replace(now, session=session_of(scope, {}))
    return DryRunResult(
        sample,
        tags=sorted({tag for stage in plan.tags for tag in stage}),
        routes=[_outcome(route, now) for route in plan.routes],
        on_failure=[
            (FAILURE_LABELS[kind], [route.alias for route in chain]) for kind, chain in plan.on_failure.items()
        ],
    )


def routing_dry_run(*, channel: Channel, samples: Sequence[DryRunSample]) -> DryRunReport:
    """Where each sample (at most DRY_RUN_SAMPLES_MAX) would go now; a refusal is its result's `error`."""
    snapshot = channel_snapshot_build(channel_id=channel.pk)
    if snapshot is None:
        raise NotFound("Channel not found.")
    schema = current_schema()
    deployment_ids = {deployment["id"] for deployments in snapshot["models"].values() for deployment in deployments}
    health = routing_health_read(schema=schema, deployment_ids=deployment_ids)
    now_ms = health.now_ms if health is not None else int(time.time() * 1000)
    now = _Now(schema=schema, health=_gateway_health(health, schema), now_ms=now_ms, session="")
    key = _key(channel, schema)
    results = [_result(sample, key=key, snapshot=snapshot, now=now) for sample in samples[:DRY_RUN_SAMPLES_MAX]]
    return DryRunReport(results=results, health_known=health is not None)
