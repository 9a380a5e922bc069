"""Step 4, price: what the deployment charges, and the most the request can use (what admission reserves
and what an impossible usage report is billed at)."""

from django.conf import settings

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.context import RequestContext
from apps.gateway.request_shape import RequestShape
from apps.gateway.upstreams.azure import COMPLETION_TOKENS_SINCE, api_version
from apps.gateway.usage import MAX_REPORTED_TOKENS, Usage
from apps.providers.prices import ModelPrice, override_in_force, price_sheet

# What a request that sets no completion limit is reserved (and, when it spends a budget, capped at) per
# choice: OpenAI's documented default for the legacy completions, the configured default for chat.
COMPLETIONS_DEFAULT_MAX_TOKENS = 16


def deployment_price(deployment: DeploymentSnapshot | None, *, at_ms: int) -> tuple[ModelPrice | None, str]:
    """A deployment's price at a moment: its upstream model on the sheet in force, or the staff override
    in force for it (carried in the channel snapshot); and the price version a ledger row records."""
    sheet = price_sheet()
    if deployment is None:
        return None, sheet.version
    override = override_in_force(deployment["price_overrides"], at_ms=at_ms)
    return sheet.price(deployment["upstream_model"], override), sheet.version_with(override)


def completion_default(path: str) -> int:
    return COMPLETIONS_DEFAULT_MAX_TOKENS if path == "/completions" else settings.GATEWAY_DEFAULT_RESERVE_TOKENS


def completion_cap_parameter(deployment: DeploymentSnapshot, path: str) -> str:
    """The parameter that limits a completion: the o-series take only max_completion_tokens on OpenAI and on
    Azure's API versions that know it; other servers (and the legacy completions) know max_tokens."""
    if path != "/chat/completions":
        return "max_tokens"
    if deployment["provider"] == "openai":
        return "max_completion_tokens"
    if deployment["provider"] == "azure":
        return "max_completion_tokens" if api_version(deployment) >= COMPLETION_TOKENS_SINCE else "max_tokens"
    return "max_tokens"


def price_request(ctx: RequestContext) -> None:
    """The reservation's price: of the deployments the request may end at (its alias's and its fallbacks'),
    the one at which it would cost the most. The request is metered at the one that answers."""
    assert ctx.route_plan is not None  # noqa: S101 - resolved first
    deployments = ctx.route_plan.deployments()
    ctx.price, ctx.price_version = deployment_price(deployments[0], at_ms=ctx.created_at_ms)
    ctx.priced_for = deployments[0]["id"]
    if len(deployments) == 1:
        return
    dearest = reserved_micros(ctx)
    for deployment in deployments[1:]:
        price, version = deployment_price(deployment, at_ms=ctx.created_at_ms)
        cost = _reserved_cost(ctx, price)
        if cost is not None and (ctx.price is None or cost > dearest):
            ctx.price, ctx.price_version, dearest = price, version, cost
            ctx.priced_for = deployment["id"]


def reserved_cost_at(ctx: RequestContext, deployment: DeploymentSnapshot) -> int | None:
    """What the request's reservation costs at a deployment's price (None: no price)."""
    return _reserved_cost(ctx, deployment_price(deployment, at_ms=ctx.created_at_ms)[0])


def _reserved_cost(ctx: RequestContext, price: ModelPrice | None) -> int | None:
    if price is None or ctx.reserved is None:
        return None
    reserved = ctx.reserved
    # every prompt token at the dearest prompt price: a cache write costs more than input (Anthropic: up to 2x)
    return price.bound_micros(prompt_tokens=reserved.prompt_tokens, completion_tokens=reserved.completion_tokens)


def reserve(ctx: RequestContext, shape: RequestShape, *, budgeted: bool) -> None:
    """Bound what the request can use.

    A non-streamed request that spends a budget and sets no limit is sent with ours, so that what it
    reserves bounds what it can cost; a stream keeps its length and is bounded as it goes (StreamAllowance).
    """
    default = completion_default(ctx.path)
    cap = shape.completion_tokens is None and shape.choices > 0 and budgeted and not ctx.stream
    # a report above MAX_REPORTED_TOKENS is refused (billed at the reservation): more is never reserved, which
    # also keeps the window counters exact (2,048 prompts x n 128 x max_tokens 2**31-1 would be 5.6e14 tokens)
    prompt = min(shape.prompt_tokens, MAX_REPORTED_TOKENS)
    completion = min(shape.completion_bound(default), MAX_REPORTED_TOKENS)
    ctx.reserved = Usage(prompt, completion, prompt + completion, estimated=True)
    ctx.completion_capped = cap or shape.completion_tokens is not None
    ctx.completion_cap = default if cap else None


def reserved_micros(ctx: RequestContext) -> int:
    """The reservation's cost (0: the model has no price)."""
    return _reserved_cost(ctx, ctx.price) or 0
