from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.audit.context import audit_client_ip
from apps.core.client_ip import forwarded_client


class AuditContextMiddleware:
    """Expose the client address to audit_record for the length of the request.

    The address is the peer's, or the forwarding header's when the peer is a trusted
    proxy: the same rule as /v1 (GATEWAY_TRUSTED_PROXIES, GATEWAY_CLIENT_IP_HEADER).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta_name = "HTTP_" + settings.GATEWAY_CLIENT_IP_HEADER.upper().replace("-", "_")
        address = forwarded_client(
            request.META.get("REMOTE_ADDR") or "", request.META.get(meta_name), settings.GATEWAY_TRUSTED_PROXIES
        )
        with audit_client_ip(address or None):
            return self.get_response(request)
