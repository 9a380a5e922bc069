from decimal import Decimal

from django.core.paginator import Paginator
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.core.errors import NotFound, PermissionDenied
from apps.orgs.access import access_organization_by_slug
from apps.orgs.selectors import organization_list_for_user
from apps.spend.forms import SpendLogQueryForm
from apps.spend.models import SpendLog
from apps.spend.selectors import SpendFilters, spend_log_list

MICROS_PER_USD = Decimal(1_000_000)


def _error(status: int, message: str, code: str, param: str | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, status=status
    )


def _row(log: SpendLog) -> dict[str, object]:
    return {
        "request_id": log.request_id,
        "created_at": log.created_at.isoformat(),
        "organization_id": log.organization_id,
        "team_id": log.team_id,
        "user_id": log.user_id,
        "key_id": log.key_id,
        "channel_id": log.channel_id,
        "model_alias": log.model_alias,
        "model_resolved": log.model_resolved,
        "provider": log.provider,
        "usage": {
            "prompt_tokens": log.prompt_tokens,
            "completion_tokens": log.completion_tokens,
            "total_tokens": log.total_tokens,
            "estimated": log.usage_estimated,
        },
        "cost_micros": log.cost_micros,
        "cost_usd": str(Decimal(log.cost_micros) / MICROS_PER_USD),
        "priced": log.priced,
        "price_version": log.price_version,
        "latency_ms": {"gateway": log.latency_gateway_ms, "provider": log.latency_provider_ms},
        "status_code": log.status_code,
        "error_code": log.error_code,
        "stream": log.stream,
        "cache_hit": log.cache_hit,
        "fallback_used": log.fallback_used,
        "fallback_chain": log.fallback_chain,
    }


@require_GET
def spend_logs_view(request: HttpRequest) -> JsonResponse:
    """GET /spend/logs: the ledger of one organisation as JSON (filters: key, team, model, dates; paginated)."""
    if not request.user.is_authenticated:
        return _error(401, "Log in first.", "not_authenticated")
    form = SpendLogQueryForm(request.GET)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        return _error(400, f"{field}: {errors[0]}", "invalid_parameter", param=field)
    query = form.cleaned_data
    slug = query["organization"] or next(
        (org.slug for org in organization_list_for_user(user=request.user)),
        "",
    )
    try:
        access = access_organization_by_slug(user=request.user, slug=slug)
    except (NotFound, PermissionDenied) as exc:
        return _error(exc.status, exc.message, exc.code, param="organization")
    filters = SpendFilters(
        key_id=query["key_id"], team_id=query["team_id"], model=query["model"], start=query["start"], end=query["end"]
    )
    logs = spend_log_list(organization_id=access.organization.pk, filters=filters)
    page = Paginator(logs, query["page_size"] or 100).get_page(query["page"] or 1)
    return JsonResponse(
        {
            "object": "list",
            "organization": access.organization.slug,
            "data": [_row(log) for log in page],
            "page": page.number,
            "pages": page.paginator.num_pages,
            "has_next": page.has_next(),
        }
    )
