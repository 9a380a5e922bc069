"""Step 5, admit: reserve the request's bound on every quota layer of its key (rate windows, budgets,
wallet), and give a stream the allowance that extends its reservation while it runs."""

from django.conf import settings

from apps.gateway.context import RequestContext
from apps.gateway.quota import QuotaPlan, Quotas, StreamAllowance
from apps.gateway.reservation import reserved_micros


async def admit(ctx: RequestContext, plan: QuotaPlan, *, quotas: Quotas) -> None:
    """Refuse (429 with the layer's headers) or reserve; the rate headers join the response's."""
    assert ctx.key is not None and ctx.reserved is not None  # noqa: S101 - authenticated and priced first
    ctx.admission = await quotas.admit(
        ctx.key, plan, request_id=ctx.request_id, tokens=ctx.reserved.total_tokens, micros=reserved_micros(ctx)
    )
    ctx.headers.extend(ctx.admission.headers)
    if ctx.stream and ctx.admission.held and any(layer.tpm or layer.budget for layer in plan.layers):
        ctx.allowance = stream_allowance(ctx, plan, quotas=quotas)


def stream_allowance(ctx: RequestContext, plan: QuotaPlan, *, quotas: Quotas) -> StreamAllowance:
    assert ctx.key is not None and ctx.reserved is not None  # noqa: S101
    block = settings.GATEWAY_STREAM_EXTEND_TOKENS
    block_micros = ctx.price.cost_micros(prompt_tokens=0, completion_tokens=block, requests=0) if ctx.price else 0
    return StreamAllowance(
        quotas,
        ctx.key,
        plan,
        request_id=ctx.request_id,
        completion_tokens=ctx.reserved.completion_tokens,
        block_tokens=block,
        block_micros=block_micros,
    )
