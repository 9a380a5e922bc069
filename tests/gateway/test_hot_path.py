"""A warm /v1 request reads process memory and Redis only: proven under a database blocker."""

import asyncio

import httpx
import pytest
from django.db import connection

from apps.gateway.app import Gateway

pytestmark = pytest.mark.django_db


def _refuse(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    raise AssertionError(f"a warm /v1 request touched the database: {sql}")


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
