"""Step 8, settle and meter: what the request used (as reported, if a provider could have reported it),
its spend event, and the settlements that move its reservations to what it used."""

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from apps.gateway.asgi_io import Scope, header
from apps.gateway.context import RequestContext
from apps.gateway.errors import UpstreamUsageInvalid
from apps.gateway.quota import Correction, Quotas, Settlement
from apps.gateway.usage import ImpossibleUsage, Usage, usage_check
from apps.providers.prices import price_sheet

logger = logging.getLogger("hydite.gateway.usage")

# The response headers carrying the provider's own id of a request: OpenAI and the OpenAI-compatible
# servers, Anthropic, Azure OpenAI. Finance matches the ledger against provider invoices with it.
PROVIDER_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id")
PROVIDER_REQUEST_ID_MAX = 128
FEATURE_ID_MAX = 100


def usage_checked(ctx: RequestContext, usage: Usage | None) -> Usage | None:
    """`usage` as reported, if a provider could have reported it for this request; ImpossibleUsage if not."""
    if usage is not None and ctx.reserved is not None:
        usage_check(
            usage,
            prompt_bound=ctx.reserved.prompt_tokens,
            completion_bound=ctx.reserved.completion_tokens if ctx.completion_capped else None,
            images=ctx.shape.images if ctx.shape is not None else 0,
        )
    return usage


def bill_reservation(ctx: RequestContext, problem: ImpossibleUsage) -> None:
    """An impossible report is an upstream error billed at the request's reservation, flagged for operators."""
    ctx.usage = ctx.reserved or Usage(estimated=True)
    ctx.fail(UpstreamUsageInvalid.status, UpstreamUsageInvalid.code)
    deployment = ctx.deployment
    provider = f"{deployment['provider']}/{deployment['upstream_model']}" if deployment else ""
    logger.warning(
        "impossible usage from %s, billed at the reservation (request_id=%s): %s", provider, ctx.request_id, problem
    )


def settlements(ctx: RequestContext) -> Iterator[Settlement | Correction]:
    """What settles each of the request's admissions: a stream's extensions are filled in order with the
    real usage; the last takes what is left."""
    assert ctx.admission is not None  # noqa: S101
    tokens = ctx.usage.total_tokens if ctx.usage is not None else 0
    micros = ctx.cost_micros() or 0
    admissions = [ctx.admission, *ctx.extensions]
    for number, admission in enumerate(admissions, start=1):
        last = number == len(admissions)
        share_tokens = tokens if last else min(tokens, admission.tokens)
        share_micros = micros if last else min(micros, admission.micros)
        tokens, micros = tokens - share_tokens, micros - share_micros
        yield Quotas.settlement(admission, tokens=share_tokens, micros=share_micros)


def spend_event(ctx: RequestContext) -> dict[str, Any]:
    """The request's row of the spend ledger, as the spend stream carries it."""
    key = ctx.key
    assert key is not None  # noqa: S101 - only authenticated requests are metered
    usage = ctx.usage or Usage()
    deployment = ctx.deployment
    upstream_model = deployment["upstream_model"] if deployment else ""
    cost = ctx.cost_micros()
    total_ms, provider_ms = _latencies_ms(ctx)
    return {
        "request_id": ctx.request_id,
        "created_at_ms": ctx.created_at_ms,
        "schema": key["schema"],
        "organization_id": key["organization_id"],
        "team_id": key["team_id"],
        "user_id": key["user_id"],
        "key_id": key["id"],
        "channel_id": key["channel_id"],
        "model_alias": ctx.model_alias,
        "model_resolved": upstream_model,
        "provider": deployment["provider"] if deployment else "",
        "provider_request_id": ctx.provider_request_id,
        "feature_id": ctx.feature_id,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_write_1h_tokens": usage.cache_write_1h_tokens,
        "usage_estimated": usage.estimated,
        "cost_micros": cost or 0,
        "priced": cost is not None or usage.total_tokens == 0,
        "price_version": ctx.price_version or price_sheet().version,
        "latency_gateway_ms": max(0, round(total_ms - provider_ms)),
        "latency_provider_ms": round(provider_ms),
        "status_code": ctx.status_code or 200,
        "error_code": ctx.error_code,
        "stream": ctx.stream,
        "cache_hit": False,
        "saved_micros": 0,
        **_routing(ctx),
    }


def _routing(ctx: RequestContext) -> dict[str, Any]:
    """Where the request went: the strategy, the deployment that answered (or failed last), each attempt,
    and the aliases tried (the one asked for first)."""
    route = ctx.route_plan.routes[0] if ctx.route_plan is not None else None
    answered = ctx.attempts[-1].alias if ctx.attempts else ""
    return {
        "routing_strategy": route.policy["strategy"] if route is not None else "",
        "deployment_id": ctx.deployment["id"] if ctx.deployment is not None and ctx.attempts else None,
        "attempts": [attempt.record() for attempt in ctx.attempts],
        "fallback_used": bool(answered) and answered != ctx.aliases_tried[0],
        "fallback_position": ctx.aliases_tried.index(answered) if answered in ctx.aliases_tried else 0,
        "fallback_chain": list(ctx.aliases_tried),
    }


def _latencies_ms(ctx: RequestContext) -> tuple[float, float]:
    """The request's time in all and the provider's part of it."""
    provider_ms = 0.0
    if ctx.provider_started is not None and ctx.provider_finished is not None:
        provider_ms = (ctx.provider_finished - ctx.provider_started) * 1000
    return (time.perf_counter() - ctx.started) * 1000, provider_ms


def provider_request_id(headers: Mapping[str, str]) -> str:
    for name in PROVIDER_REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return _printable(value)[:PROVIDER_REQUEST_ID_MAX]
    return ""


def feature_id(scope: Scope) -> str:
    """The caller's X-Feature-Id (which product surface spent the tokens), cut to what the ledger keeps."""
    raw = header(scope, b"x-feature-id")
    return _printable(raw.decode("latin-1"))[:FEATURE_ID_MAX] if raw else ""


def _printable(value: str) -> str:
    value = value.strip()
    return value if value.isprintable() else "".join(char for char in value if char.isprintable())
