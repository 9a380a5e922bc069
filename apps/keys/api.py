"""Management API for virtual keys, with the names and fields LiteLLM's scripts already use.

POST /key/generate, GET /key/list, GET or POST /key/info, POST /key/update, POST /key/regenerate, POST /key/delete.
Authenticated by the dashboard session or `Authorization: Bearer sk-hydite-admin-…`.
"""

import re
from datetime import timedelta
from typing import Any

from django.core.paginator import Paginator
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.core.api import InvalidApiParameter, validated
from apps.core.errors import NotFound, PermissionDenied
from apps.core.json_input import JsonMetadataField
from apps.keys import services
from apps.keys.access import access_key_by_id
from apps.keys.api_access import api_org_access
from apps.keys.models import KeyStatus, VirtualKey
from apps.orgs.access import OrgAccess, access_channel_by_id, access_default_team, access_team_by_id
from apps.orgs.models import Membership
from apps.orgs.roles import Action
from apps.quotas.api import QuotaLimitFields, quota_info

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _expires_at(duration: str | None) -> Any:
    if not duration:
        return None
    match = _DURATION.match(duration)
    if match is None:
        raise InvalidApiParameter("duration is a number and a unit: 30s, 15m, 12h or 30d.", param="duration")
    return timezone.now() + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def key_info(key: VirtualKey) -> dict[str, Any]:
    return {
        "key_id": key.pk,
        "key_alias": key.name,
        "key_name": key.display,
        "organization": key.organization.slug,
        "team_id": key.team_id,
        "user_id": key.user_id,
        "channel_id": key.channel_id,
        "status": key.status,
        "blocked": key.status == KeyStatus.PAUSED,
        **quota_info(key),
        "expires": key.expires_at.isoformat() if key.expires_at else None,
        "metadata": key.metadata,
        "created_at": key.created_at.isoformat(),
    }


class LimitFields(QuotaLimitFields):
    key_alias = serializers.CharField(required=False, max_length=100)
    duration = serializers.CharField(required=False, allow_null=True, max_length=10)
    expires = serializers.DateTimeField(required=False, allow_null=True)
    metadata = JsonMetadataField(required=False)

    def limits(self) -> dict[str, Any]:
        data = self.validated_data
        limits: dict[str, Any] = super().limits()
        if "key_alias" in data:
            limits["name"] = data["key_alias"]
        if "metadata" in data:
            limits["metadata"] = data["metadata"]
        if "duration" in data:
            limits["expires_at"] = _expires_at(data["duration"])
        if "expires" in data:
            limits["expires_at"] = data["expires"]
        return limits


class KeyGenerateApi(APIView):
    class KeyGenerateInputSerializer(LimitFields):
        organization = serializers.SlugField(required=False)
        team_id = serializers.IntegerField(required=False, min_value=1)
        user_id = serializers.IntegerField(required=False, min_value=1)
        channel_id = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(request=KeyGenerateInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        payload = validated(self.KeyGenerateInputSerializer, request.data)
        data = payload.validated_data
        access = api_org_access(request, data.get("organization"))
        team_access = (
            access_team_by_id(org_access=access, team_id=data["team_id"])
            if "team_id" in data
            else access_default_team(org_access=access)
        )
        if not team_access.can(Action.USE):
            raise PermissionDenied("Minting a key needs the developer role in its team.", param="team_id")
        owner = _owner(access, data)
        channel = None
        if "channel_id" in data:
            channel = access_channel_by_id(org_access=access, channel_id=data["channel_id"])
        key, secret = services.key_generate(
            organization=access.organization,
            team=team_access.team,
            user=owner,
            channel=channel,
            name=data.get("key_alias") or "api key",
            actor=access.user,
            limits={name: value for name, value in payload.limits().items() if name != "name"},
        )
        return Response({"key": secret, **key_info(key)})


def _owner(access: OrgAccess, data: dict[str, Any]) -> User:
    """The key's owner: the caller, or (an org admin minting for someone else) the member named by user_id."""
    if "user_id" not in data:
        return access.user
    member = (
        Membership.objects.select_related("user")
        .filter(organization=access.organization, user_id=data["user_id"], team__isnull=True)
        .first()
    )
    if member is None:
        raise NotFound("That user is not a member of the organisation.")
    if data["user_id"] != access.user.pk and not access.can(Action.MANAGE_ORG):
        raise PermissionDenied("Only an org admin may mint keys for someone else.", param="user_id")
    return member.user


def _key_from(request: Request, access: OrgAccess, data: dict[str, Any], action: Action) -> VirtualKey:
    if data.get("key_id"):
        return access_key_by_id(org_access=access, key_id=data["key_id"], action=action)
    raw = data.get("key") or ""
    hashed = raw if re.fullmatch(r"[0-9a-f]{64}", raw) else services.key_hash(raw)
    key = VirtualKey.objects.filter(organization=access.organization, key_hash=hashed).only("pk").first()
    if key is None:
        raise NotFound("Key not found.")
    return access_key_by_id(org_access=access, key_id=key.pk, action=action)


class KeySelector(serializers.Serializer):
    organization = serializers.SlugField(required=False)
    key = serializers.CharField(required=False, max_length=100)
    key_id = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("key") and not attrs.get("key_id"):
            raise serializers.ValidationError({"key": "Give the key (or its SHA-256) or key_id."})
        return attrs


class KeyInfoApi(APIView):
    """GET /key/info?key=… as LiteLLM has it; POST /key/info with the key in the JSON body keeps it out of URLs
    (and so out of access logs and proxies' logs)."""

    @extend_schema(parameters=[KeySelector], responses={200: dict})
    def get(self, request: Request) -> Response:
        return self._info(request, validated(KeySelector, request.query_params).validated_data)

    @extend_schema(request=KeySelector, responses={200: dict})
    def post(self, request: Request) -> Response:
        return self._info(request, validated(KeySelector, request.data).validated_data)

    def _info(self, request: Request, data: dict[str, Any]) -> Response:
        access = api_org_access(request, data.get("organization"))
        key = _key_from(request, access, data, Action.VIEW)
        return Response({"key": key.display, "info": key_info(key)})


class KeyListApi(APIView):
    class KeyListQuerySerializer(serializers.Serializer):
        organization = serializers.SlugField(required=False)
        team_id = serializers.IntegerField(required=False, min_value=1)
        page = serializers.IntegerField(required=False, min_value=1, default=1)
        size = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

    @extend_schema(parameters=[KeyListQuerySerializer], responses={200: dict})
    def get(self, request: Request) -> Response:
        data = validated(self.KeyListQuerySerializer, request.query_params).validated_data
        access = api_org_access(request, data.get("organization"))
        keys = VirtualKey.objects.filter(organization=access.organization).select_related("organization")
        if "team_id" in data:
            keys = keys.filter(team_id=data["team_id"])
        page = Paginator(keys.order_by("-created_at", "-id"), data["size"]).get_page(data["page"])
        return Response(
            {
                "keys": [key_info(key) for key in page],
                "total_count": page.paginator.count,
                "current_page": page.number,
                "total_pages": page.paginator.num_pages,
            }
        )


class KeyUpdateApi(APIView):
    class KeyUpdateInputSerializer(KeySelector, LimitFields):
        blocked = serializers.BooleanField(required=False)

    @extend_schema(request=KeyUpdateInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        payload = validated(self.KeyUpdateInputSerializer, request.data)
        data = payload.validated_data
        access = api_org_access(request, data.get("organization"))
        key = _key_from(request, access, data, Action.USE)
        limits = payload.limits()
        if limits:
            key = services.key_update_limits(key=key, actor=access.user, **limits)
        if "blocked" in data:
            status = KeyStatus.PAUSED if data["blocked"] else KeyStatus.ACTIVE
            key = services.key_set_status(key=key, status=status, actor=access.user)
        return Response(key_info(key))


class KeyRegenerateApi(APIView):
    @extend_schema(request=KeySelector, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = validated(KeySelector, request.data).validated_data
        access = api_org_access(request, data.get("organization"))
        key, secret = services.key_regenerate(key=_key_from(request, access, data, Action.USE), actor=access.user)
        return Response({"key": secret, **key_info(key)})


class KeyDeleteApi(APIView):
    class KeyDeleteInputSerializer(serializers.Serializer):
        organization = serializers.SlugField(required=False)
        keys = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=500)
        key_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=500)

    @extend_schema(request=KeyDeleteInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = validated(self.KeyDeleteInputSerializer, request.data).validated_data
        if not data.get("keys") and not data.get("key_ids"):
            raise InvalidApiParameter("Give keys (clear text or SHA-256) or key_ids.", param="keys")
        access = api_org_access(request, data.get("organization"))
        targets = [_key_from(request, access, {"key": raw}, Action.USE) for raw in data.get("keys", [])]
        targets += [_key_from(request, access, {"key_id": key_id}, Action.USE) for key_id in data.get("key_ids", [])]
        for key in targets:
            services.key_set_status(key=key, status=KeyStatus.REVOKED, actor=access.user)
        return Response({"deleted_keys": [key.pk for key in targets]})
