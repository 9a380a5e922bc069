"""The client's IP: the TCP peer, or a forwarding header when (and only when) the peer is a trusted proxy.

One rule for /v1 and the dashboard (GATEWAY_TRUSTED_PROXIES, GATEWAY_CLIENT_IP_HEADER); uvicorn's own
proxy-header rewriting is switched off (--no-proxy-headers) so it cannot trust a forged header first.
"""

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_CLIENT_PREFIX = 64  # what one host or site is given: 2**64 addresses to move between


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_client(peer: str, forwarded: str | None, trusted_proxies: list[str]) -> str:
    if not trusted_proxies or forwarded is None:
        return peer
    networks = _networks(tuple(trusted_proxies))
    if not _trusted(peer, networks):
        return peer
    # X-Forwarded-For grows to the right: the first hop from the right that is not ours is the client.
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def client_network(address: str) -> str:
    """The client an address counts as, for limits on attempts: an IPv4 address, or the IPv6 /64 around it
    (counted per address, one machine could guess forever); anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)
