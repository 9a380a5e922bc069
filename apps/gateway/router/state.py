"""The router's process-wide part: deployment health (here and shared), and the choice of a deployment."""

import time

import aiohttp

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.context import RequestContext
from apps.gateway.reservation import reserved_cost_at
from apps.gateway.router.failures import Failure
from apps.gateway.router.health import DeploymentKey, Health
from apps.gateway.router.plan import Route, session_of
from apps.gateway.router.shared import SharedHealth
from apps.gateway.router.strategies import choose, headroom

PROBE_TTL_S = 60.0  # a probe that has not answered by then no longer holds the deployment's traffic back
RETRY_AFTER_COOLDOWN_MAX_S = 300.0


class RouterState:
    def __init__(self, session: aiohttp.ClientSession, health: Health, shared: SharedHealth) -> None:
        self.session, self.health, self.shared = session, health, shared

    async def pick(self, ctx: RequestContext, route: Route, tried: set[int]) -> tuple[DeploymentSnapshot, bool] | None:
        """A deployment of the route for the next attempt, and whether it is the probe of an ended cooldown;
        None when every one is cooling down or at its caps. Another than those tried while there is one."""
        assert ctx.key is not None  # noqa: S101
        schema = ctx.key["schema"]
        candidates = route.deployments
        # a route's only deployment never cools down (there would be nowhere else to go); caps still hold
        cooling = bool(self.health.cooling) and len(candidates) > 1
        if cooling or any(d["rpm"] or d["tpm"] for d in candidates):
            candidates, probe = await self._available(schema, candidates, tried, cooling=cooling)
            if probe is not None:
                return probe, True
        if tried:  # the untried first; when every available one was tried, one of them again
            candidates = [d for d in candidates if d["id"] not in tried] or candidates
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0], False
        strategy = route.policy["strategy"]
        session = session_of(ctx.scope, ctx.body) if strategy == "sticky" else ""
        chosen = choose(
            strategy,
            candidates,
            health=self.health,
            schema=schema,
            cost_of=lambda deployment: reserved_cost_at(ctx, deployment),
            session=session,
        )
        return chosen, False

    async def _available(
        self, schema: str, deployments: list[DeploymentSnapshot], tried: set[int], *, cooling: bool
    ) -> tuple[list[DeploymentSnapshot], DeploymentSnapshot | None]:
        """The deployments neither cooling down nor at their caps; or one whose cooldown ended, when this
        request is its probe (an untried one first)."""
        now_ms = int(time.time() * 1000)
        available = []
        for deployment in sorted(deployments, key=lambda d: d["id"] in tried):
            key = (schema, deployment["id"])
            ends = self.health.cooling.get(key) if cooling else None
            if ends is not None:
                if ends <= now_ms and await self.shared.claim_probe(key, ttl_s=PROBE_TTL_S):
                    return [], deployment
                continue
            if (deployment["rpm"] or deployment["tpm"]) and headroom(deployment, self.health, schema) <= 0:
                continue
            available.append(deployment)
        return available, None

    async def failed(self, key: DeploymentKey, route: Route, failure: Failure, *, probe: bool) -> None:
        """Count a failure toward the deployment's cooldown (an alias's only deployment never cools down:
        there would be nowhere else to go)."""
        self.health.answered(key, seconds=0.0, ok=False)
        if not failure.counts_for_cooldown or len(route.deployments) < 2:
            if probe and failure.status:  # it answered (a context-length error, a bad request…): it is up
                await self.shared.recovered(key)
            return
        cooldown = route.policy["cooldown"]
        seconds = float(cooldown["seconds"])
        if failure.status == 429 and failure.retry_after_s is not None:
            seconds = max(seconds, min(failure.retry_after_s, RETRY_AFTER_COOLDOWN_MAX_S))
        await self.shared.failure(
            key,
            threshold=cooldown["failures"],
            window_s=cooldown["window_s"],
            cooldown_s=seconds,
            force=probe or failure.status == 429,
        )

    async def answered(self, key: DeploymentKey, *, seconds: float, probe: bool) -> None:
        self.health.answered(key, seconds=seconds, ok=True)
        if probe:
            await self.shared.recovered(key)

    def retry_after_s(self, ctx: RequestContext, route: Route) -> int:
        """Seconds until the first of the route's cooldowns ends (at least 1)."""
        assert ctx.key is not None  # noqa: S101
        now_ms = int(time.time() * 1000)
        ends = [self.health.cooling.get((ctx.key["schema"], d["id"]), 0) for d in route.deployments]
        pending = [end - now_ms for end in ends if end > now_ms]
        return max(1, -(-min(pending) // 1000)) if pending else 1
