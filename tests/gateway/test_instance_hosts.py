"""/v1 is bound to its instance: a key works only on its own instance's hosts; an unknown host is a 404."""

import httpx
import pytest
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from django.conf import settings

from apps.core.redis import redis_client
from apps.gateway.hosts import InstanceHosts
from apps.tenancy.hosts import instance_hosts_key
from tests.conftest import ACME_HOST
from tests.world import mock_key

pytestmark = pytest.mark.django_db

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _dedicated_key(mock_url: str) -> str:
    """A key of an organisation on the Dedicated instance (schema acme), its channel on the mock provider."""
    return mock_key(mock_url, "acme")


@pytest.fixture(scope="module")
def dedicated_key(committed, mock_provider_url) -> str:  # type: ignore[no-untyped-def]
    return committed(_dedicated_key, mock_provider_url, schema="acme")


def _post(url: str, key: str, host: str, path: str = "/v1/chat/completions") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Host": host}
    if path.endswith("/models"):
        return httpx.get(f"{url}{path}", headers=headers, timeout=20)
    return httpx.post(f"{url}{path}", json=CHAT, headers=headers, timeout=20)


def test_each_key_answers_on_its_own_instance(live_server_url, world, dedicated_key):
    assert _post(live_server_url, dedicated_key, ACME_HOST).status_code == 200
    assert _post(live_server_url, dedicated_key, "ACME.localhost.:8000").status_code == 200  # case, dot, port
    assert _post(live_server_url, world.key, "localhost").status_code == 200


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models"])
def test_a_key_is_refused_on_another_instances_host(live_server_url, world, dedicated_key, path):
    for key, host in ((dedicated_key, "127.0.0.1"), (dedicated_key, "localhost"), (world.key, ACME_HOST)):
        response = _post(live_server_url, key, host, path)
        assert response.status_code == 401, (host, response.text)
        assert response.json()["error"]["code"] == "invalid_api_key"  # no hint that the key exists elsewhere


@pytest.mark.parametrize("host", ["evil.example", "acme.localhost.evil.example", "", "[::1]"])
def test_an_unknown_host_is_404_in_openais_shape(live_server_url, world, host):
    response = _post(live_server_url, world.key, host)
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", "unknown_host")


def test_the_host_map_is_rebuilt_from_the_database_when_redis_lost_it(edge):
    redis_client().delete(instance_hosts_key())

    async def resolve() -> str:
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            return await InstanceHosts(redis).schema({"headers": [(b"host", b"acme.localhost:443")]})
        finally:
            await redis.aclose()

    assert async_to_sync(resolve)() == "acme"  # the database read runs in this test's thread and connection
    assert redis_client().hget(instance_hosts_key(), ACME_HOST) == b"acme"  # published for every process
