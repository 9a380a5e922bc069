"""The management API's one error shape: {"error": {"message", "type", "param", "code"}} with the right status."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from apps.core.errors import HyditeError, envelope, error_envelope

logger = logging.getLogger("hydite.api")

_DRF_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "not_authenticated"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("conflict_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limited"),
    500: ("api_error", "server_error"),
}
_STATUS_MESSAGES = {
    400: "The request is invalid.",
    403: "You do not have permission to do this.",
    404: "Not found.",
    500: "The server had an error while processing the request; it was logged.",
}
# The management API's URLs (hydite/urls.py): whatever fails under them is answered in the JSON envelope.
MANAGEMENT_API_PREFIXES = ("key/", "spend/", "team/", "organization/")


class InvalidApiParameter(HyditeError):
    """A management API call whose parameters cannot be used (the field is named in `param`)."""

    code = "invalid_parameter"


def is_management_api_path(path: str) -> bool:
    return path.lstrip("/").startswith(MANAGEMENT_API_PREFIXES)


def api_error_response(status: int) -> JsonResponse:
    """The envelope for a failure Django answers itself (its error handlers) on a management API URL."""
    error_type, code = _DRF_TYPES.get(status, ("api_error", "error"))
    return JsonResponse(
        envelope(_STATUS_MESSAGES.get(status, "The request failed."), error_type, code, None), status=status
    )


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any other URL under the management API's prefixes: a JSON 404 (also where DEBUG shows Django's page)."""
    return api_error_response(404)


def _first_error(detail: Any, path: str = "") -> tuple[str | None, str]:
    """The first field and message of a DRF validation error (nested dicts and lists included)."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            name = field if field != "non_field_errors" else None
            param, message = _first_error(value, f"{path}.{field}" if path and name else name or path)
            return param, message
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], path)
    return (path or None), str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, HyditeError):
        return Response(error_envelope(exc), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:  # a bug: logged with its traceback, answered in the envelope without it
        request = context.get("request")
        where = f"{request.method} {request.path}" if request is not None else "the management API"
        logger.error("Unexpected error in %s", where, exc_info=exc)
        set_rollback()
        return Response(envelope(_STATUS_MESSAGES[500], *_DRF_TYPES[500], None), status=500)
    error_type, code = _DRF_TYPES.get(response.status_code, ("api_error", "error"))
    if isinstance(exc, exceptions.ValidationError):
        param, message = _first_error(exc.detail)
        response.data = envelope(f"{param}: {message}" if param else message, error_type, "invalid_parameter", param)
    else:
        detail = getattr(exc, "detail", str(exc))
        response.data = envelope(str(detail), error_type, getattr(detail, "code", None) or code, None)
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="hydite"'
    return response


def validated(serializer_class: type[serializers.Serializer], data: Any) -> Any:
    """The bound serializer, valid (its errors go through exception_handler: 400 naming the field)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer
