import pytest
from django.core.cache import cache
from django.db import connection

from apps.core.redis import redis_client, tenant_key
from apps.tenancy.models import Instance


def test_tenant_key_puts_schema_first():
    assert tenant_key("edge", "rpm", 42) == "hydite:edge:rpm:42"
    with pytest.raises(ValueError):
        tenant_key("", "rpm")


def test_redis_is_real():
    key = tenant_key("edge", "test", "ping")
    client = redis_client()
    client.set(key, "1", ex=5)
    assert client.incr(key) == 2
    client.delete(key)


def test_cache_entries_never_cross_instances(edge):
    cache.set("greeting", "hello from edge", 30)
    assert cache.get("greeting") == "hello from edge"
    connection.set_tenant(Instance.objects.get(schema_name="acme"))
    assert cache.get("greeting") is None
    cache.set("greeting", "hello from acme", 30)
    connection.set_tenant(edge)
    assert cache.get("greeting") == "hello from edge"
