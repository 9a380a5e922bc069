"""The webhook wire: Stripe-style signatures and one POST through a connection that checks addresses.

The URL is checked before sending (scheme, https, credentials, metadata hosts) and every address
its host resolves to is checked when the connection is made, on the address then connected to: DNS
that changed since the endpoint was saved cannot point it at a private address. Redirects are never
followed; no proxy from the environment is used.
"""

import hashlib
import hmac
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from apps.providers.url_safety import UnsafeUpstream, address_check, url_check

EXCERPT_BYTES = 200
USER_AGENT = "Hydite-Webhooks/1"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class _CheckedBackend(httpcore.SyncBackend):
    """Resolves once, refuses non-public addresses the allow-list does not name, connects to the checked one."""

    def __init__(self, allowlist: Iterable[str]) -> None:
        self.allowlist = list(allowlist)

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            address_check(host, str(info[4][0]), self.allowlist, port=port)
        # TLS still verifies the certificate against `host` (httpcore's SNI is the URL's host).
        return super().connect_tcp(str(infos[0][4][0]), port, *args, **kwargs)


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, allowlist: Iterable[str]) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx builds its pool without a network backend argument; this one is the same pool with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=1,
            max_keepalive_connections=0,
            network_backend=_CheckedBackend(allowlist),
        )


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    duration_ms: int
    excerpt: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """5xx, 429 and failures to get an answer (timeouts, refused connections) are worth another try."""
        if self.status_code is None:
            return not self.error.startswith("refused:")
        return self.status_code >= 500 or self.status_code == 429


def _excerpt(response: httpx.Response) -> str:
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= EXCERPT_BYTES:
            break
    return read[:EXCERPT_BYTES].decode("utf-8", "replace")


def webhook_post(
    *, url: str, body: bytes, headers: dict[str, str], allowlist: Iterable[str], require_https: bool, timeout_s: float
) -> PostResult:
    """POST once; never raises for what the receiver or the network does."""
    started = time.monotonic()

    def result(status_code: int | None, error: str = "", excerpt: str = "") -> PostResult:
        return PostResult(status_code, error[:200], int((time.monotonic() - started) * 1000), excerpt)

    try:
        url_check(url, allowlist=allowlist, require_https=require_https, resolve=False, name="The webhook URL")
        with (
            httpx.Client(transport=_CheckedTransport(allowlist), timeout=timeout_s, follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers={"User-Agent": USER_AGENT, **headers}) as response,
        ):
            excerpt = _excerpt(response)
    except UnsafeUpstream as exc:
        return result(None, f"refused: {exc}")
    except httpx.TimeoutException:
        return result(None, f"timeout after {timeout_s:g} s")
    except (httpx.HTTPError, OSError) as exc:
        return result(None, f"{type(exc).__name__}: {exc}")
    if response.is_redirect:
        return result(response.status_code, "redirect not followed", excerpt)
    return result(response.status_code, "" if response.is_success else f"HTTP {response.status_code}", excerpt)
