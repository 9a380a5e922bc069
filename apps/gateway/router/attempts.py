"""Steps 6 and 7 through the router: each attempt forwards the request to one deployment and relays its
answer; a transient failure before the client got a byte moves to another deployment after a backoff,
then to the fallback aliases; the last failure is the caller's answer."""

import asyncio
import random
import time
from dataclasses import dataclass, replace

import orjson

from apps.channels.router_config import RouterPolicy
from apps.channels.snapshots import DeploymentSnapshot
from apps.core.errors import HyditeError
from apps.gateway.asgi_io import JSON, Receive, Send, send_bytes
from apps.gateway.context import RequestContext
from apps.gateway.errors import DeploymentsUnavailable, UpstreamStreamBroken, UpstreamUnavailable
from apps.gateway.forward import UPSTREAM_FAILURES, LiteralHostCheck, upstream_failure, upstream_request
from apps.gateway.metering import provider_request_id
from apps.gateway.relay import relay_response, upstream_error
from apps.gateway.reservation import deployment_price
from apps.gateway.router.exchange import Exchange, exchange
from apps.gateway.router.failures import Failure, FailureKind, failure_of_exception, failure_of_status
from apps.gateway.router.outcome import Attempt, route_headers
from apps.gateway.router.plan import Route
from apps.gateway.router.state import RouterState
from apps.gateway.stream_relay import relay_stream
from apps.gateway.upstreams.base import ProviderAdapter

MAX_ATTEMPTS = 12  # however the policies and chains add up
EMPTY_STREAM = Failure(FailureKind.TRANSIENT, "empty_stream")
MOVES_ON = frozenset({FailureKind.TRANSIENT, FailureKind.DEPLOYMENT})  # to another deployment, then the fallbacks


@dataclass(slots=True)
class Failed:
    failure: Failure
    deployment_id: int = 0
    error: HyditeError | None = None  # no answer to relay: this is the caller's
    answer: Exchange | None = None  # the provider's error answer (read and released), relayed if it is the last
    adapter: ProviderAdapter | None = None  # the answer's wire format


async def forward_and_relay(
    router: RouterState, ctx: RequestContext, receive: Receive, send: Send, *, literal_check: LiteralHostCheck
) -> None:
    assert ctx.route_plan is not None  # noqa: S101 - resolved first
    plan = ctx.route_plan
    routes, index, moved = plan.routes, 0, False
    last: Failed | None = None
    ctx.provider_started = time.perf_counter()
    try:
        while index < len(routes):
            ctx.aliases_tried.append(routes[index].alias)
            last = await _through(router, ctx, routes[index], (receive, send, literal_check), last)
            if last is None:
                return
            kind = last.failure.kind
            if kind in plan.on_failure and not moved:  # a context-length or content-policy chain of its own
                routes, index, moved = plan.on_failure[kind], 0, True
                continue
            if kind not in MOVES_ON or len(ctx.attempts) >= MAX_ATTEMPTS:
                break
            index += 1
        assert last is not None  # noqa: S101 - a plan has a route
        await _answer(ctx, last, send)
    finally:
        ctx.provider_finished = time.perf_counter()


Wire = tuple[Receive, Send, LiteralHostCheck]


async def _through(
    router: RouterState, ctx: RequestContext, route: Route, wire: Wire, last: Failed | None
) -> Failed | None:
    """Up to 1 + retries attempts on the route's deployments, another one each time while there is one; a
    deployment that proved misconfigured is not tried again, and finding that out spends no retry."""
    tried: set[int] = set()
    left = route.policy["retries"] + 1
    candidates = route
    while left > 0 and len(ctx.attempts) < MAX_ATTEMPTS:
        picked = await router.pick(ctx, candidates, tried)
        if picked is None:
            return last if last is not None else _unavailable(router, ctx, route)
        deployment, probe = picked
        if any(attempt.deployment_id == deployment["id"] for attempt in ctx.attempts):  # it failed already: wait
            again = last is not None and last.deployment_id == deployment["id"]
            wait = backoff_s(route.policy, failures=len(ctx.attempts), last=last.failure if again and last else None)
            if wait is None:  # the provider asks for a longer wait than the policy allows
                return last
            await asyncio.sleep(wait)
        tried.add(deployment["id"])
        last = await _attempt(router, ctx, route, deployment, probe, wire)
        if last is None or last.failure.kind not in MOVES_ON:
            return last
        if last.failure.kind is FailureKind.DEPLOYMENT:
            remaining = [d for d in candidates.deployments if d["id"] != deployment["id"]]
            if not remaining:
                return last
            candidates = replace(candidates, deployments=remaining)
        else:
            left -= 1
    return last


def _unavailable(router: RouterState, ctx: RequestContext, route: Route) -> Failed:
    retry_after = router.retry_after_s(ctx, route)
    unavailable = DeploymentsUnavailable(
        f"Every deployment of `{route.alias}` is cooling down or at its rate limits; retry in {retry_after} s.",
        headers=[(b"retry-after", str(retry_after).encode())],
    )
    return Failed(Failure(FailureKind.TRANSIENT, "unavailable"), error=unavailable)


def backoff_s(policy: RouterPolicy, *, failures: int, last: Failure | None) -> float | None:
    """Full jitter after `failures` failures; the provider's Retry-After when `last` (the same deployment's
    failure) carries one, or None when it asks for longer than the policy waits."""
    backoff = policy["backoff"]
    ceiling_ms = min(backoff["max_ms"], backoff["base_ms"] * 2 ** min(failures - 1, 20))
    wait = random.uniform(0, ceiling_ms) / 1000  # noqa: S311 - jitter
    retry_after = last.retry_after_s if last is not None else None
    if retry_after is None:
        return wait
    return None if retry_after > policy["retry_after_max_s"] else max(wait, retry_after)


async def _attempt(
    router: RouterState, ctx: RequestContext, route: Route, deployment: DeploymentSnapshot, probe: bool, wire: Wire
) -> Failed | None:
    """One deployment: forward, and relay its answer when it has one; a Failed when there is none yet."""
    assert ctx.key is not None  # noqa: S101
    key = (ctx.key["schema"], deployment["id"])
    attempt = Attempt(deployment["id"], route.alias, deployment["provider"], deployment["upstream_model"])
    ctx.attempts.append(attempt)
    ctx.deployment = deployment
    if ctx.priced_for != deployment["id"]:  # metered where it answers
        ctx.price, ctx.price_version = deployment_price(deployment, at_ms=ctx.created_at_ms)
        ctx.priced_for = deployment["id"]
    upstream_request(ctx)
    router.health.started(key)
    started = time.perf_counter()
    tokens = 0
    try:
        receive, send, literal_check = wire
        try:
            answer = await exchange(router.session, ctx, deployment["timeouts"], literal_check=literal_check)
        except UPSTREAM_FAILURES as exc:
            failure = failure_of_exception(exc)
            attempt.outcome = failure.reason
            await router.failed(key, route, failure, probe=probe)
            return Failed(failure, deployment["id"], error=upstream_failure(exc))
        failed = await _relay(router, ctx, route, answer, probe, receive, send, started)
        tokens = ctx.usage.total_tokens if failed is None and ctx.usage is not None else 0
        return failed
    except UpstreamStreamBroken:
        attempt.outcome, attempt.billed = "stream_broken", True
        await router.failed(key, route, Failure(FailureKind.TRANSIENT, "stream_broken"), probe=False)
        raise
    finally:
        attempt.ms = round((time.perf_counter() - started) * 1000)
        router.health.done(key, tokens=tokens)


async def _relay(
    router: RouterState,
    ctx: RequestContext,
    route: Route,
    answer: Exchange,
    probe: bool,
    receive: Receive,
    send: Send,
    started: float,
) -> Failed | None:
    assert ctx.key is not None and ctx.deployment is not None  # noqa: S101
    key = (ctx.key["schema"], ctx.deployment["id"])
    attempt = ctx.attempts[-1]
    response = answer.response
    attempt.status = response.status
    try:
        if response.status >= 300 or (ctx.stream and not answer.first):
            failed = _failed_answer(ctx, answer)
            attempt.outcome = failed.failure.reason
            await router.failed(key, route, failed.failure, probe=probe)
            return failed
        await router.answered(key, seconds=time.perf_counter() - started, probe=probe)
        ctx.provider_request_id = provider_request_id(response.headers)
        ctx.headers.extend(route_headers(ctx.attempts, ctx.aliases_tried))
        if ctx.stream and response.status == 200:
            await relay_stream(response, answer.first, receive, send, ctx)
        else:
            await relay_response(response.status, answer.first, send, ctx)
    finally:
        response.release()
    return None


def _failed_answer(ctx: RequestContext, answer: Exchange) -> Failed:
    assert ctx.adapter is not None and ctx.deployment is not None  # noqa: S101
    response = answer.response
    deployment_id = ctx.deployment["id"]
    if 300 <= response.status < 400:
        refused = UpstreamUnavailable("The model provider answered with a redirect; the gateway does not follow them.")
        return Failed(Failure(FailureKind.DEPLOYMENT, "redirect", response.status), deployment_id, error=refused)
    if response.status < 300:  # a stream that ended before its first event
        ended = UpstreamUnavailable("The model provider's stream ended before its first event.")
        return Failed(EMPTY_STREAM, deployment_id, error=ended)
    _, error = upstream_error(ctx.adapter, response.status, answer.first)
    failure = failure_of_status(response.status, error, response.headers)
    return Failed(failure, deployment_id, answer=answer, adapter=ctx.adapter)


async def _answer(ctx: RequestContext, last: Failed, send: Send) -> None:
    """The caller's answer when no attempt succeeded: the last provider error, in OpenAI's shape."""
    if last.error is not None or last.answer is None or last.adapter is None:
        raise last.error or UpstreamUnavailable()
    upstream_status = last.answer.response.status
    status, error = upstream_error(last.adapter, upstream_status, last.answer.first)
    ctx.error_code = str(error.get("code") or error["type"])
    headers = [JSON, *ctx.headers, *route_headers(ctx.attempts, ctx.aliases_tried)]
    if last.failure.retry_after_s is not None and status == 429:
        headers.append((b"retry-after", str(max(1, round(last.failure.retry_after_s))).encode()))
    if ctx.dialect is None:
        body = orjson.dumps({"error": error})
    else:
        status, body = ctx.dialect.upstream_error(status, error, upstream_status=upstream_status)
    await send_bytes(send, status, body, headers)
