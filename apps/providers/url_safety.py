"""Where a tenant-supplied URL (an upstream's api_base, a webhook) may point.

Checked when a deployment (or webhook endpoint) is saved and again when the
gateway (or the webhook sender) connects (its resolver refuses the same
addresses), so DNS that changes between the two cannot smuggle a request to a
non-public address. Refused: loopback, private, link-local, site-local, CGNAT,
multicast, reserved and unspecified addresses, cloud-metadata host names, and
IPv6 addresses that carry an IPv4 one. IPv4-mapped (::ffff:a.b.c.d) and NAT64's
well-known prefix (64:ff9b::/96) are how dual-stack sockets and DNS64 show an
IPv4 destination, so they are judged by the IPv4 address inside; 6to4
(2002::/16), Teredo (2001::/32), IPv4-compatible (::a.b.c.d), IPv4-translated
(::ffff:0:a.b.c.d) and local-use NAT64 (64:ff9b:1::/48) are refused whatever
they carry (deprecated or local, never a provider's address), and so is an
ISATAP interface id carrying a non-public IPv4 address.

A URL's host must be written canonically, so that every parser (ours, yarl for
aiohttp, httpx) reads the same host: an ASCII name (an IDN in its xn-- form,
labels of at most 63 characters, 253 in all), four decimal numbers, or a
bracketed IPv6 address without a zone id; no userinfo, whitespace or control
characters.

A save resolves the host in the request that saves it: DNS_TIMEOUT_S bounds the
wait, and `dns_time_limit()` makes every lookup inside it share one deadline (an
import naming 200 hosts waits no longer than one lookup), so a name server that
never answers cannot hold a request, and its pooled database connection, for long.

An operator allow-list (GATEWAY_UPSTREAM_ALLOWLIST for upstreams,
WEBHOOK_ALLOWLIST for webhooks) opens exceptions. Entries: a host name, an
address or a CIDR, optionally with a port (`mock.internal:9100`,
`127.0.0.1:9100`, `[::1]:9100`, `10.0.0.0/8:443`, `[fd00::/8]:443`); no port
means any port. Imports no Django: settings are passed in.
"""

import functools
import ipaddress
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
REFUSED_IPV6_RANGES = (
    ipaddress.ip_network("2002::/16"),  # 6to4
    ipaddress.ip_network("2001::/32"),  # Teredo
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
    ipaddress.ip_network("::/96"),  # IPv4-compatible
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated
)
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")  # a last label like these makes a URL parser read an IPv4 address
DNS_LABEL_MAX, DNS_NAME_MAX = 63, 253
DNS_TIMEOUT_S = 5.0
DNS_LOOKUP_THREADS = 8
_dns_deadline: ContextVar[float | None] = ContextVar("url_check_dns_deadline", default=None)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeUpstream(ValueError):
    pass


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a host name or a network, on one port or (port None) any."""

    name: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def admits(self, host: str, address: IPAddress | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return self.name == host.lower().rstrip(".")
        if address is None or self.network is None:
            return False
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        return address in self.network or (mapped is not None and mapped in self.network)


def _entry_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a port")
    return int(text)


def allow_entry_parse(raw: str) -> AllowEntry:
    """`host`, `host:port`, `address`, `address:port`, `CIDR`, `CIDR:port`, `[IPv6]:port`, `[IPv6/len]:port`."""
    text = raw.strip().lower()
    try:
        return AllowEntry(network=ipaddress.ip_network(text, strict=False))
    except ValueError:
        pass
    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{raw!r}: expected [address]:port")
        network = ipaddress.ip_network(inside, strict=False)
        return AllowEntry(network=network, port=_entry_port(rest[1:]) if rest else None)
    host, port = text, None
    if ":" in text:
        host, port_text = text.rsplit(":", 1)
        port = _entry_port(port_text)
    try:
        return AllowEntry(network=ipaddress.ip_network(host, strict=False), port=port)
    except ValueError:
        pass
    if not HOST_NAME.fullmatch(host):
        raise ValueError(f"{raw!r} is not a host name, an address or a network")
    return AllowEntry(name=host.rstrip("."), port=port)


def allowlist_problems(allowlist: Iterable[str]) -> list[str]:
    """What is wrong with an allow-list's entries (such entries are ignored: they open nothing)."""
    problems = []
    for raw in allowlist:
        try:
            if raw.strip():
                allow_entry_parse(raw)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


@functools.lru_cache(maxsize=16)
def _entries(allowlist: tuple[str, ...]) -> tuple[AllowEntry, ...]:
    entries = []
    for raw in allowlist:
        try:
            if raw.strip():
                entries.append(allow_entry_parse(raw))
        except ValueError:
            continue  # reported by the providers app's system check
    return tuple(entries)


def _allowed(host: str, address: IPAddress | None, port: int, allowlist: Iterable[str]) -> bool:
    return any(entry.admits(host, address, port) for entry in _entries(tuple(allowlist)))


def _ipv4_inside(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one delivers to, for the forms that are judged by it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _isatap_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address in an ISATAP interface id (…:0000:5efe:a.b.c.d or …:0200:5efe:a.b.c.d)."""
    if (int(address) >> 32) & 0xFDFFFFFF == 0x00005EFE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inside = _ipv4_inside(address)
        if inside is not None:
            return address_is_public(inside)
        isatap = _isatap_ipv4(address)
        if (
            any(address in network for network in REFUSED_IPV6_RANGES)
            or (isatap is not None and not address_is_public(isatap))
            or address.is_site_local
        ):
            return False
    elif address in CGNAT:
        return False
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def address_check(host: str, address: str, allowlist: Iterable[str], *, port: int) -> None:
    """Refuse connecting to `address` (what `host` resolved to) on `port` unless public or allowed."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError as exc:
        raise UnsafeUpstream(f"{host} is not a canonical IP address.") from exc
    if not address_is_public(parsed) and not _allowed(host, parsed, port, allowlist):
        raise UnsafeUpstream(
            f"{host} resolves to {parsed}, a non-public address the operator has not allowed on port {port}."
        )


def _canonical_host(host: str, name: str) -> str:
    if ":" in host:  # urlsplit took it from brackets
        if "%" in host:
            raise UnsafeUpstream(f"{name} must not name an IPv6 zone.")
        return host
    if not HOST_NAME.fullmatch(host):
        raise UnsafeUpstream(f"{name} must have an ASCII host name (an internationalised one in its xn-- form).")
    labels = host.rstrip(".").split(".")
    if len(host.rstrip(".")) > DNS_NAME_MAX or max(len(label) for label in labels) > DNS_LABEL_MAX:
        raise UnsafeUpstream(f"{name} has a host name longer than DNS allows (labels of up to 63 characters).")
    if NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise UnsafeUpstream(f"{name} must write an IPv4 address as four decimal numbers.") from exc
    return host


def _url_parts(url: str, name: str) -> tuple[SplitResult, str, int]:
    """The URL split, its host (checked canonical) and the port it connects to."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise UnsafeUpstream(f"{name} must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a bad port or bracketed host
        raise UnsafeUpstream(f"{name} is not a valid URL ({exc}).") from exc
    host = parts.hostname or ""
    if parts.scheme not in {"https", "http"} or not host:
        raise UnsafeUpstream(f"{name} must be an http(s) URL with a host.")
    if "@" in parts.netloc:
        raise UnsafeUpstream(f"{name} must not carry credentials.")
    return parts, _canonical_host(host, name), port


@contextmanager
def dns_time_limit(seconds: float | None = None) -> Iterator[None]:
    """Every host resolved inside shares one deadline (DNS_TIMEOUT_S from now; an enclosing one if sooner)."""
    deadline = time.monotonic() + (DNS_TIMEOUT_S if seconds is None else seconds)
    enclosing = _dns_deadline.get()
    token = _dns_deadline.set(deadline if enclosing is None else min(deadline, enclosing))
    try:
        yield
    finally:
        _dns_deadline.reset(token)


@functools.cache
def _lookup_threads(pid: int) -> ThreadPoolExecutor:
    """Where lookups run, so that a caller stops waiting at its deadline; one that outlives it keeps its thread
    until the system resolver gives up, so they are few. One pool a process: threads do not survive a fork."""
    return ThreadPoolExecutor(max_workers=DNS_LOOKUP_THREADS, thread_name_prefix="url-check-dns")


def _resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, waiting no longer than the deadline (dns_time_limit, or DNS_TIMEOUT_S)."""
    deadline = _dns_deadline.get() or time.monotonic() + DNS_TIMEOUT_S
    lookup = _lookup_threads(os.getpid()).submit(socket.getaddrinfo, host, port)
    try:
        infos = lookup.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError as exc:
        lookup.cancel()
        raise UnsafeUpstream(f"{host} did not resolve in time; try again.") from exc
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUpstream(f"{host} does not resolve.") from exc
    return [str(info[4][0]) for info in infos]


def url_check(
    url: str, *, allowlist: Iterable[str], require_https: bool, resolve: bool = True, name: str = "URL"
) -> None:
    """Refuse a tenant-supplied URL that may reach a non-public address; `name` says which field it is."""
    allowlist = list(allowlist)
    parts, host, port = _url_parts(url.strip(), name)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if require_https and parts.scheme != "https" and not _allowed(host, literal, port, allowlist):
        raise UnsafeUpstream(f"{name} must use https.")
    if host.rstrip(".") in METADATA_HOSTS and not _allowed(host, None, port, allowlist):
        raise UnsafeUpstream(f"{host} is a cloud metadata endpoint.")
    if literal is not None:
        address_check(host, str(literal), allowlist, port=port)
    elif resolve:
        for address in _resolve(host, port):
            address_check(host, address, allowlist, port=port)


def api_base_check(url: str, *, allowlist: Iterable[str], require_https: bool, resolve: bool = True) -> str:
    """Validate a tenant-supplied api_base; returns it normalised (no trailing slash)."""
    url_check(url, allowlist=allowlist, require_https=require_https, resolve=resolve, name="api_base")
    return url.strip().rstrip("/")
