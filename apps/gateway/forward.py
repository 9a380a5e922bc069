"""Step 6, forward: the deployment's adapter builds the provider's request; it is sent on the shared
session, to an address the operator allows, never following redirects."""

import logging

import aiohttp
from django.conf import settings

from apps.core.errors import HyditeError
from apps.gateway.context import RequestContext
from apps.gateway.errors import (
    InvalidRequest,
    UpstreamNotAllowed,
    UpstreamNotSupported,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from apps.gateway.lookup import provider_secret
from apps.gateway.parse import with_stream_usage
from apps.gateway.reservation import completion_cap_parameter
from apps.gateway.resolver import upstream_literal_check
from apps.gateway.upstreams import ProviderNotSupported, adapter_for
from apps.gateway.upstreams.base import UpstreamRequest
from apps.gateway.upstreams.translation import MALFORMED, UnsupportedRequest
from apps.providers.url_safety import UnsafeUpstream

logger = logging.getLogger("hydite.gateway")

MAX_CHECKED_URLS = 10_000


def upstream_request(ctx: RequestContext) -> None:
    """The adapter and the provider's request for the resolved deployment (with our completion cap)."""
    deployment = ctx.deployment
    assert deployment is not None  # noqa: S101 - resolved first
    body = ctx.body
    if ctx.completion_cap is not None:
        body = {**body, completion_cap_parameter(deployment, ctx.path): ctx.completion_cap}
    body, ctx.client_wants_usage = with_stream_usage(body, ctx.path)
    try:
        ctx.adapter = adapter_for(deployment["provider"])
    except ProviderNotSupported as exc:
        raise UpstreamNotSupported(str(exc)) from exc
    secret = provider_secret(deployment["secret"]) if deployment["secret"] else None
    dialect = ctx.dialect
    ctx.passthrough = dialect is not None and dialect.passes_through(deployment["provider"])
    if ctx.passthrough:
        assert dialect is not None and ctx.dialect_body is not None  # noqa: S101 - parsed first
        ctx.upstream = dialect.passthrough_request(
            deployment=deployment, body=ctx.dialect_body, secret=secret, scope=ctx.scope
        )
        return
    try:
        ctx.upstream = ctx.adapter.build_request(deployment=deployment, path=ctx.path, body=body, secret=secret)
    except UnsupportedRequest as exc:  # the provider cannot express this request
        raise InvalidRequest(str(exc), param="model") from exc
    except MALFORMED as exc:  # a shape request_shape let through and a translator cannot read: ours to fix
        logger.warning("translating a request for %s failed", deployment["provider"], exc_info=True)
        raise InvalidRequest(f"The request cannot be sent to a {deployment['provider']} model.") from exc


class LiteralHostCheck:
    """aiohttp skips the resolver for IP literals, so those are checked here (once per URL)."""

    def __init__(self) -> None:
        self.checked: set[str] = set()

    def __call__(self, url: str) -> None:
        if url in self.checked:
            return
        upstream_literal_check(url, settings.GATEWAY_UPSTREAM_ALLOWLIST)  # a name: CheckedResolver checks it
        if len(self.checked) >= MAX_CHECKED_URLS:
            self.checked.clear()
        self.checked.add(url)


# What sending to a provider, or reading its answer, can fail with: see upstream_failure.
UPSTREAM_FAILURES = (UnsafeUpstream, TimeoutError, aiohttp.ClientError)


def upstream_failure(exc: BaseException) -> HyditeError:
    """The caller's error for one of UPSTREAM_FAILURES (UpstreamNotAllowed, UpstreamTimeout, UpstreamUnavailable)."""
    if isinstance(exc, UnsafeUpstream):
        return UpstreamNotAllowed(str(exc))
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout()
    return UpstreamUnavailable(f"The model provider could not be reached ({type(exc).__name__}).")


async def upstream_post(
    session: aiohttp.ClientSession,
    upstream: UpstreamRequest,
    *,
    literal_check: LiteralHostCheck,
    timeout: aiohttp.ClientTimeout | None = None,
) -> aiohttp.ClientResponse:
    """The provider's response, to relay and release; fails with one of UPSTREAM_FAILURES.

    Redirects are never followed: an upstream must not bounce us (and our credential) elsewhere."""
    literal_check(upstream.url)
    timeout = timeout or session.timeout  # the deployment's, else the session's (the process's settings)
    try:
        return await session.post(
            upstream.url, data=upstream.body, headers=upstream.headers, allow_redirects=False, timeout=timeout
        )
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        # A pooled connection the upstream closed while idle (its keep-alive is often shorter than ours):
        # the request did not get through. Once more, on a new connection.
        return await session.post(
            upstream.url, data=upstream.body, headers=upstream.headers, allow_redirects=False, timeout=timeout
        )
