"""Test set-up: real PostgreSQL with tenant schemas built once per session, real Redis.

Two instances exist for the whole session: the Shared Edge (schema ``edge``,
host ``testserver``/``localhost``/``127.0.0.1``) and a Dedicated instance
(schema ``acme``, host ``acme.localhost``). Tests run inside a transaction
that is rolled back; the schemas themselves are created once.
"""

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection, connections
from django.test import Client
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.core.redis import redis_client
from apps.orgs.models import Organization
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create, team_create
from apps.spend.stream import SPEND_DEAD_LETTERS, SPEND_STREAM
from apps.tenancy.models import Domain, Instance
from apps.tenancy.services import instance_create
from hydite.celery import app as celery_app
from tests.factories import UserFactory
from tests.live import ROOT, free_port, stop, uvicorn_server, wait_for_http

pytest_plugins = ["tests.world", "tests.webhook_receiver"]

EDGE_HOST = "testserver"
ACME_HOST = "acme.localhost"
PASSWORD = "correct-horse-battery-staple"


def pytest_configure(config: pytest.Config) -> None:
    """Test tweaks on top of the production defaults (plain HTTP, static files from finders)."""
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False
    # 127.0.0.1 is every test's address: the gateway layer's defaults are tested on a server of their own.
    settings.GATEWAY_DEFAULT_RPM = settings.GATEWAY_DEFAULT_TPM = 0
    settings.ALLOWED_HOSTS = [EDGE_HOST, ".localhost", "localhost", "127.0.0.1"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        instance_create(
            name="Shared Edge", schema_name="edge", kind="shared", domains=[EDGE_HOST, "localhost", "127.0.0.1"]
        )
        instance_create(name="Acme Dedicated", schema_name="acme", kind="dedicated", tier="pro", domains=[ACME_HOST])
    _forget_quota_counters()
    celery_app.control.purge()  # tasks a previous session queued name ids this database hands out again
    yield


def _forget_quota_counters() -> None:
    """Quota counters, budget-alert estimates, failed-redemption counts, spend events not yet written and the
    router's cooldowns and probes are keyed by database ids, which a new test database hands out again: a
    previous session's events would land in this one's ledger, its cooldowns on this one's deployments."""
    client = redis_client()
    patterns = (
        "hydite:*:quota:*",
        "hydite:_global:quota:*",
        "hydite:*:budget_watch:*",
        "hydite:*:redeem:*",
        "hydite:_global:login:*",
        "hydite:routing:*",
    )
    for pattern in patterns:
        for name in client.scan_iter(match=pattern, count=1000):
            client.delete(name)
    client.delete(SPEND_STREAM, SPEND_DEAD_LETTERS)


@pytest.fixture(autouse=True)
def _isolated_cache(settings) -> None:  # type: ignore[no-untyped-def]
    # A fresh key prefix per test: tests never see each other's cache entries.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"},
    }


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> Iterator[None]:
    yield
    connection.set_schema_to_public()


def _use(schema: str) -> Instance:
    connection.set_schema_to_public()
    instance = Instance.objects.get(schema_name=schema)
    connection.set_tenant(instance)
    return instance


@pytest.fixture
def edge(db) -> Instance:  # type: ignore[no-untyped-def]
    return _use("edge")


@pytest.fixture
def acme(db) -> Instance:  # type: ignore[no-untyped-def]
    return _use("acme")


@pytest.fixture
def make_user(db):  # type: ignore[no-untyped-def]
    def make(email: str | None = None, *, email_verified: bool = True) -> User:
        if email:
            return UserFactory(email=email, email_verified=email_verified)
        return UserFactory(email_verified=email_verified)

    return make


@pytest.fixture
def staff(edge, make_user):  # type: ignore[no-untyped-def]
    """An operator (is_staff) with a confirmed address, in no organisation."""
    user = make_user()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def org_with_roles(edge, make_user):  # type: ignore[no-untyped-def]
    """An organisation with teams Platform and Research and one user per role."""
    admin = make_user()
    organization = organization_create(name=f"Org {uuid.uuid4().hex[:6]}", owner=admin)

    platform = team_create(organization=organization, name="Platform", actor=admin)
    research = team_create(organization=organization, name="Research", actor=admin)
    users: dict[str, User] = {"org_admin": admin}
    for role, team in [(Role.TEAM_LEAD, platform), (Role.DEVELOPER, platform), (Role.VIEWER, platform)]:
        user = make_user()
        member_add(organization=organization, team=team, user=user, role=role, actor=admin)
        users[role.value] = user
    return {"organization": organization, "platform": platform, "research": research, "users": users}


def database_url_for_test_db() -> str:
    """DATABASE_URL of the test database, for processes the tests start (live server, worker)."""
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


def client_for(user: User | None, host: str = EDGE_HOST) -> Client:
    """A test client on `host`, logged in as `user` (sessions live in the instance's schema)."""
    client = Client(HTTP_HOST=host)
    if user is not None:
        current = connection.tenant
        connection.set_schema_to_public()
        instance = Domain.objects.select_related("tenant").get(domain=host).tenant
        connection.set_tenant(instance)
        client.force_login(user)
        connection.set_tenant(current)
    return client


@contextmanager
def redis_unreachable(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A real Redis URL nothing listens on; the process-wide client is rebuilt on both sides."""
    original = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    redis_client.cache_clear()
    try:
        yield
    finally:
        settings.REDIS_URL = original
        redis_client.cache_clear()


@pytest.fixture
def second_org(edge, make_user) -> Organization:  # type: ignore[no-untyped-def]
    return organization_create(name=f"Other {uuid.uuid4().hex[:6]}", owner=make_user())


UPSTREAM_API_KEY = "sk-upstream-" + uuid.uuid4().hex  # what the mock provider demands


@pytest.fixture(scope="session")
def mock_provider_url(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The built-in mock provider over real HTTP; it accepts only UPSTREAM_API_KEY."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("mock-provider") / "mock.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "apps.mock_provider", "--port", str(port), "--api-key", UPSTREAM_API_KEY],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", process, log_path)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop(process)


# The live server's gateway limits, small enough to test: a 64 KiB body, a 2 s upstream timeout.
LIVE_MAX_BODY_BYTES = 64 * 1024
LIVE_UPSTREAM_TIMEOUT_S = 2


@pytest.fixture(scope="session")
def live_mail_dir(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """Where the live server's mail goes, one file per message (read it with tests.live.mailed_link)."""
    return tmp_path_factory.mktemp("live-mail")


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, tmp_path_factory, live_mail_dir) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """uvicorn serving hydite.asgi over real TCP, on the test database."""
    env = live_server_env(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(live_mail_dir)
    )
    with uvicorn_server(env, tmp_path_factory.mktemp("live-server") / "uvicorn.log") as base_url:
        yield base_url


def live_server_env(**overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url_for_test_db(),
        "DEBUG": "1",
        "CACHE_KEY_PREFIX": f"live-{uuid.uuid4().hex[:8]}",
        "GATEWAY_MAX_BODY_BYTES": str(LIVE_MAX_BODY_BYTES),
        "GATEWAY_UPSTREAM_TIMEOUT_S": str(LIVE_UPSTREAM_TIMEOUT_S),
        # Every test shares 127.0.0.1: the gateway layer's per-IP default is tested on its own server.
        "GATEWAY_DEFAULT_RPM": "0",
        "GATEWAY_DEFAULT_TPM": "0",
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
        **overrides,
    }


@pytest.fixture(scope="session")
def committed(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Run a function in its own thread and connection, in the edge schema, so its writes commit.

    Tests run inside a transaction that is rolled back; what a live server must see has to be
    committed, and a separate thread has a separate connection outside that transaction.
    """

    def run(function, *args, schema: str = "edge", **kwargs):  # type: ignore[no-untyped-def]
        outcome: dict[str, object] = {}

        def target() -> None:
            try:
                with schema_context(schema):
                    outcome["value"] = function(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                outcome["error"] = exc
            finally:
                connections.close_all()

        with django_db_blocker.unblock():
            thread = threading.Thread(target=target)
            thread.start()
            thread.join()
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome.get("value")

    return run
