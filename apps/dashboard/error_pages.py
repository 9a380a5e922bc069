"""Error pages (Django's handler400/403/404/500 and the CSRF failure view).

Each renders in the schema of the request's instance, and a failure while decorating it (the navigation
and budget banner read tenant tables) does not turn it into a 500: it is logged and the page is rendered
without the request's context. On a management API URL the answer is the API's JSON error instead.
"""

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django_tenants.utils import tenant_context

from apps.core.api import api_error_response, is_management_api_path
from apps.core.schemas import current_schema

logger = logging.getLogger("hydite.errors")

CSRF_FAILURE_MESSAGE = "This form has expired or was sent from another site. Reload the page and try again."


def _tenant_schema(request: HttpRequest) -> AbstractContextManager[Any]:
    tenant = getattr(request, "tenant", None)
    if tenant is None or current_schema() == tenant.schema_name:
        return nullcontext()
    return tenant_context(tenant)


def _page(request: HttpRequest, template: str, status: int, context: dict[str, Any] | None = None) -> HttpResponse:
    if is_management_api_path(request.path):
        return api_error_response(status)
    try:
        with _tenant_schema(request):
            body = loader.render_to_string(template, context, request)
    except Exception:  # an error page is answered, whatever failed while decorating it
        logger.exception("The %s page failed with the request's context; rendered without it", status)
        body = loader.render_to_string(template, context)
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "400.html", 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "403.html", 403, {"exception": str(exception)})


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    # The database may be what failed: this page reads nothing.
    if is_management_api_path(request.path):
        return api_error_response(500)
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page(request, "403.html", 403, {"exception": CSRF_FAILURE_MESSAGE})
