"""The gateway's connect-time address checks: the DNS resolver, and IP literals, which skip it.

aiohttp connects to exactly the addresses the resolver returns, so the check and
the connection use the same answer (no DNS rebinding between them). A host that
aiohttp takes for an IP literal never reaches the resolver: `upstream_literal_check`
checks it, reading the URL with yarl as aiohttp does.
"""

import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from aiohttp.resolver import DefaultResolver
from yarl import URL

from apps.providers.url_safety import UnsafeUpstream, address_check


class CheckedResolver(AbstractResolver):
    def __init__(self, allowlist: Iterable[str]) -> None:
        self.allowlist = list(allowlist)
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            address_check(host, result["host"], self.allowlist, port=port)
        return results

    async def close(self) -> None:
        await self.inner.close()


def upstream_literal_check(url: str, allowlist: Iterable[str]) -> None:
    """Refuse an upstream URL whose host aiohttp would connect to as an IP literal, unless public or allowed."""
    try:
        parsed = URL(url)
    except ValueError as exc:
        raise UnsafeUpstream(f"{url!r} is not a valid URL.") from exc
    host = parsed.raw_host or ""
    if is_ip_address(host):  # aiohttp's own test for "skip the resolver"
        address_check(host, host, allowlist, port=parsed.port or 0)
