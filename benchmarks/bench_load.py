"""Load and measurement helpers of gateway_bench.py: wrk runs, time to first byte, RSS, process start."""

from __future__ import annotations

import asyncio
import os
import re
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

from hydite.devstack import PidFile, _stop

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MOCK_PORT = 9411
MOCK_URL = f"http://127.0.0.1:{MOCK_PORT}/v1"
PROMPT = [{"role": "user", "content": "hello from the benchmark"}]
SCENARIOS = ["c32 plain", "c64 plain", "c32 stream", "c64 stream"]


def taskset(cores: str) -> list[str]:
    return ["taskset", "-c", cores] if shutil.which("taskset") else []


@dataclass
class Result:
    target: str
    scenario: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    requests: int = 0
    cpu_us: float = 0.0  # CPU time the target's processes spent per request (0: not measured)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    model: str
    headers: dict[str, str]
    quotas: bool | None = None  # ours: with every quota layer on, or none (their limits are set before each run)
    pid: int | None = None
    tree: str | None = None  # ours: which checkout serves it ("working tree" or the baseline's label)
    gateway: str | None = None  # ours: the GATEWAYS entry, the same on both sides of a --baseline run


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def start(
    command: list[str], env: dict[str, str], pids: PidFile, name: str, stack: ExitStack, *, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    pids.add(name, process.pid)
    stack.callback(_stop, process, name)
    return process


def wait_http(url: str, timeout_s: float = 60, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the process serving {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


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
            requests=sum(r.requests for r in runs),
            cpu_us=statistics.median(r.cpu_us for r in runs),
        )
        for (target, scenario), runs in grouped.items()
    ]


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, *, body: str, headers: dict[str, str], connections: int, duration: int) -> Result:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    headers = {"Content-Type": "application/json", **headers}
    lines = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items())
    script.write(f'wrk.method = "POST"\nwrk.body = [[{body}]]\n{lines}')
    script.close()
    command = [*taskset("1"), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    os.unlink(script.name)
    result = Result(target="", scenario="")
    result.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    result.requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    result.p50_ms = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    result.p99_ms = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result.errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    )
    return result


async def _ttfb_ms(url: str, body: bytes, headers: dict[str, str], count: int) -> float:
    import aiohttp

    headers = {"Content-Type": "application/json", **headers}
    samples = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.content.readany()
                samples.append((time.perf_counter() - started) * 1000)
                await response.read()
    return statistics.median(samples)


def ttfb_ms(target: Target, count: int = 300) -> float:
    import orjson

    body = orjson.dumps({"model": target.model, "max_tokens": 12, "stream": True, "messages": PROMPT})
    return asyncio.run(_ttfb_ms(target.url, body, target.headers, count))


def cpu_seconds(pid: int | None) -> float:
    """User and system CPU time of a process and its children so far (0 for a target we did not start).

    CPU per request is steadier than requests/s on a machine whose speed drifts: other load on the machine
    lengthens the wall clock, not the work a request takes."""
    import psutil

    if pid is None:
        return 0.0
    process = psutil.Process(pid)
    times = [member.cpu_times() for member in (process, *process.children(recursive=True))]
    return sum(t.user + t.system for t in times)


def rss_mib(pids: list[int]) -> float:
    import psutil

    sizes = []
    for pid in pids:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        sizes += [member.memory_info().rss for member in family]
    return max(sizes) / 2**20 if sizes else 0.0


def measure(target: Target, *, duration: int) -> list[Result]:
    results = []
    # max_tokens as clients send it: the mock answers exactly that many words (12, its default), and a gateway
    # with budgets sends a request without one to the provider with its reservation's limit (4,096 words here)
    plain = (
        f'{{"model": "{target.model}", "max_tokens": 12, '
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
        cpu_before = cpu_seconds(target.pid)
        result = wrk(target.url, body=body, headers=target.headers, connections=connections, duration=duration)
        if target.pid is not None and result.requests:
            result.cpu_us = (cpu_seconds(target.pid) - cpu_before) * 1e6 / result.requests
        result.target, result.scenario = target.name, scenario
        results.append(result)
        print(
            f"  {target.name:<24} {scenario:<11} {result.rps:>9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  CPU {result.cpu_us:6.0f} µs/request  errors {result.errors}",
            flush=True,
        )
    return results
