"""Quota fields in the management API, with LiteLLM's names; POST /team/update and /organization/update."""

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import validated
from apps.core.errors import PermissionDenied
from apps.core.money import micros_to_usd, usd_to_micros
from apps.keys.api_access import api_org_access
from apps.keys.leavers import leaver_key_action_set
from apps.orgs.access import access_team_by_id
from apps.orgs.models import LeaverKeyAction
from apps.orgs.roles import Action
from apps.quotas.limits import RPM_MAX, TPM_MAX, allowed_ips_clean
from apps.quotas.models import BudgetDuration, QuotaFields
from apps.quotas.services import quota_limits_update


def quota_info(holder: QuotaFields) -> dict[str, Any]:
    return {
        "max_budget": micros_to_usd(holder.max_budget_micros),
        "soft_budget": micros_to_usd(holder.soft_budget_micros),
        "budget_duration": holder.budget_duration,
        "rpm_limit": holder.rpm_limit,
        "tpm_limit": holder.tpm_limit,
        "models": holder.allowed_models,
        "blocked_models": holder.blocked_models,
        "allowed_ips": holder.allowed_ips,
    }


def _money() -> serializers.DecimalField:
    return serializers.DecimalField(
        required=False, allow_null=True, max_digits=14, decimal_places=6, min_value=Decimal(0)
    )


def _names() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=500)


class QuotaLimitFields(serializers.Serializer):
    max_budget = _money()
    soft_budget = _money()
    budget_duration = serializers.ChoiceField(choices=BudgetDuration.values, required=False)
    rpm_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=RPM_MAX)
    tpm_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=TPM_MAX)
    models = _names()
    blocked_models = _names()
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=200)

    def validate_allowed_ips(self, value: list[str]) -> list[str]:
        return allowed_ips_clean(value)

    def limits(self) -> dict[str, Any]:
        """The model fields to set, for the fields the request named."""
        data = self.validated_data
        renamed = {"models": "allowed_models", "rpm_limit": "rpm_limit", "tpm_limit": "tpm_limit"}
        renamed |= {"blocked_models": "blocked_models", "allowed_ips": "allowed_ips"}
        renamed |= {"budget_duration": "budget_duration"}
        changes = {field: data[name] for name, field in renamed.items() if name in data}
        for name in ("max_budget", "soft_budget"):
            if name in data:
                changes[f"{name}_micros"] = usd_to_micros(data[name])
        return changes


class TeamUpdateApi(APIView):
    class TeamUpdateInputSerializer(QuotaLimitFields):
        organization = serializers.SlugField(required=False)
        team_id = serializers.IntegerField(min_value=1)

    @extend_schema(request=TeamUpdateInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        payload = validated(self.TeamUpdateInputSerializer, request.data)
        access = api_org_access(request, payload.validated_data.get("organization"))
        team = access_team_by_id(org_access=access, team_id=payload.validated_data["team_id"]).team
        if not access.can(Action.MANAGE_ORG):
            raise PermissionDenied("Only an org admin may change a team's limits.")
        quota_limits_update(holder=team, actor=access.user, **payload.limits())
        return Response({"team_id": team.pk, "team_alias": team.name, **quota_info(team)})


class OrganizationUpdateApi(APIView):
    class OrganizationUpdateInputSerializer(QuotaLimitFields):
        organization = serializers.SlugField(required=False)
        leaver_key_action = serializers.ChoiceField(
            choices=LeaverKeyAction.values,
            required=False,
            help_text="What happens to the keys of a member who leaves (or may no longer use them): "
            "pause (default), revoke, or keep (they become their team's, with no owner).",
        )

    @extend_schema(request=OrganizationUpdateInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        payload = validated(self.OrganizationUpdateInputSerializer, request.data)
        access = api_org_access(request, payload.validated_data.get("organization"))
        if not access.can(Action.MANAGE_ORG):
            raise PermissionDenied("Only an org admin may change the organisation's settings.")
        organization = access.organization
        quota_limits_update(holder=organization, actor=access.user, **payload.limits())
        if "leaver_key_action" in payload.validated_data:
            action = payload.validated_data["leaver_key_action"]
            leaver_key_action_set(organization=organization, action=action, actor=access.user)
        return Response(
            {
                "organization": organization.slug,
                **quota_info(organization),
                "leaver_key_action": organization.leaver_key_action,
            }
        )
