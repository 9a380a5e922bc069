"""The router's cost (issue 17): an alias with three weighted deployments, retries and cooldowns on, and one
with latency-based routing, measured beside the single-deployment alias on the same gateway process.

Bounds: requests/s within 10 % and added c1 latency within 0.1 ms of the single deployment.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

from bench_baseline import Tree
from bench_load import PYTHON, SCENARIOS, Result, Target

ROUTED = {"weighted x3": "bench-weighted", "latency x3": "bench-latency"}  # target suffix → alias
RPS_BOUND, ADDED_MS_BOUND = 0.90, 0.1

# Run in the working tree's database once: three deployments of the mock per alias, and their router.
ROUTING = """
from django_tenants.utils import schema_context
from apps.channels.models import Deployment
from apps.channels.router_services import channel_router_set
from apps.channels.services import DeploymentSpec, channel_model_set
from apps.keys.models import VirtualKey
from apps.keys.services import key_hash
with schema_context("edge"):
    key = VirtualKey.objects.select_related("channel", "organization").get(key_hash=key_hash("{key}"))
    channel = key.channel
    base = Deployment.objects.filter(channel_model__channel=channel, channel_model__alias="gpt-4o-mini").first()
    for alias, weights in (("bench-weighted", (5, 3, 2)), ("bench-latency", (1, 1, 1))):
        specs = [
            DeploymentSpec(base.provider, base.upstream_model, base.api_base, base.credential, weight=weight)
            for weight in weights
        ]
        channel_model_set(channel=channel, alias=alias, deployments=specs, actor=None, platform_managed=True)
    router = {
        "strategy": "weighted",
        "retries": 2,
        "cooldown": {"failures": 3, "window_s": 60, "seconds": 30},
        "aliases": {"bench-latency": {"strategy": "latency"}},
    }
    channel_router_set(channel=channel, router=router, actor=None, gated=False)
"""


def routing_set(tree: Tree) -> None:
    script = ROUTING.replace("{key}", tree.key)
    command = [PYTHON, "manage.py", "shell", "-c", script]
    subprocess.run(command, cwd=tree.root, env=tree.env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603


def routed_targets(single: Target) -> list[Target]:
    """The same gateway process, called with the routed aliases instead of the single deployment's."""
    return [replace(single, name=f"{single.name} {suffix}", model=alias) for suffix, alias in ROUTED.items()]


def report_routing(results: list[Result], ttfb: dict[str, float], single: str) -> None:
    by = {(r.target, r.scenario): r for r in results}
    if (single, "c1 plain") not in by:
        return
    direct_c1 = by[("direct (mock)", "c1 plain")].p50_ms
    print(f"\n| routed alias | figure | {single} | routed | routed / single | holds |\n|---|---|---|---|---|---|")
    for suffix in ROUTED:
        routed = f"{single} {suffix}"
        if (routed, "c1 plain") not in by:
            continue
        for scenario in SCENARIOS:
            before, after = by[(single, scenario)].rps, by[(routed, scenario)].rps
            ratio = after / max(before, 0.01)
            holds = "yes" if ratio >= RPS_BOUND else "NO"
            print(f"| {suffix} | {scenario} req/s | {before:,.0f} | {after:,.0f} | {ratio:.3f} | {holds} |")
        before = by[(single, "c1 plain")].p50_ms - direct_c1
        after = by[(routed, "c1 plain")].p50_ms - direct_c1
        holds = "yes" if after - before <= ADDED_MS_BOUND else "NO"
        print(f"| {suffix} | added c1 p50 ms | {before:+.3f} | {after:+.3f} | {after - before:+.3f} ms | {holds} |")
        print(f"| {suffix} | stream TTFB p50 ms | {ttfb[single]:.3f} | {ttfb[routed]:.3f} | | |")
