"""The gateway's DNS resolver: resolves once and refuses non-public addresses at connect time.

aiohttp connects to exactly the addresses this returns, so the check and the
connection use the same answer (no DNS rebinding between them).
"""

import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from apps.providers.url_safety import address_check


class CheckedResolver(AbstractResolver):
    def __init__(self, allowlist: Iterable[str]) -> None:
        self.allowlist = list(allowlist)
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            address_check(host, result["host"], self.allowlist)
        return results

    async def close(self) -> None:
        await self.inner.close()
