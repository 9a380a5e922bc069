from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.audit.context import audit_client_ip


class AuditContextMiddleware:
    """Expose the client address to audit_record for the length of the request.

    REMOTE_ADDR is the peer: behind a reverse proxy, configure the proxy to set
    it (uvicorn --proxy-headers with --forwarded-allow-ips).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_client_ip(request.META.get("REMOTE_ADDR") or None):
            return self.get_response(request)
