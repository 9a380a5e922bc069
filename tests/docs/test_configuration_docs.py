"""The environment variables the code reads, docs/configuration.md and .env.example name the same set:
configuration cannot drift from its documentation."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READER_DIRS = ("hydite", "apps", "benchmarks")
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
# Read by the programs we run rather than by our code: documented, and not stale while they read them.
READ_BY_OTHERS = {"WEB_CONCURRENCY"}  # uvicorn's --workers

_ENV_HELPERS = re.compile(r"_?env_\w+")  # the settings' env_int, env_list, … (hydite/settings/base.py)
_DOC_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`", re.MULTILINE)
_EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def _is_environ(node: ast.expr) -> bool:
    """`os.environ`, `environ`, or `env` (the launcher's copy of os.environ, hydite/devstack.py)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in {"environ", "env"}


def _first_string(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _reads_environ(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr == "getenv" or (func.attr in {"get", "setdefault"} and _is_environ(func.value))
    return isinstance(func, ast.Name) and (func.id == "getenv" or bool(_ENV_HELPERS.fullmatch(func.id)))


def _read_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and _reads_environ(node):
        return _first_string(node)
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
        index = node.slice
        return index.value if isinstance(index, ast.Constant) and isinstance(index.value, str) else None
    return None


def env_names_read(source: str) -> set[str]:
    """Names read by os.environ.get/[…]/setdefault, os.getenv, the settings' _env_* helpers and devstack's env."""
    return {name for node in ast.walk(ast.parse(source)) if (name := _read_name(node)) is not None}


def names_read_by_code() -> set[str]:
    names: set[str] = set()
    for directory in READER_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" not in path.parts:
                names |= env_names_read(path.read_text())
    return names


def documented_names() -> set[str]:
    return set(_DOC_ROW.findall(CONFIGURATION_DOC.read_text()))


def env_example_names() -> set[str]:
    return set(_EXAMPLE_LINE.findall(ENV_EXAMPLE.read_text()))


def test_the_collector_finds_every_way_of_reading_the_environment() -> None:
    source = """
import os
A = os.environ.get("READ_BY_GET", "")
B = os.environ["READ_BY_INDEX"]
C = os.getenv("READ_BY_GETENV")
D = _env_int("READ_BY_HELPER", 1)
env = dict(os.environ)
E = env.get("READ_BY_LAUNCHER", "8000")
env.setdefault("DEFAULTED_BY_LAUNCHER", "1")
env["WRITTEN_NOT_READ"] = "x"
F = os.environ.get(dynamic_name)
"""
    assert env_names_read(source) == {
        "READ_BY_GET",
        "READ_BY_INDEX",
        "READ_BY_GETENV",
        "READ_BY_HELPER",
        "READ_BY_LAUNCHER",
        "DEFAULTED_BY_LAUNCHER",
    }


def test_the_code_is_scanned() -> None:
    # The collector reading nothing would make every check below pass.
    assert {"SECRET_KEY", "GATEWAY_DEFAULT_RPM", "DEBUG", "HYDITE_PORT"} <= names_read_by_code()


def test_every_variable_read_is_documented() -> None:
    missing = names_read_by_code() - documented_names()
    assert not missing, f"add to a table of docs/configuration.md: {sorted(missing)}"


def test_every_variable_read_is_in_env_example() -> None:
    missing = names_read_by_code() - env_example_names()
    assert not missing, f"add to .env.example (commented, with its default): {sorted(missing)}"


def test_the_documentation_lists_nothing_that_is_not_read() -> None:
    stale = documented_names() - names_read_by_code() - READ_BY_OTHERS
    assert not stale, f"docs/configuration.md documents variables nothing reads: {sorted(stale)}"


def test_env_example_lists_nothing_that_is_not_read() -> None:
    stale = env_example_names() - names_read_by_code() - READ_BY_OTHERS
    assert not stale, f".env.example lists variables nothing reads: {sorted(stale)}"
