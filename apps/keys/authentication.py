"""Management API authentication by `Authorization: Bearer sk-hydite-admin-…`."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.keys.models import ManagementKey
from apps.keys.services import MANAGEMENT_KEY_PREFIX, key_hash


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
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="hydite"'


class ManagementKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes management-key authentication."""

    target_class = "apps.keys.authentication.ManagementKeyAuthentication"
    name = "managementKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "sk-hydite-admin-… management key"}
