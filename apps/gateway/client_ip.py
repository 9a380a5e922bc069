"""The client IP of a /v1 request (the rule itself is apps.core.client_ip)."""

from apps.core.client_ip import forwarded_client
from apps.gateway.asgi_io import Scope, header


def client_ip(scope: Scope, trusted_proxies: list[str], header_name: str) -> str:
    peer = (scope.get("client") or ("", 0))[0]
    raw = header(scope, header_name.encode()) if trusted_proxies else None
    return forwarded_client(peer, raw.decode("latin-1") if raw is not None else None, trusted_proxies)
