"""--baseline GIT_REF for gateway_bench.py: that ref checked out in a temporary git worktree, prepared by its own code.

The baseline runs from the same virtualenv, so its pinned requirements must be what that virtualenv has; it gets
its own database (created afresh beside the working tree's, on the same PostgreSQL) and its own Redis database
(the same server), so neither side sees the other's schema, keys or snapshots.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench_load import PYTHON, ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


@dataclass(frozen=True)
class Tree:
    """One checkout the benchmark serves: its directory, its processes' environment, its demo key."""

    label: str
    root: Path
    env: dict[str, str]
    key: str
    limits: str  # the Django shell script that turns the quota layers on or off, from this checkout


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=check)  # noqa: S603, S607


def resolve(ref: str) -> str:
    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if found.returncode != 0:
        raise SystemExit(f"--baseline: {ref!r} is not a commit of this repository")
    return found.stdout.strip()


def requirements_check(sha: str, *, allow_drift: bool) -> None:
    """The baseline runs in this virtualenv: refuse (unless allowed) when it does not hold the ref's pins."""
    files = git("ls-tree", "--name-only", sha, "requirements/").stdout.split()
    mismatches, unpinned = [], []
    for path in (name for name in files if name.endswith(".txt")):
        for raw in git("show", f"{sha}:{path}").stdout.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            pin = PIN.match(line)
            if pin is None:
                unpinned.append(f"{path}: {line}")
                continue
            try:
                installed: str | None = version(pin.group(1))
            except PackageNotFoundError:
                installed = None
            if installed != pin.group(2):
                name, pinned = pin.groups()
                mismatches.append(f"  {name}: {sha[:7]} pins {pinned}, this venv has {installed or 'none'}")
    if git("diff", "--quiet", sha, "--", "requirements/", check=False).returncode != 0:
        print(f"note: requirements/ differ between {sha[:7]} and the working tree", flush=True)
    for line in unpinned:
        print(f"note: not an exact pin, not checked: {line}", flush=True)
    if mismatches:
        detail = "\n".join(mismatches)
        if not allow_drift:
            raise SystemExit(
                f"--baseline {sha[:7]} pins requirements this virtualenv does not have:\n{detail}\n"
                "Both sides run in this virtualenv, so the comparison would not be of the baseline as released; "
                "--allow-requirements-drift measures anyway."
            )
        print(f"WARNING: measuring {sha[:7]} with this virtualenv's packages, not its own pins:\n{detail}", flush=True)


def worktree(stack: ExitStack, sha: str) -> Path:
    """`sha` checked out (detached) in a temporary directory, removed when `stack` closes, even on Ctrl-C."""
    scratch = Path(tempfile.mkdtemp(prefix="hydite-baseline-"))
    tree = scratch / "tree"
    stack.callback(_worktree_remove, tree, scratch)
    git("worktree", "add", "--detach", "--quiet", str(tree), sha)
    return tree


def _worktree_remove(tree: Path, scratch: Path) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave the worktree behind
    try:
        git("worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        git("worktree", "prune", check=False)
    finally:
        signal.signal(signal.SIGINT, previous)


def limits_script(sha: str, fallback: str) -> str:
    """The ref's own LIMITS script (its services may be named otherwise), or this one if it has none."""
    for path in git("ls-tree", "--name-only", sha, "benchmarks/").stdout.split():
        if not path.endswith(".py"):
            continue
        for node in ast.parse(git("show", f"{sha}:{path}").stdout).body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "LIMITS" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return node.value.value
    print(f"note: {sha[:7]} has no benchmark LIMITS script; using the working tree's", flush=True)
    return fallback


def baseline_env(env: dict[str, str], state: Path, *, embedded_redis: bool) -> dict[str, str]:
    """The working tree's environment with the baseline's own (fresh) database, Redis database and state."""
    import psycopg
    import redis

    database = urlsplit(env["DATABASE_URL"])
    name = database.path.lstrip("/") + "_baseline"
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    if embedded_redis:
        redis_url = env["REDIS_URL"] + "?db=1"
    elif os.environ.get("BENCH_BASELINE_REDIS_URL"):
        redis_url = os.environ["BENCH_BASELINE_REDIS_URL"]
    else:
        raise SystemExit("--baseline with REDIS_URL set needs BENCH_BASELINE_REDIS_URL: a Redis database it may flush")
    redis.Redis.from_url(redis_url).flushdb()
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    baseline = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    baseline.update(
        {
            "DATABASE_URL": urlunsplit(database._replace(path=f"/{name}")),
            "REDIS_URL": redis_url,
            "HYDITE_STATE_DIR": str(state),
            "STATIC_ROOT": str(state / "static"),
        }
    )
    return baseline


def tree_prepare(root: Path, env: dict[str, str]) -> str:
    """Static files, migrations and the demo tenant by that checkout's own code; returns its demo key."""
    where = subprocess.run(  # noqa: S603
        [PYTHON, "-c", "import hydite; print(hydite.__file__)"], cwd=root, env=env, capture_output=True, text=True
    ).stdout.strip()
    if not Path(where).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"{root}: Python imports hydite from {where!r}, not from this checkout")
    for command in (["collectstatic", "--noinput", "-v", "0"], ["migrate_schemas", "--noinput", "-v", "0"]):
        subprocess.run([PYTHON, "manage.py", *command], cwd=root, env=env, check=True)  # noqa: S603
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return (Path(env["HYDITE_STATE_DIR"]) / "demo-key").read_text().strip()
