"""The peers gateway_bench.py measures beside Hydite (--compare): LiteLLM Proxy and Portkey's open-source gateway.

Each is installed on first use under .hydite/ (git-ignored), pinned to an exact release, and runs one process on
the gateway's core against the same mock provider with the same request bodies.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack

from bench_load import MOCK_URL, ROOT, Target, bearer, start, taskset, wait_http

from hydite.devstack import PidFile

LITELLM = "litellm[proxy]==1.108.7"  # the release measured in README
LITELLM_PORT = 9413
# Pinned in benchmarks/peers/portkey/package-lock.json, with @hono/node-server held at the 1.13 line Portkey's own
# lock file uses: later releases hand it immutable response headers and every stream fails with
# "TypeError: immutable" (Portkey-AI/gateway issue 1389).
PORTKEY = "@portkey-ai/gateway@1.15.2"
PORTKEY_PORT = 9416
PEERS_DIR = ROOT / ".hydite" / "peers"


def litellm_target(env: dict[str, str], stack: ExitStack, pids: PidFile) -> Target:
    venv = ROOT / ".hydite" / "litellm-venv"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM], check=True)  # noqa: S603
    config = ROOT / ".hydite" / "litellm-bench.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/mock-gpt-4o-mini\n"
        f"      api_base: {MOCK_URL}\n      api_key: unused\n"
        "general_settings:\n  master_key: sk-litellm-bench\n"
    )
    litellm_env = {k: v for k, v in env.items() if k not in {"DATABASE_URL"}}
    command = [
        *taskset("0"),
        str(venv / "bin" / "litellm"),
        *["--config", str(config), "--port", str(LITELLM_PORT), "--num_workers", "1"],
    ]
    process = start(command, litellm_env, pids, "litellm", stack)
    wait_http(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", timeout_s=180, process=process)
    url = f"http://127.0.0.1:{LITELLM_PORT}/v1/chat/completions"
    return Target("litellm", url, "gpt-4o-mini", bearer("sk-litellm-bench"), pid=process.pid)


def portkey_install() -> None:
    """`npm ci` of the committed lock file into .hydite/peers/portkey, again whenever that lock file changes."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise SystemExit("--compare portkey needs Node.js 18 or later and npm")
    source, cache = ROOT / "benchmarks" / "peers" / "portkey", PEERS_DIR / "portkey"
    installed = cache / "node_modules" / ".package-lock.json"
    lock = cache / "package-lock.json"
    if installed.exists() and lock.exists() and filecmp.cmp(lock, source / "package-lock.json", shallow=False):
        return
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(source / name, cache / name)
    print(f"installing {PORTKEY} into {cache.relative_to(ROOT)}", flush=True)
    # No install scripts: the package's postinstall (patch-package) has nothing to patch in the published build.
    command = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel", "error"]
    subprocess.run(command, cwd=cache, check=True)  # noqa: S603


def portkey_target(env: dict[str, str], stack: ExitStack, pids: PidFile) -> Target:
    """Portkey routes by headers: provider openai, its base URL the mock's (loopback is a trusted custom host)."""
    portkey_install()
    server = PEERS_DIR / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    command = [*taskset("0"), "node", str(server), f"--port={PORTKEY_PORT}", "--headless"]
    process = start(command, env, pids, "portkey", stack)
    wait_http(f"http://127.0.0.1:{PORTKEY_PORT}/", timeout_s=60, process=process)
    headers = {**bearer("unused"), "x-portkey-provider": "openai", "x-portkey-custom-host": MOCK_URL}
    url = f"http://127.0.0.1:{PORTKEY_PORT}/v1/chat/completions"
    return Target("portkey", url, "gpt-4o-mini", headers, pid=process.pid)


PEERS: dict[str, Callable[[dict[str, str], ExitStack, PidFile], Target]] = {
    "litellm": litellm_target,
    "portkey": portkey_target,
}
