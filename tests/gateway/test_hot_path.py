"""A warm /v1 request reads process memory and Redis only: proven under a database blocker."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
from django.db import OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

from apps.core.redis import redis_client
from apps.gateway.app import Gateway
from apps.keys.services import key_hash
from apps.keys.snapshots import key_snapshot_key
from apps.tenancy.hosts import instance_hosts_key

pytestmark = pytest.mark.django_db


def _refuse(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    raise AssertionError(f"a warm /v1 request touched the database: {sql}")


def _unreachable(*_args: object) -> None:
    raise OperationalError("connection to server failed: the database is down")


BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


@asynccontextmanager
async def _warm(world) -> AsyncIterator[tuple[Gateway, Callable[[], Awaitable[int]], httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    """A started gateway, served one request (its caches are warm), and a call that posts another."""
    gateway = Gateway()
    headers = {"Authorization": f"Bearer {world.key}"}
    await gateway.startup()
    try:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=headers) as http:

            async def post() -> int:
                return (await http.post("/v1/chat/completions", json=BODY)).status_code

            assert await post() == 200
            yield gateway, post, http
    finally:
        await gateway.shutdown()


def test_warm_requests_never_touch_the_database(world, django_db_blocker):
    async def run() -> list[int]:
        async with _warm(world) as (_, post, http):
            with django_db_blocker.block(), connection.execute_wrapper(_refuse):
                statuses = [await post() for _ in range(10)]
                await asyncio.sleep(1.1)  # past the in-process TTL: the next lookups go to Redis, still not the DB
                statuses.append((await http.get("/v1/models")).status_code)
                statuses.append(await post())
            return statuses

    assert asyncio.run(run()) == [200] * 12


def test_warm_requests_keep_being_served_when_the_host_map_expires_while_the_database_is_down(world, monkeypatch):
    """The host map in Redis lives a minute; rebuilding it needs the database, which may be down meanwhile."""

    async def run() -> int:
        async with _warm(world) as (gateway, post, _):
            redis_client().delete(instance_hosts_key())  # its minute is over
            assert gateway.hosts is not None
            gateway.hosts.read_at = 0.0  # and this process's copy is due for a refresh
            monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", _unreachable)
            return await post()

    assert asyncio.run(run()) == 200


def test_a_snapshot_stored_before_an_upgrade_is_served_while_the_database_is_down(world, monkeypatch):
    """A stored snapshot of an older shape is rebuilt on read; with the database unreachable it serves as it is."""

    async def run() -> int:
        async with _warm(world) as (gateway, post, _):
            stored_key = key_snapshot_key(key_hash=key_hash(world.key))
            older = orjson.loads(redis_client().get(stored_key))
            del older["version"]  # as a release before versioned snapshots wrote it
            redis_client().set(stored_key, orjson.dumps(older))
            assert gateway.snapshots is not None
            gateway.snapshots.keys = type(gateway.snapshots.keys)(ttl_s=1.0)  # this process forgets its copy
            monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", _unreachable)
            return await post()

    assert asyncio.run(run()) == 200


def test_an_error_answer_carries_the_request_id_and_its_own_headers_only(world):
    """Headers gathered for a successful answer (the resolved model, rate limits) are not the error's."""

    async def run() -> httpx.Response:
        async with _warm(world) as (_, _post, http):
            return await http.post("/v1/chat/completions", json={**BODY, "model": "unreachable"})

    response = asyncio.run(run())
    assert response.status_code == 502
    assert response.headers["x-request-id"].startswith("req_")
    assert "x-gateway-model-resolved" not in response.headers
    assert not [name for name in response.headers if name.startswith("x-ratelimit")]
