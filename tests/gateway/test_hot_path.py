"""A warm /v1 request reads process memory and Redis only: proven under a database blocker."""

import asyncio

import httpx
import pytest
from django.db import OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

from apps.core.redis import redis_client
from apps.gateway.app import Gateway
from apps.tenancy.hosts import instance_hosts_key

pytestmark = pytest.mark.django_db


def _refuse(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    raise AssertionError(f"a warm /v1 request touched the database: {sql}")


def _unreachable(*_args: object) -> None:
    raise OperationalError("connection to server failed: the database is down")


def test_warm_requests_never_touch_the_database(world, django_db_blocker):
    gateway = Gateway()
    headers = {"Authorization": f"Bearer {world.key}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}

    async def run() -> list[int]:
        await gateway.startup()
        try:
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
                assert (await http.post("/v1/chat/completions", json=body, headers=headers)).status_code == 200
                statuses = []
                with django_db_blocker.block(), connection.execute_wrapper(_refuse):
                    for _ in range(10):
                        statuses.append(
                            (await http.post("/v1/chat/completions", json=body, headers=headers)).status_code
                        )
                    await asyncio.sleep(1.1)  # past the in-process TTL: the next lookups go to Redis, still not the DB
                    statuses.append((await http.get("/v1/models", headers=headers)).status_code)
                    statuses.append((await http.post("/v1/chat/completions", json=body, headers=headers)).status_code)
                return statuses
        finally:
            await gateway.shutdown()

    assert asyncio.run(run()) == [200] * 12


def test_warm_requests_keep_being_served_when_the_host_map_expires_while_the_database_is_down(world, monkeypatch):
    """The host map in Redis lives a minute; rebuilding it needs the database, which may be down meanwhile."""
    gateway = Gateway()
    headers = {"Authorization": f"Bearer {world.key}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}

    async def run() -> list[int]:
        await gateway.startup()
        try:
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
                assert (await http.post("/v1/chat/completions", json=body, headers=headers)).status_code == 200
                redis_client().delete(instance_hosts_key())  # its minute is over
                assert gateway.hosts is not None
                gateway.hosts.read_at = 0.0  # and this process's copy is due for a refresh
                monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", _unreachable)
                return [(await http.post("/v1/chat/completions", json=body, headers=headers)).status_code]
        finally:
            await gateway.shutdown()

    assert asyncio.run(run()) == [200]
