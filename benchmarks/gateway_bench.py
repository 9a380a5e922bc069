"""Load benchmark of the /v1 gateway against the built-in mock provider.

    .venv/bin/python benchmarks/gateway_bench.py [--duration 5] [--rounds 3] [--compare litellm] [--only TARGETS]

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
layer per key and per IP, all too high to refuse), and prints the cost.
Loopback only; every load is bounded by --duration.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hydite.devstack import PidFile, _stop, service_env  # noqa: E402

PYTHON = sys.executable
MOCK_PORT, LITELLM_PORT = 9411, 9413
STREAM_CHUNKS = 20
LITELLM = "litellm[proxy]==1.108.7"  # the release measured in README
PROMPT = [{"role": "user", "content": "hello from the benchmark"}]


def taskset(cores: str) -> list[str]:
    return ["taskset", "-c", cores] if shutil.which("taskset") else []


def pin_services(pids: PidFile, cores: str) -> None:
    """Move the embedded PostgreSQL and Valkey (and every thread and backend they fork) off the gateway's core."""
    if not shutil.which("taskset"):
        return
    for line in pids.path.read_text().splitlines():
        pid, name = line.split(" ", 1)
        if name in {"postgres", "valkey"}:
            subprocess.run(["taskset", "-a", "-p", "-c", cores, pid], check=True, stdout=subprocess.DEVNULL)  # noqa: S603, S607


@dataclass
class Result:
    target: str
    scenario: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    model: str
    key: str | None
    quotas: bool | None = None  # ours: with every quota layer on, or none (their limits are set before each run)
    pid: int | None = None


# name, port, workers, cores, every quota layer on
GATEWAYS = [
    ("gateway 1w", 9412, 1, "0", False),
    ("gateway 1w quotas", 9414, 1, "0", True),
    ("gateway 2w quotas", 9415, 2, "0,1", True),
]
SNAPSHOT_SETTLE_S = 1.5  # changed limits reach every gateway process within a second


def gateway_command(*, port: int, workers: int, cores: str) -> list[str]:
    return [
        *taskset(cores),
        PYTHON,
        "-m",
        "uvicorn",
        "hydite.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--no-proxy-headers",
        "--log-level",
        "warning",
    ]


def medians(results: list[Result]) -> list[Result]:
    """One result per target and scenario: the median of the rounds (errors: their sum)."""
    grouped: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        grouped.setdefault((result.target, result.scenario), []).append(result)
    return [
        Result(
            target=target,
            scenario=scenario,
            rps=statistics.median(r.rps for r in runs),
            p50_ms=statistics.median(r.p50_ms for r in runs),
            p99_ms=statistics.median(r.p99_ms for r in runs),
            errors=sum(r.errors for r in runs),
        )
        for (target, scenario), runs in grouped.items()
    ]


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, *, body: str, key: str | None, connections: int, duration: int) -> Result:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if key:
        headers += f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    script.write(f'wrk.method = "POST"\nwrk.body = [[{body}]]\n{headers}')
    script.close()
    command = [*taskset("1"), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    os.unlink(script.name)
    result = Result(target="", scenario="")
    result.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    result.p50_ms = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    result.p99_ms = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result.errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    )
    return result


async def _ttfb_ms(url: str, body: bytes, key: str | None, count: int) -> float:
    import aiohttp

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    samples = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.content.readany()
                samples.append((time.perf_counter() - started) * 1000)
                await response.read()
    return statistics.median(samples)


def ttfb_ms(url: str, *, model: str, key: str | None, count: int = 300) -> float:
    import orjson

    body = orjson.dumps({"model": model, "stream": True, "messages": PROMPT})
    return asyncio.run(_ttfb_ms(url, body, key, count))


def rss_mib(pids: list[int]) -> float:
    import psutil

    sizes = []
    for pid in pids:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        sizes += [member.memory_info().rss for member in family]
    return max(sizes) / 2**20 if sizes else 0.0


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def measure(target: str, url: str, *, model: str, key: str | None, duration: int) -> list[Result]:
    results = []
    # max_tokens as clients send it: the mock answers exactly that many words (12, its default), and a gateway
    # with budgets sends a request without one to the provider with its reservation's limit (4,096 words here)
    plain = (
        f'{{"model": "{model}", "max_tokens": 12, '
        '"messages": [{"role": "user", "content": "hello from the benchmark"}]}'
    )
    streamed = plain[:-1] + ', "stream": true}'
    for scenario, body, connections in (
        ("c1 plain", plain, 1),
        ("c32 plain", plain, 32),
        ("c64 plain", plain, 64),
        ("c32 stream", streamed, 32),
        ("c64 stream", streamed, 64),
    ):
        result = wrk(url, body=body, key=key, connections=connections, duration=duration)
        result.target, result.scenario = target, scenario
        results.append(result)
        print(
            f"  {target:<14} {scenario:<11} {result.rps:>9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  errors {result.errors}",
            flush=True,
        )
    return results


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


def limits_set(env: dict[str, str], key: str, *, on: bool) -> None:
    """Key, team and organisation limits (RPM, TPM, budget) and the wallet: none, or high enough never to refuse."""
    script = LIMITS.replace("{key}", key).replace("{on}", str(on))
    subprocess.run([PYTHON, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True)  # noqa: S603


def gateway_defaults(*, on: bool) -> dict[str, str]:
    """The Shared Edge's per-key and per-IP gateway layer: off, or on with limits that never refuse."""
    value = str(10**9) if on else "0"
    return {"GATEWAY_DEFAULT_RPM": value, "GATEWAY_DEFAULT_TPM": value}


def start(
    command: list[str], env: dict[str, str], pids: PidFile, name: str, stack: ExitStack
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    pids.add(name, process.pid)
    stack.callback(_stop, process, name)
    return process


def litellm_target(env: dict[str, str], stack: ExitStack, pids: PidFile) -> tuple[str, str, subprocess.Popen[bytes]]:
    venv = ROOT / ".hydite" / "litellm-venv"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM], check=True)  # noqa: S603
    config = ROOT / ".hydite" / "litellm-bench.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/mock-gpt-4o-mini\n"
        f"      api_base: http://127.0.0.1:{MOCK_PORT}/v1\n      api_key: unused\n"
        "general_settings:\n  master_key: sk-litellm-bench\n"
    )
    litellm_env = {k: v for k, v in env.items() if k not in {"DATABASE_URL"}}
    command = [
        *taskset("0"),
        str(venv / "bin" / "litellm"),
        "--config",
        str(config),
        "--port",
        str(LITELLM_PORT),
        "--num_workers",
        "1",
    ]
    process = start(command, litellm_env, pids, "litellm", stack)
    wait_http(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", timeout_s=180)
    return f"http://127.0.0.1:{LITELLM_PORT}/v1/chat/completions", "sk-litellm-bench", process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over every target, interleaved; medians reported (default 3)"
    )
    parser.add_argument("--compare", choices=["litellm"], default=None)
    parser.add_argument(
        "--only", default="", help="comma-separated gateway targets to run, e.g. 'gateway 1w,gateway 1w quotas'"
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - {gateway[0] for gateway in GATEWAYS}
    if unknown:
        raise SystemExit(f"--only: unknown targets {sorted(unknown)}")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    if shutil.which("taskset") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this driver measures TTFB itself: keep it off the gateway's core
    state = ROOT / ".hydite" / "bench"
    state.mkdir(parents=True, exist_ok=True)
    pids = PidFile(state / "bench.pids")
    with ExitStack() as stack:
        env = service_env(stack, pids, "-bench", own_session=False)
        pin_services(pids, "1")
        env.update(
            {
                "DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(40),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "0",
                "HYDITE_STATE_DIR": str(state),
                "LOG_LEVEL": "WARNING",
                "HYDITE_FERNET_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "HYDITE_MOCK_PROVIDER_URL": f"http://127.0.0.1:{MOCK_PORT}/v1",
                "HYDITE_ADMIN_PASSWORD": "bench-only-pw-1",
                "STATIC_ROOT": str(state / "static"),
                "GATEWAY_UPSTREAM_ALLOWLIST": "127.0.0.1",
            }
        )
        subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
        subprocess.run([PYTHON, "manage.py", "migrate_schemas", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
        subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        key = (state / "demo-key").read_text().strip()
        start(
            [
                *taskset("1"),
                PYTHON,
                "-m",
                "apps.mock_provider",
                "--port",
                str(MOCK_PORT),
                "--chunks",
                str(STREAM_CHUNKS),
            ],
            env,
            pids,
            "mock",
            stack,
        )
        start([*taskset("1"), PYTHON, "manage.py", "spend_consumer"], env, pids, "spend-consumer", stack)
        wait_http(f"http://127.0.0.1:{MOCK_PORT}/health")
        direct = f"http://127.0.0.1:{MOCK_PORT}/v1/chat/completions"
        targets = [Target("direct (mock)", direct, "mock-gpt-4o-mini", None)]
        for name, port, workers, cores, quotas in GATEWAYS:
            if chosen and name not in chosen:
                continue
            process = start(
                gateway_command(port=port, workers=workers, cores=cores),
                {**env, **gateway_defaults(on=quotas)},
                pids,
                name,
                stack,
            )
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            targets.append(Target(name, url, "gpt-4o-mini", key, quotas=quotas, pid=process.pid))
            wait_http(f"http://127.0.0.1:{port}/healthz")
        if args.compare == "litellm":
            url, litellm_key, process = litellm_target(env, stack, pids)
            targets.append(Target("litellm", url, "gpt-4o-mini", litellm_key, pid=process.pid))
        print(
            f"Gateway benchmark, {args.duration}s per run, {args.rounds} rounds, {time.strftime('%Y-%m-%d')}",
            flush=True,
        )
        results: list[Result] = []
        ttfb: dict[str, list[float]] = {target.name: [] for target in targets}
        rss: dict[str, float] = {}
        limits_on: bool | None = None
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}", flush=True)
            for target in targets:
                if target.quotas is not None and target.quotas != limits_on:
                    limits_set(env, key, on=target.quotas)
                    limits_on = target.quotas
                    time.sleep(SNAPSHOT_SETTLE_S)
                results += measure(target.name, target.url, model=target.model, key=target.key, duration=args.duration)
                ttfb[target.name].append(ttfb_ms(target.url, model=target.model, key=target.key))
                if target.pid is not None:
                    rss[target.name] = max(rss.get(target.name, 0.0), rss_mib([target.pid]))
        report(medians(results), {name: statistics.median(samples) for name, samples in ttfb.items()}, rss)
    return 0


def report(results: list[Result], ttfb: dict[str, float], rss: dict[str, float]) -> None:
    by = {(r.target, r.scenario): r for r in results}
    targets = list(dict.fromkeys(r.target for r in results))
    scenarios = ["c32 plain", "c64 plain", "c32 stream", "c64 stream"]
    print(
        "\n| target | "
        + " | ".join(f"{s} req/s (p50/p99 ms)" for s in scenarios)
        + " | c1 p50 ms | added c1 p50 ms | stream TTFB p50 ms | added TTFB ms | RSS MiB | errors |"
    )
    print("|---" * (len(scenarios) + 7) + "|")
    direct_c1 = by[("direct (mock)", "c1 plain")].p50_ms
    for target in targets:
        cells = [
            f"{by[(target, s)].rps:,.0f} ({by[(target, s)].p50_ms:.2f}/{by[(target, s)].p99_ms:.2f})" for s in scenarios
        ]
        c1 = by[(target, "c1 plain")].p50_ms
        errors = sum(r.errors for r in results if r.target == target)
        print(
            f"| {target} | " + " | ".join(cells) + f" | {c1:.2f} | {c1 - direct_c1:+.2f} | {ttfb[target]:.2f} | "
            f"{ttfb[target] - ttfb['direct (mock)']:+.2f} | {rss.get(target, 0):.0f} | {errors} |"
        )
    if ("gateway 1w", "c32 plain") in by and ("gateway 1w quotas", "c32 plain") in by:
        drops = ", ".join(
            f"{s}: {100 * (1 - by[('gateway 1w quotas', s)].rps / by[('gateway 1w', s)].rps):+.1f}%" for s in scenarios
        )
        print(f"\nrequests/s lost with every quota layer on (1 worker): {drops}")
    if "litellm" in targets:
        for target in (t for t in targets if t.startswith("gateway")):
            ratios = ", ".join(
                f"{s}: {by[(target, s)].rps / max(by[('litellm', s)].rps, 0.01):.1f}x" for s in scenarios
            )
            print(f"\n{target} vs LiteLLM: {ratios}")


if __name__ == "__main__":
    sys.exit(main())
