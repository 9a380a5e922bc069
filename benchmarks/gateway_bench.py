"""Load benchmark of the /v1 gateway against the built-in mock provider.

    .venv/bin/python benchmarks/gateway_bench.py [--duration 5] [--rounds 3] [--compare litellm,portkey]
        [--only TARGETS] [--baseline GIT_REF]

Starts (embedded, unless DATABASE_URL/REDIS_URL say otherwise) PostgreSQL and
Redis, the mock provider, the spend consumer and the gateway with production
settings (key auth, channel resolution and spend events on). The gateway is
pinned to core 0; wrk, the mock, the consumer, PostgreSQL and Redis to core 1
(where taskset exists). Every target runs from the start; the measurements go
round by round over all of them, so a machine whose speed drifts affects all
alike, and the table shows each figure's median over the rounds: requests/s at
concurrency 32 and 64 (non-streaming, and streaming with 20 chunks), p50/p99,
added latency at concurrency 1, added time to first byte of streams, RSS after
load, errors (summed).
The gateway runs with no limits ("gateway 1w"), then with every quota layer
counting ("quotas": key, team and organisation RPM/TPM/budget, the prepaid wallet, and the gateway
layer per key and per IP, all too high to refuse), and prints the cost. Beside "gateway 1w", the same
process is called with two routed aliases of three deployments each (weighted with retries and cooldowns;
latency-based) and a third table gives the router's cost (bench_routing.py); a fourth gives the cost of
Anthropic's Messages dialect, the same alias called on /v1/messages (bench_dialects.py).
--compare runs peers (LiteLLM Proxy, Portkey's gateway) on the gateway's core against the same mock.
--baseline GIT_REF checks that ref out in a temporary git worktree, prepares its own database with its
own migrations and seed, and runs its gateways beside the working tree's: each pair is measured back to
back in every round (in alternating order), and a second table gives each figure on both sides and their ratio.
Loopback only; every load is bounded by --duration.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_baseline import Tree, baseline_env, limits_script, requirements_check, resolve, tree_prepare, worktree  # noqa: E402
from bench_dialects import dialect_targets, report_dialects  # noqa: E402
from bench_load import (  # noqa: E402
    MOCK_PORT,
    MOCK_URL,
    PYTHON,
    SCENARIOS,
    Result,
    Target,
    bearer,
    measure,
    medians,
    rss_mib,
    start,
    taskset,
    ttfb_ms,
    wait_http,
)
from bench_peers import PEERS  # noqa: E402
from bench_routing import report_routing, routed_targets, routing_set  # noqa: E402

from hydite.devstack import PidFile, service_env  # noqa: E402

STREAM_CHUNKS = 20
WORKING = "working tree"
BASELINE_PORT_OFFSET = 10
RPS_BOUND, ADDED_MS_BOUND = 0.95, 0.05  # issue 16: every requests/s within 5 %, the added c1 latency within 0.05 ms


def pin_services(pids: PidFile, cores: str) -> None:
    """Move the embedded PostgreSQL and Valkey (and every thread and backend they fork) off the gateway's core."""
    if not shutil.which("taskset"):
        return
    for line in pids.path.read_text().splitlines():
        pid, name = line.split(" ", 1)
        if name in {"postgres", "valkey"}:
            subprocess.run(["taskset", "-a", "-p", "-c", cores, pid], check=True, stdout=subprocess.DEVNULL)  # noqa: S603, S607


# name, port, workers, cores, every quota layer on
GATEWAYS = [
    ("gateway 1w", 9412, 1, "0", False),
    ("gateway 1w quotas", 9414, 1, "0", True),
    ("gateway 2w quotas", 9415, 2, "0,1", True),
]
ROUTED_BESIDE = "gateway 1w"  # the gateway whose single-deployment alias the routed aliases are measured beside
SNAPSHOT_SETTLE_S = 1.5  # changed limits reach every gateway process within a second


def gateway_command(*, port: int, workers: int, cores: str) -> list[str]:
    return [
        *taskset(cores),
        PYTHON,
        "-m",
        "uvicorn",
        "hydite.asgi:application",
        *["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        *["--loop", "uvloop", "--http", "httptools"],
        *["--no-access-log", "--no-proxy-headers", "--log-level", "warning"],
    ]


# Read by later runs' --baseline from this file at their ref (bench_baseline.limits_script): keep it a plain string.
LIMITS = """
from django_tenants.utils import schema_context
from apps.keys.models import VirtualKey
from apps.keys.services import key_hash, key_update_limits
from apps.quotas.services import quota_limits_update
from apps.accounts.models import User
from apps.orgs.models import BillingMode, Organization
from apps.wallet.models import Wallet
from apps.wallet.services.ledger import wallet_adjust
ON = {on}
with schema_context("edge"):
    key = VirtualKey.objects.select_related("team", "organization").get(key_hash=key_hash("{key}"))
    rpm, tpm, budget = (10**9, 10**12, 10**15) if ON else (None, None, None)
    key_update_limits(key=key, actor=None, rpm_limit=rpm, tpm_limit=tpm, max_budget_micros=budget)
    quota_limits_update(holder=key.team, actor=None, rpm_limit=rpm, tpm_limit=tpm, max_budget_micros=budget)
    # On: the organisation pays as it goes, so every request is also metered against its wallet.
    organization = key.organization
    mode = BillingMode.PREPAID if ON else BillingMode.INVOICE
    Organization.objects.filter(pk=organization.pk).update(billing_mode=mode)
    wallet = Wallet.objects.filter(organization=organization).first()
    if ON and (wallet is None or wallet.balance_micros < 10**14):
        operator = User.objects.filter(is_superuser=True).first()
        wallet_adjust(organization=organization, amount_micros=10**15, reason="benchmark credit", actor=operator)
    quota_limits_update(holder=key.organization, actor=None, rpm_limit=rpm, max_budget_micros=budget)
"""


def limits_set(tree: Tree, *, on: bool) -> None:
    """Key, team and organisation limits (RPM, TPM, budget) and the wallet: none, or high enough never to refuse."""
    script = tree.limits.replace("{key}", tree.key).replace("{on}", str(on))
    command = [PYTHON, "manage.py", "shell", "-c", script]
    subprocess.run(command, cwd=tree.root, env=tree.env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603


def gateway_defaults(*, on: bool) -> dict[str, str]:
    """The Shared Edge's per-key and per-IP gateway layer: off, or on with limits that never refuse."""
    value = str(10**9) if on else "0"
    return {"GATEWAY_DEFAULT_RPM": value, "GATEWAY_DEFAULT_TPM": value}


def bench_env(state: Path) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "HYDITE_STATE_DIR": str(state),
        "LOG_LEVEL": "WARNING",
        "HYDITE_FERNET_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "HYDITE_MOCK_PROVIDER_URL": MOCK_URL,
        "HYDITE_ADMIN_PASSWORD": "bench-only-pw-1",
        "STATIC_ROOT": str(state / "static"),
        "GATEWAY_UPSTREAM_ALLOWLIST": "127.0.0.1",
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over every target, interleaved; medians reported (default 3)"
    )
    parser.add_argument("--compare", default="", help=f"comma-separated peers to run beside: {', '.join(PEERS)}")
    parser.add_argument(
        "--only", default="", help="comma-separated gateway targets to run, e.g. 'gateway 1w,gateway 1w quotas'"
    )
    parser.add_argument("--baseline", metavar="GIT_REF", help="also measure this ref's gateways, side by side")
    parser.add_argument(
        "--allow-requirements-drift",
        action="store_true",
        help="measure --baseline even if this virtualenv lacks its pinned requirements",
    )
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - {gateway[0] for gateway in GATEWAYS}
    if unknown:
        raise SystemExit(f"--only: unknown targets {sorted(unknown)}")
    args.compare = [name.strip() for name in args.compare.split(",") if name.strip()]
    if set(args.compare) - set(PEERS):
        raise SystemExit(f"--compare: unknown peers {sorted(set(args.compare) - set(PEERS))}; known: {list(PEERS)}")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: processes stopped, the baseline's worktree removed


def trees_prepare(args: argparse.Namespace, stack: ExitStack, pids: PidFile, state: Path) -> list[Tree]:
    """The working tree's services and demo tenant, and the baseline's (first) when --baseline is given."""
    checkout = worktree(stack, args.baseline_sha) if args.baseline else None  # removed after everything stops
    env = service_env(stack, pids, "-bench", own_session=False)
    pin_services(pids, "1")
    env.update(bench_env(state))
    trees = [Tree(WORKING, ROOT, env, tree_prepare(ROOT, env), LIMITS)]
    routing_set(trees[0])
    if checkout is not None:
        embedded_redis = not os.environ.get("REDIS_URL")
        base_env = baseline_env(env, state / "baseline", embedded_redis=embedded_redis)
        label = f"@{args.baseline}"
        limits = limits_script(args.baseline_sha, LIMITS)
        trees.insert(0, Tree(label, checkout, base_env, tree_prepare(checkout, base_env), limits))
    return trees


def services_start(trees: list[Tree], stack: ExitStack, pids: PidFile) -> None:
    """The one mock provider both sides call (the working tree's), and a spend consumer per checkout."""
    mock = [*taskset("1"), PYTHON, "-m", "apps.mock_provider", "--port", str(MOCK_PORT)]
    start([*mock, "--chunks", str(STREAM_CHUNKS)], trees[-1].env, pids, "mock", stack)
    for tree in trees:
        consumer = [*taskset("1"), PYTHON, "manage.py", "spend_consumer"]
        start(consumer, tree.env, pids, f"spend-consumer {tree.label}", stack, cwd=tree.root)
    wait_http(f"http://127.0.0.1:{MOCK_PORT}/health")


def gateways_start(args: argparse.Namespace, trees: list[Tree], stack: ExitStack, pids: PidFile) -> list[list[Target]]:
    """Each chosen gateway, once per checkout: a group of targets measured back to back in every round."""
    groups = []
    for name, port, workers, cores, quotas in GATEWAYS:
        if args.only and name not in args.only:
            continue
        group = []
        for tree in trees:
            tree_port = port if tree.label == WORKING else port + BASELINE_PORT_OFFSET
            command = gateway_command(port=tree_port, workers=workers, cores=cores)
            target_name = name if tree.label == WORKING else f"{name} {tree.label}"
            env = {**tree.env, **gateway_defaults(on=quotas)}
            process = start(command, env, pids, target_name, stack, cwd=tree.root)
            wait_http(f"http://127.0.0.1:{tree_port}/healthz", process=process)
            url = f"http://127.0.0.1:{tree_port}/v1/chat/completions"
            target = Target(target_name, url, "gpt-4o-mini", bearer(tree.key), quotas, process.pid, tree.label, name)
            group.append(target)
        groups.append(group)
        if name == ROUTED_BESIDE:  # the router's cost: routed aliases on the same process, measured alike
            groups += [[routed] for routed in routed_targets(group[-1])]
            groups += [[dialect] for dialect in dialect_targets(group[-1])]
    return groups


def limits_follow(target: Target, trees: dict[str, Tree], limits_on: dict[str, bool]) -> None:
    """Set the limits `target` runs with in its checkout's database, unless they are set already."""
    if target.tree is None or target.quotas is None or limits_on.get(target.tree) == target.quotas:
        return
    limits_set(trees[target.tree], on=target.quotas)
    limits_on[target.tree] = target.quotas
    time.sleep(SNAPSHOT_SETTLE_S)


def rounds_run(
    groups: list[list[Target]], trees: list[Tree], args: argparse.Namespace
) -> tuple[list[Result], dict[str, float], dict[str, float]]:
    """Round by round over every target; a group's targets back to back, their order alternating by round."""
    by_label = {tree.label: tree for tree in trees}
    results: list[Result] = []
    ttfb: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    limits_on: dict[str, bool] = {}
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number}", flush=True)
        for group in groups:
            for target in group if round_number % 2 else group[::-1]:
                limits_follow(target, by_label, limits_on)
                results += measure(target, duration=args.duration)
                ttfb.setdefault(target.name, []).append(ttfb_ms(target))
                if target.pid is not None:
                    rss[target.name] = max(rss.get(target.name, 0.0), rss_mib([target.pid]))
    return results, {name: statistics.median(samples) for name, samples in ttfb.items()}, rss


def main() -> int:
    args = parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    if args.baseline:
        args.baseline_sha = resolve(args.baseline)
        requirements_check(args.baseline_sha, allow_drift=args.allow_requirements_drift)
    if shutil.which("taskset") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this driver measures TTFB itself: keep it off the gateway's core
    signal.signal(signal.SIGTERM, _interrupt)
    state = ROOT / ".hydite" / "bench"
    state.mkdir(parents=True, exist_ok=True)
    pids = PidFile(state / "bench.pids")
    with ExitStack() as stack:
        trees = trees_prepare(args, stack, pids, state)
        services_start(trees, stack, pids)
        direct = Target("direct (mock)", f"{MOCK_URL}/chat/completions", "mock-gpt-4o-mini", {})
        groups = [[direct], *gateways_start(args, trees, stack, pids)]
        groups += [[PEERS[peer](trees[-1].env, stack, pids)] for peer in args.compare]
        sides = f", baseline {args.baseline} ({args.baseline_sha[:7]}) beside the working tree" if args.baseline else ""
        print(
            f"Gateway benchmark, {args.duration}s per run, {args.rounds} rounds{sides}, {time.strftime('%Y-%m-%d')}",
            flush=True,
        )
        results, ttfb, rss = rounds_run(groups, trees, args)
        report(medians(results), ttfb, rss, args.compare)
        if args.baseline:
            report_baseline(medians(results), ttfb, [group for group in groups if len(group) == 2], args.baseline)
        report_routing(medians(results), ttfb, ROUTED_BESIDE)
        report_dialects(medians(results), ttfb, ROUTED_BESIDE)
    return 0


def report(results: list[Result], ttfb: dict[str, float], rss: dict[str, float], peers: list[str]) -> None:
    by = {(r.target, r.scenario): r for r in results}
    targets = list(dict.fromkeys(r.target for r in results))
    print(
        "\n| target | "
        + " | ".join(f"{s} req/s (p50/p99 ms)" for s in SCENARIOS)
        + " | c1 p50 ms | added c1 p50 ms | stream TTFB p50 ms | added TTFB ms | RSS MiB | errors |"
    )
    print("|---" * (len(SCENARIOS) + 7) + "|")
    direct_c1 = by[("direct (mock)", "c1 plain")].p50_ms
    for target in targets:
        cells = [
            f"{by[(target, s)].rps:,.0f} ({by[(target, s)].p50_ms:.2f}/{by[(target, s)].p99_ms:.2f})" for s in SCENARIOS
        ]
        c1 = by[(target, "c1 plain")].p50_ms
        errors = sum(r.errors for r in results if r.target == target)
        print(
            f"| {target} | " + " | ".join(cells) + f" | {c1:.2f} | {c1 - direct_c1:+.2f} | {ttfb[target]:.2f} | "
            f"{ttfb[target] - ttfb['direct (mock)']:+.2f} | {rss.get(target, 0):.0f} | {errors} |"
        )
    if ("gateway 1w", "c32 plain") in by and ("gateway 1w quotas", "c32 plain") in by:
        drops = ", ".join(
            f"{s}: {100 * (1 - by[('gateway 1w quotas', s)].rps / by[('gateway 1w', s)].rps):+.1f}%" for s in SCENARIOS
        )
        print(f"\nrequests/s lost with every quota layer on (1 worker): {drops}")
    for peer in peers:
        for target in (t for t in targets if t.startswith("gateway")):
            ratios = ", ".join(f"{s}: {by[(target, s)].rps / max(by[(peer, s)].rps, 0.01):.1f}x" for s in SCENARIOS)
            print(f"\n{target} vs {peer}: {ratios}")


def report_baseline(results: list[Result], ttfb: dict[str, float], pairs: list[list[Target]], ref: str) -> None:
    """Each figure on both sides and working tree / baseline; "holds" applies issue 16's bounds."""
    by = {(r.target, r.scenario): r for r in results}
    direct_c1, direct_ttfb = by[("direct (mock)", "c1 plain")].p50_ms, ttfb["direct (mock)"]
    print(f"\n| figure | baseline {ref} | working tree | working / baseline | holds |\n|---|---|---|---|---|")
    for base, work in pairs:
        for s in SCENARIOS:
            before, after = by[(base.name, s)].rps, by[(work.name, s)].rps
            ratio = after / max(before, 0.01)
            holds = "yes" if ratio >= RPS_BOUND else "NO"
            print(f"| {work.gateway} {s} req/s | {before:,.0f} | {after:,.0f} | {ratio:.3f} | {holds} |")
        for s in SCENARIOS:
            before, after = by[(base.name, s)].cpu_us, by[(work.name, s)].cpu_us
            ratio = after / max(before, 0.01)
            holds = "yes" if ratio <= 1 / RPS_BOUND else "NO"
            print(f"| {work.gateway} {s} CPU µs per request | {before:,.0f} | {after:,.0f} | {ratio:.3f} | {holds} |")
        before, after = by[(base.name, "c1 plain")].p50_ms - direct_c1, by[(work.name, "c1 plain")].p50_ms - direct_c1
        holds = "yes" if after - before <= ADDED_MS_BOUND else "NO"
        print(
            f"| {work.gateway} added c1 p50 ms | {before:+.3f} | {after:+.3f} | {after / before if before else 0:.3f} "
            f"({after - before:+.3f} ms) | {holds} |"
        )
        before, after = ttfb[base.name] - direct_ttfb, ttfb[work.name] - direct_ttfb
        print(
            f"| {work.gateway} added stream TTFB ms | {before:+.3f} | {after:+.3f} | "
            f"{after / before if before else 0:.3f} ({after - before:+.3f} ms) | |"
        )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: every process it started is stopped (and a --baseline worktree removed)", file=sys.stderr)
        sys.exit(130)
