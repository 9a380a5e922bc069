"""Database connections are pooled: a burst waits for a connection instead of failing, and a pooled
connection always carries the schema of whoever borrowed it, never the previous tenant's."""

import asyncio
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from django.db import connections
from psycopg import sql

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.keys.services import key_generate, management_key_create
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create, team_create
from tests.conftest import ACME_HOST, PASSWORD, database_url_for_test_db, live_server_env
from tests.live import live_password_hash, logged_in_client, uvicorn_server

ROLE_CONNECTION_LIMIT = 8
POOL_SIZE = 5
BURST = 200

pytestmark = pytest.mark.django_db  # the test database is set up even when this module runs alone


@pytest.fixture
def limited_database_url(django_db_setup) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The test database as a role that may hold only ROLE_CONNECTION_LIMIT connections at once.

    A member of the owner's role, so it reaches every table; not a superuser, so PostgreSQL enforces its
    limit ("too many connections for role") the way max_connections is enforced on a busy server.
    """
    admin_url = database_url_for_test_db()
    role = f"limited_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        owner = admin.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT {} IN ROLE {}").format(
                sql.Identifier(role), sql.Literal(ROLE_CONNECTION_LIMIT), sql.Identifier(owner)
            )
        )
    parts = urlsplit(admin_url)
    try:
        yield parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _developer_with_keys() -> tuple[str, str, int, int]:
    """(email, org slug, the developer's key id, the admin's key id)."""
    admin = user_create(email=f"admin-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    developer = user_create(email=f"dev-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    User.objects.filter(pk=developer.pk).update(password=live_password_hash(PASSWORD))
    organization = organization_create(name=f"Burst {uuid.uuid4().hex[:6]}", owner=admin)
    team = team_create(organization=organization, name="Platform", actor=admin)
    member_add(organization=organization, team=team, user=developer, role=Role.DEVELOPER, actor=admin)
    own, _ = key_generate(organization=organization, team=team, user=developer, name="mine", actor=developer)
    admins, _ = key_generate(organization=organization, team=team, user=admin, name="admin's", actor=admin)
    return developer.email, organization.slug, own.pk, admins.pk


async def _burst(base_url: str, cookies: httpx.Cookies, requests: list[tuple[str, dict[str, str]]]) -> list[int]:
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=120, limits=limits) as client:
        token = {"X-CSRFToken": cookies["csrftoken"]}
        answers = await asyncio.gather(*(client.post(url, data=data, headers=token) for url, data in requests))
    return [answer.status_code for answer in answers]


def test_a_burst_of_dashboard_posts_waits_for_connections_instead_of_failing(committed, limited_database_url, tmp_path):
    email, slug, own_key, admins_key = committed(_developer_with_keys)
    env = live_server_env(DATABASE_URL=limited_database_url, DB_POOL_MAX_SIZE=str(POOL_SIZE))
    requests = [
        (f"/o/{slug}/keys/{own_key}/rename/", {"name": f"renamed {index}"})
        if index % 2
        else (f"/o/{slug}/keys/{admins_key}/revoke/", {})  # a developer may not: 403
        for index in range(BURST)
    ]
    with uvicorn_server(env, tmp_path / "uvicorn.log") as url, logged_in_client(url, email, PASSWORD) as client:
        statuses = asyncio.run(_burst(url, client.cookies, requests))
        role = urlsplit(limited_database_url).username
        with psycopg.connect(database_url_for_test_db(), autocommit=True) as admin:
            held = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()[0]  # type: ignore[index]
    assert sorted(set(statuses)) == [302, 403], statuses
    assert statuses.count(302) == BURST // 2
    assert held <= POOL_SIZE


def _tenant_admin_key(host: str) -> tuple[str, int]:
    """A management key of a new organisation in the instance the caller's schema is, and its org's key id."""
    admin = user_create(email=f"pool-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    organization = organization_create(name=f"Pool {host} {uuid.uuid4().hex[:6]}", owner=admin)
    key, _ = key_generate(organization=organization, team=organization.teams.get(), user=admin, name=host, actor=admin)
    _, secret = management_key_create(organization=organization, name="pool", actor=admin)
    return secret, key.pk


async def _interleaved(base_url: str, calls: list[tuple[str, str]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return await asyncio.gather(
            *(client.get("/key/list", headers={"Host": host, "Authorization": f"Bearer {key}"}) for host, key in calls)
        )


def test_pooled_connections_never_carry_one_tenant_s_schema_into_another_s_request(committed, tmp_path):
    edge_key, edge_key_id = committed(_tenant_admin_key, "localhost")
    acme_key, acme_key_id = committed(_tenant_admin_key, ACME_HOST, schema="acme")
    # One connection for the whole server: every request borrows the one the other tenant returned.
    env = live_server_env(DB_POOL_MAX_SIZE="1", DB_POOL_MIN_SIZE="1")
    calls = [("localhost", edge_key), (ACME_HOST, acme_key)] * 30
    with uvicorn_server(env, tmp_path / "uvicorn.log") as url:
        answers = asyncio.run(_interleaved(url, calls))
    for (host, _), answer in zip(calls, answers, strict=True):
        assert answer.status_code == 200, (host, answer.text)
        assert [row["key_id"] for row in answer.json()["keys"]] == [edge_key_id if host == "localhost" else acme_key_id]


def test_a_connection_returned_to_the_pool_forgets_the_schema_it_was_set_to(django_db_setup, django_db_blocker):
    """django-tenants' backend on Django's pool: each borrower's search_path is its own, on the same connection."""
    default = connections["default"]
    pooled = {**default.settings_dict, "CONN_MAX_AGE": 0, "OPTIONS": {"pool": {"min_size": 0, "max_size": 1}}}
    alias = f"pool-{uuid.uuid4().hex[:8]}"

    def borrow(schema: str | None) -> tuple[int, list[str]]:
        wrapper = type(default)(pooled, alias=alias)
        if schema:
            wrapper.set_schema(schema)
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid(), current_schemas(false)")
                pid, schemas = cursor.fetchone()
            return pid, schemas
        finally:
            wrapper.close()

    with django_db_blocker.unblock():
        try:
            first_pid, first = borrow("edge")
            seen = [borrow(schema) for schema in (None, "acme", "edge", None)]
        finally:
            type(default)(pooled, alias=alias).close_pool()
    assert first == ["edge", "public"]
    assert [schemas for _, schemas in seen] == [["public"], ["acme", "public"], ["edge", "public"], ["public"]]
    assert {pid for pid, _ in seen} == {first_pid}  # the same connection each time
