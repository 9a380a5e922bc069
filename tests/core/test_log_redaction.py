"""Keys and tokens never reach a log stream, though clients put them in URLs (GET /key/info?key=sk-hydite-…)."""

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from apps.accounts.services import user_create
from apps.core.log_redaction import REDACTED, RedactSecrets, redact
from apps.keys.services import key_generate, management_key_create
from apps.orgs.services.organizations import organization_create
from hydite.devstack import web_command
from tests.conftest import live_server_env
from tests.live import ROOT, free_port, stop, wait_for_http

VIRTUAL = "sk-hydite-" + "0123456789abcdef" * 2
ADMIN = "sk-hydite-admin-" + "A1b2C3d4" * 5
INVITATION = "Zq3-x_" + "k" * 37  # secrets.token_urlsafe(32): a link that joins an organisation


def _encoded(text: str) -> str:
    """Every character percent-encoded: what a client's over-eager URL encoder sends, and Django decodes."""
    return "".join(f"%{byte:02X}" for byte in text.encode())


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f'127.0.0.1:5 - "GET /key/info?key={VIRTUAL} HTTP/1.1" 200', VIRTUAL[10:]),
        (f"GET /key/info?organization=a&key={quote(VIRTUAL, safe='')}&x=1", VIRTUAL[10:]),
        (f"GET /key/info?KEY={VIRTUAL.replace('-', '%2D')}", VIRTUAL[10:]),
        (f"Not Found: /nope/{ADMIN}/", ADMIN[16:]),
        ("GET /spend/logs?api_key=opaque-value-42&page=2", "opaque-value-42"),
        ("GET /x?access_token=t0k3n;client_secret=s3cr3t#f", "t0k3n"),
        ("GET /x?access_token=t0k3n;client_secret=s3cr3t#f", "s3cr3t"),
        ("Authorization: Bearer abc.def-ghi_jkl~mno==", "abc.def-ghi_jkl~mno"),
        ("GET /accounts/confirm-email/MQ:1tXyz:abcdef/ HTTP/1.1", "MQ:1tXyz:abcdef"),
        ("GET /accounts/password/reset/key/1-set-password/ HTTP/1.1", "1-set-password"),
        ("upstream said sk-proj-AbCdEf0123456789", "AbCdEf0123456789"),
        (f"GET /key/info?{_encoded('key')}={_encoded(VIRTUAL)} HTTP/1.1", _encoded(VIRTUAL[10:])),
        (f"GET /v1/models?q=%22{VIRTUAL}%22 HTTP/1.1", VIRTUAL[10:]),
        (f"GET /v1/models?q=%22{_encoded(VIRTUAL)}", _encoded(VIRTUAL[10:])),
        (f"GET /x?ref=key_{VIRTUAL}", VIRTUAL[10:]),
        (f'"GET /invitations/{INVITATION}/ HTTP/1.1" 200', INVITATION),
        (f"Not Found: /invitations/{INVITATION}/", INVITATION),
    ],
)
def test_redact_removes_the_secret_and_says_so(line, secret):
    cleaned = redact(line)
    assert secret not in cleaned and REDACTED in cleaned


def test_redact_keeps_what_is_not_secret():
    line = '127.0.0.1:5 - "GET /key/list?key_id=7&team_id=3&page=2 HTTP/1.1" 200 (task-something-long)'
    assert redact(line) == line
    line = '127.0.0.1:5 - "POST /o/acme/invitations/12/revoke/?q=100%25 HTTP/1.1" 302'
    assert redact(line) == line


def test_the_filter_redacts_arguments_in_place_and_tracebacks():
    try:
        raise ValueError(f"bad url /key/info?key={VIRTUAL}")
    except ValueError:
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s" %d', (), sys.exc_info())
    record.args = ("127.0.0.1:5", "GET", f"/key/info?key={VIRTUAL}", 200)
    assert RedactSecrets().filter(record)
    assert record.args[2] == f"/key/info?key={REDACTED}" and record.args[3] == 200  # still positional
    assert VIRTUAL not in record.getMessage() and VIRTUAL not in (record.exc_text or "")


def _keys() -> tuple[str, str]:
    owner = user_create(email=f"logs-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    organization = organization_create(name=f"Logs {uuid.uuid4().hex[:6]}", owner=owner)
    _, virtual = key_generate(
        organization=organization, team=organization.teams.get(), user=owner, name="logged", actor=owner
    )
    _, admin = management_key_create(organization=organization, name="logged", actor=owner)
    return virtual, admin


@contextmanager
def _make_run_server(logs: Path) -> Iterator[str]:
    """uvicorn started as `make run` starts it (hydite.devstack.web_command), its streams in files of their own."""
    port = free_port()
    env = live_server_env(HYDITE_STATE_DIR=str(logs / "state"))
    with (logs / "stdout.log").open("w") as stdout, (logs / "stderr.log").open("w") as stderr:
        server = subprocess.Popen(web_command("127.0.0.1", str(port)), cwd=ROOT, env=env, stdout=stdout, stderr=stderr)  # noqa: S603
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", server, logs / "stderr.log")
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(server)


def _calls(base_url: str, admin: str, keys: tuple[str, ...]) -> None:
    as_admin = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base_url, timeout=20) as client:
        for key in keys:
            answers = [
                client.get("/key/info", params={"key": key}, headers=as_admin),
                client.get(f"/key/info?key={key.replace('-', '%2D')}", headers=as_admin),
                client.get("/spend/logs", params={"api_key": key}, headers=as_admin),
                client.get(f"/key/{key}", headers=as_admin),
                client.get(f"/nothing/here/{key}/"),
                client.get(f"/o/no-such-org/keys/{key}/"),
                client.get("/v1/models", params={"key": key}),
                client.get("/key/list", headers={"Authorization": f"Bearer {key}x"}),
                client.post("/key/info", json={"key": key}, headers=as_admin),
                client.get(f"/key/info?{_encoded('key')}={_encoded(key)}", headers=as_admin),
                client.get(f"/v1/models?q=%22{_encoded(key)}%22"),
            ]
            assert all(answer.status_code < 500 for answer in answers), [answer.status_code for answer in answers]
        assert client.get("/key/info", params={"key": keys[0]}, headers=as_admin).status_code == 200
        assert client.post("/key/info", json={"key": keys[0]}, headers=as_admin).status_code == 200
        assert client.get(f"/key/info?{_encoded('key')}={_encoded(keys[0])}", headers=as_admin).status_code == 200
        assert client.get(f"/invitations/{INVITATION}/").status_code == 404  # a "Not Found" warning, logged


@pytest.mark.django_db
def test_no_log_stream_of_the_server_holds_a_key(committed, tmp_path):
    virtual, admin = committed(_keys)
    keys = (virtual, "sk-hydite-" + uuid.uuid4().hex, admin)
    with _make_run_server(tmp_path) as base_url:
        _calls(base_url, admin, keys)
    streams = _streams(tmp_path)
    assert "GET /key/info?key=" + REDACTED in "\n".join(streams.values())  # the access log was written
    for key in keys:
        for form in (key, key.split("-")[-1], key.replace("-", "%2D"), _encoded(key.split("-")[-1])):
            leaks = [name for name, text in streams.items() if form in text]
            assert not leaks, f"{form[:14]}... found in {leaks}"
    assert not [name for name, text in streams.items() if INVITATION in text]


def _streams(logs: Path) -> dict[str, str]:
    """Every file the server wrote: its stdout, its stderr, and any file in its state directory."""
    return {str(path.relative_to(logs)): path.read_text(errors="replace") for path in logs.rglob("*") if path.is_file()}


def test_a_celery_worker_s_logs_are_redacted(tmp_path):
    """Celery's logging set-up (as a worker runs it) keeps Django's handlers, filter included; so do prints."""
    script = (
        "import django, logging; django.setup()\n"
        "from hydite.celery import app\n"
        "app.log.setup(loglevel='INFO', redirect_stdouts=True)\n"
        f"logging.getLogger('celery.app.trace').info('Task done: %s', 'key={VIRTUAL}')\n"
        f"print('a task printed {ADMIN}')\n"
    )
    env = {**os.environ, "DEBUG": "1"}
    finished = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    streams = finished.stdout + finished.stderr
    assert "Task done: key=" + REDACTED in streams and "a task printed sk-hydite-admin-" + REDACTED in streams
    assert VIRTUAL not in streams and ADMIN not in streams
