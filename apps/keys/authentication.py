"""Management API authentication by `Authorization: Bearer sk-hydite-admin-…`."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.keys.models import ManagementKey
from apps.keys.services import MANAGEMENT_KEY_PREFIX, key_hash
from apps.orgs.models import Membership


class ManagementKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ManagementKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(MANAGEMENT_KEY_PREFIX):
            return None  # not ours: session authentication may still apply
        key = (
            ManagementKey.objects.select_related("created_by", "organization")
            .filter(key_hash=key_hash(token), revoked_at__isnull=True)
            .first()
        )
        if key is None or not key.created_by.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked management key.")
        if key.organization is None and not key.created_by.is_staff:  # its maker is no longer an operator
            raise exceptions.AuthenticationFailed("This instance-wide key's creator is no longer staff.")
        if key.organization_id is not None and not _is_member(key.organization_id, key.created_by_id):
            # revoked on removal already; this covers any other way a membership ends
            raise exceptions.AuthenticationFailed("This management key's creator is no longer in the organisation.")
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="hydite"'


def _is_member(organization_id: int, user_id: int) -> bool:
    return Membership.objects.filter(organization_id=organization_id, user_id=user_id, team__isnull=True).exists()


class ManagementKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes management-key authentication."""

    target_class = "apps.keys.authentication.ManagementKeyAuthentication"
    name = "managementKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "sk-hydite-admin-… management key"}
