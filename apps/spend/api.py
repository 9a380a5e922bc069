import datetime as dt
from dataclasses import replace
from typing import Any

from django.core.paginator import Paginator
from django.http.response import HttpResponseBase
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import InvalidApiParameter, validated
from apps.core.dates import DAY_RANGE_MESSAGE, day_in_range
from apps.core.errors import NotFound
from apps.core.money import micros_to_usd, usd_fixed
from apps.keys.api_access import api_org_access
from apps.spend.export_files import export_file_download, export_path, export_progress
from apps.spend.export_queries import ExportSpec, export_row_count, export_spec_refusal
from apps.spend.models import ExportFormat, ExportStatus, SpendExport, SpendLog
from apps.spend.reports import REPORT_DIMENSIONS, ReportQuery, report_rows, report_totals
from apps.spend.selectors import SpendFilters, spend_log_list
from apps.spend.services.exports import EXPORT_INLINE_ROWS, spend_export_deliver


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
            "cached_tokens": log.cached_tokens,
            "cache_write_tokens": log.cache_write_tokens,
            "cache_write_1h_tokens": log.cache_write_1h_tokens,
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
        "routing": {
            "strategy": log.routing_strategy,
            "deployment_id": log.deployment_id,
            "fallback_position": log.fallback_position,
            "attempts": log.attempts,
        },
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
                if name in attrs and not day_in_range(attrs[name]):
                    raise serializers.ValidationError({name: DAY_RANGE_MESSAGE})
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


class SpendReportApi(APIView):
    """GET /spend/report: the Billing page's numbers for a range, bucket and grouping; as JSON, or as a file.

    A report of at most EXPORT_INLINE_ROWS rows is answered at once (format json, csv, ndjson or xlsx);
    a larger file export is queued (202) and fetched from /spend/exports/<id> when it is ready.
    """

    class SpendReportQuerySerializer(serializers.Serializer):
        organization = serializers.SlugField(required=False)
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)
        bucket = serializers.ChoiceField(choices=["", "hour", "day", "month"], required=False, default="")
        group_by = serializers.CharField(required=False, default="", max_length=200)
        every_request = serializers.BooleanField(required=False, default=False)
        format = serializers.ChoiceField(choices=["json", *ExportFormat.values], required=False, default="json")
        key = serializers.IntegerField(required=False, min_value=1)
        team = serializers.IntegerField(required=False, min_value=1)
        user = serializers.IntegerField(required=False, min_value=1)
        channel = serializers.IntegerField(required=False, min_value=1)
        model = serializers.CharField(required=False, max_length=200)
        provider = serializers.CharField(required=False, max_length=32)
        feature = serializers.CharField(required=False, max_length=100)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            today = timezone.now().astimezone(dt.UTC).date()
            attrs["end"] = attrs.get("end") or today
            attrs["start"] = attrs.get("start") or attrs["end"] - dt.timedelta(days=6)
            for name in ("start", "end"):
                if not day_in_range(attrs[name]):
                    raise serializers.ValidationError({name: DAY_RANGE_MESSAGE})
            attrs["group_by"] = tuple(name for name in attrs["group_by"].replace(" ", "").split(",") if name)
            attrs["filters"] = {name: attrs[name] for name in REPORT_DIMENSIONS if name in attrs}
            try:
                attrs["query"] = ReportQuery(
                    start=attrs["start"],
                    end=attrs["end"],
                    bucket="" if attrs["every_request"] else attrs["bucket"],
                    group_by=() if attrs["every_request"] else attrs["group_by"],
                    filters=attrs["filters"],
                )
            except ValueError as exc:
                message = str(exc)
                param = next((name for name in ("bucket", "end") if name in message), "group_by")
                raise serializers.ValidationError({param: message}) from exc
            if attrs["every_request"] and attrs["format"] == "json":
                raise serializers.ValidationError({"format": "Every request is exported as csv, ndjson or xlsx."})
            return attrs

    @extend_schema(parameters=[SpendReportQuerySerializer], responses={200: dict, 202: dict})
    def get(self, request: Request) -> HttpResponseBase:
        data = validated(self.SpendReportQuerySerializer, request.query_params).validated_data
        access = api_org_access(request, data.get("organization"))
        query = replace(data["query"], organization_id=access.organization.pk)
        spec = ExportSpec(query=query, every_request=data["every_request"])
        refusal = export_spec_refusal(spec)
        if refusal:
            raise InvalidApiParameter(refusal, param="start")
        rows = export_row_count(spec)
        if data["format"] == "json":
            if rows > EXPORT_INLINE_ROWS:
                raise InvalidApiParameter(
                    f"The report has {rows} rows; ask for format=csv, ndjson or xlsx to export it.", param="format"
                )
            return Response(
                {
                    "object": "spend.report",
                    "organization": access.organization.slug,
                    "query": spec.as_json() | {"organization_id": None},
                    "totals": _money(report_totals(query)),
                    "data": [_money(row) for row in report_rows(query)],
                }
            )
        delivered = spend_export_deliver(
            organization=access.organization, user=access.user, spec=spec, fmt=data["format"]
        )
        if not isinstance(delivered, SpendExport):
            return delivered
        return Response(spend_export_body(delivered), status=202)


def _money(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **{name: value.isoformat() if isinstance(value, dt.datetime) else value for name, value in row.items()},
        "cost_usd": usd_fixed(row["cost_micros"]),
        "saved_usd": usd_fixed(row["saved_micros"]),
    }


def spend_export_body(export: SpendExport) -> dict[str, Any]:
    done = export.status == ExportStatus.DONE
    return {
        "object": "spend.export",
        "id": export.pk,
        "status": export.status,
        "format": export.format,
        "rows_expected": export.rows_expected,
        "rows_written": export_progress(export),
        "error": export.error,
        "download_url": f"/spend/exports/{export.pk}/download?organization={export.organization.slug}"
        if done
        else None,
    }


class SpendExportApi(APIView):
    """GET /spend/exports/<id>: a queued export's progress; GET …/download: its file once ready."""

    class SpendExportQuerySerializer(serializers.Serializer):
        organization = serializers.SlugField(required=False)

    @extend_schema(parameters=[SpendExportQuerySerializer], responses={200: dict})
    def get(self, request: Request, export_id: int, download: bool = False) -> HttpResponseBase:
        data = validated(self.SpendExportQuerySerializer, request.query_params).validated_data
        access = api_org_access(request, data.get("organization"))
        export = SpendExport.objects.filter(pk=export_id, organization=access.organization).first()
        if export is None:
            raise NotFound("No such export.")
        if not download:
            return Response(spend_export_body(export))
        if export.status == ExportStatus.EXPIRED:
            raise NotFound("The export's file has expired; export the report again.")
        if export.status != ExportStatus.DONE or not export_path(export).exists():
            raise NotFound("The export is not ready.")
        return export_file_download(export)
