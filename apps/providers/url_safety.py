"""Where a tenant-supplied URL (an upstream's api_base, a webhook) may point.

Checked when a deployment (or webhook endpoint) is saved and again when the
gateway (or the webhook sender) connects (its resolver refuses the same
addresses), so DNS that changes between the two cannot smuggle a request to
loopback, private, link-local, CGNAT, IPv4-mapped or cloud-metadata
addresses. An operator allow-list (GATEWAY_UPSTREAM_ALLOWLIST for upstreams,
WEBHOOK_ALLOWLIST for webhooks: host names or CIDRs) opens exceptions.
Imports no Django: settings are passed in.
"""

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

CGNAT = ipaddress.ip_network("100.64.0.0/10")
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUpstream(ValueError):
    pass


def _allowed_by_list(host: str, address: IPAddress | None, allowlist: Iterable[str]) -> bool:
    for entry in allowlist:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host:
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif address is not None and entry == str(address):
            return True
    return False


def address_is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_is_public(address.ipv4_mapped)
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return False
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def address_check(host: str, address: str, allowlist: Iterable[str]) -> None:
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if not address_is_public(parsed) and not _allowed_by_list(host.lower(), parsed, allowlist):
        raise UnsafeUpstream(f"{host} resolves to {parsed}, a non-public address the operator has not allowed.")


def url_check(
    url: str, *, allowlist: Iterable[str], require_https: bool, resolve: bool = True, name: str = "URL"
) -> None:
    """Refuse a tenant-supplied URL that may reach a non-public address; `name` says which field it is."""
    allowlist = list(allowlist)
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        raise UnsafeUpstream(f"{name} must be an http(s) URL with a host.")
    if parts.username or parts.password:
        raise UnsafeUpstream(f"{name} must not carry credentials.")
    if require_https and parts.scheme != "https" and not _allowed_by_list(host, None, allowlist):
        raise UnsafeUpstream(f"{name} must use https.")
    if host in METADATA_HOSTS and not _allowed_by_list(host, None, allowlist):
        raise UnsafeUpstream(f"{host} is a cloud metadata endpoint.")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        address_check(host, str(literal), allowlist)
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
        except socket.gaierror as exc:
            raise UnsafeUpstream(f"{host} does not resolve.") from exc
        for info in infos:
            address_check(host, str(info[4][0]), allowlist)


def api_base_check(url: str, *, allowlist: Iterable[str], require_https: bool, resolve: bool = True) -> str:
    """Validate a tenant-supplied api_base; returns it normalised (no trailing slash)."""
    url_check(url, allowlist=allowlist, require_https=require_https, resolve=resolve, name="api_base")
    return url.strip().rstrip("/")
