from typing import Any

from django.core.paginator import Paginator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import validated
from apps.core.money import micros_to_usd
from apps.keys.api_access import api_org_access
from apps.spend.models import SpendLog
from apps.spend.selectors import SpendFilters, spend_log_list

MIN_DAY, MAX_DAY = "2000-01-01", "9000-12-31"


def spend_log_row(log: SpendLog) -> dict[str, Any]:
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
        "cost_usd": micros_to_usd(log.cost_micros),
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


class SpendLogListApi(APIView):
    """GET /spend/logs: one organisation's ledger (filters: key, team, model, dates; paginated)."""

    class SpendLogQuerySerializer(serializers.Serializer):
        organization = serializers.SlugField(required=False)
        key_id = serializers.IntegerField(required=False, min_value=1)
        team_id = serializers.IntegerField(required=False, min_value=1)
        model = serializers.CharField(required=False, max_length=200)
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)
        page = serializers.IntegerField(required=False, min_value=1, max_value=100_000, default=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            for name in ("start", "end"):
                if name in attrs and not MIN_DAY <= attrs[name].isoformat() <= MAX_DAY:
                    raise serializers.ValidationError({name: f"Choose a date between {MIN_DAY} and {MAX_DAY}."})
            if "start" in attrs and "end" in attrs and attrs["start"] > attrs["end"]:
                raise serializers.ValidationError({"end": "'end' must be on or after 'start'."})
            return attrs

    @extend_schema(parameters=[SpendLogQuerySerializer], responses={200: dict})
    def get(self, request: Request) -> Response:
        data = validated(self.SpendLogQuerySerializer, request.query_params).validated_data
        access = api_org_access(request, data.get("organization"))
        filters = SpendFilters(
            key_id=data.get("key_id"),
            team_id=data.get("team_id"),
            model=data.get("model", ""),
            start=data.get("start"),
            end=data.get("end"),
        )
        logs = spend_log_list(organization_id=access.organization.pk, filters=filters)
        page = Paginator(logs, data["page_size"]).get_page(data["page"])
        return Response(
            {
                "object": "list",
                "organization": access.organization.slug,
                "data": [spend_log_row(log) for log in page],
                "page": page.number,
                "pages": page.paginator.num_pages,
                "has_next": page.has_next(),
            }
        )
