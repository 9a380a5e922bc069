"""The routing drill: block an alias's primary deployment (through the mock provider's failure injection),
send requests through the gateway, and tell where they went, in how many attempts and at what added latency.

Development and staging only: only a deployment served by the mock provider (`…/mock/<name>/…`) can be blocked.
"""

import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from apps.channels.models import Channel, Deployment
from apps.keys.models import KeyStatus
from apps.keys.services import key_generate, key_set_status
from apps.orgs.models import Team
from apps.orgs.roles import Role

MOCK_TARGET = re.compile(r"/mock/([a-z0-9][a-z0-9_-]{0,39})(?:/|$)")


class DrillRefused(Exception):
    pass


@dataclass(frozen=True)
class Sent:
    status: int
    deployment: str
    attempts: str
    fallback: str
    ms: float


def primary_deployment(channel: Channel, alias: str) -> Deployment:
    """The deployment most traffic of the alias goes to (the highest weight, the oldest first)."""
    deployment = (
        Deployment.objects.filter(channel_model__channel=channel, channel_model__alias=alias, is_active=True)
        .order_by("-weight", "id")
        .first()
    )
    if deployment is None:
        raise DrillRefused(f"The channel {channel.slug} has no active deployment of `{alias}`.")
    return deployment


def mock_fault_url(deployment: Deployment) -> str:
    """Where the mock provider serving `deployment` takes a fault for it (DrillRefused if none does)."""
    parts = urlsplit(deployment.api_base)
    target = MOCK_TARGET.search(parts.path)
    if target is None or parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise DrillRefused(
            f"Deployment {deployment.pk} ({deployment.api_base}) is not served by the local mock provider "
            "(…/mock/<name>/…): the drill blocks only mock deployments."
        )
    return f"{parts.scheme}://{parts.netloc}/mock/faults/{target.group(1)}"


def drill(*, channel: Channel, alias: str, gateway: str, requests: int, say: Callable[[str], None]) -> list[Sent]:
    """Block the primary, send `requests` requests through the gateway, restore it; returns what each got."""
    deployment = primary_deployment(channel, alias)
    fault_url = mock_fault_url(deployment)
    team = Team.objects.get(organization=channel.organization, is_default=True)
    owner = (
        channel.organization.memberships.filter(role=Role.ORG_ADMIN, team__isnull=True).select_related("user").first()
    )
    if owner is None:
        raise DrillRefused(f"The organisation of {channel.slug} has no admin to mint the drill's key for.")
    key, plaintext = key_generate(
        organization=channel.organization,
        team=team,
        user=owner.user,
        name="routing drill",
        actor=owner.user,
        channel=channel,
    )
    try:
        with httpx.Client(base_url=gateway.rstrip("/"), timeout=60) as client:
            time.sleep(1.2)  # the key's snapshot reaches every gateway process
            healthy = [_send(client, plaintext, alias) for _ in range(max(3, requests // 4))]
            upstream = f"{deployment.provider}/{deployment.upstream_model}"
            say(f"blocking deployment {deployment.pk} ({upstream}): 503 on every request")
            httpx.put(fault_url, json={"status": 503}, timeout=5).raise_for_status()
            try:
                blocked = [_send(client, plaintext, alias) for _ in range(requests)]
            finally:
                httpx.delete(fault_url, timeout=5)
                say(f"restored deployment {deployment.pk}")
    finally:
        key_set_status(key=key, status=KeyStatus.REVOKED, actor=None, reason="routing drill over")
    _report(healthy, blocked, say)
    return blocked


def _send(client: httpx.Client, key: str, alias: str) -> Sent:
    body = {"model": alias, "messages": [{"role": "user", "content": "routing drill"}]}
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
    ms = (time.perf_counter() - started) * 1000
    headers = response.headers
    return Sent(
        response.status_code,
        headers.get("x-hydite-deployment", "-"),
        headers.get("x-hydite-attempts", "-"),
        headers.get("x-hydite-fallback", ""),
        ms,
    )


def _report(healthy: list[Sent], blocked: list[Sent], say: Callable[[str], None]) -> None:
    say(f"{'#':>3} {'status':>6} {'deployment':>10} {'attempts':>8} {'fallback':<24} {'ms':>8}")
    for number, sent in enumerate(blocked, start=1):
        fallback = sent.fallback or "-"
        say(f"{number:>3} {sent.status:>6} {sent.deployment:>10} {sent.attempts:>8} {fallback:<24} {sent.ms:>8.1f}")
    served = Counter(sent.deployment for sent in blocked if sent.status == 200)
    say(f"answered: {sum(served.values())}/{len(blocked)}; by deployment: {dict(served)}")
    say(f"attempts: {dict(Counter(sent.attempts for sent in blocked))}")
    before = statistics.median(sent.ms for sent in healthy)
    during = statistics.median(sent.ms for sent in blocked)
    say(f"median latency: {before:.1f} ms before, {during:.1f} ms with the primary blocked (+{during - before:.1f} ms)")
