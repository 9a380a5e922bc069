"""Tenant-aware Redis keys and the process-wide Redis client.

Every key starts with the schema of the instance it belongs to, so two
instances can never read or bump each other's counters.
"""

from functools import cache

import redis
from django.conf import settings

KEY_PREFIX = "hydite"


def tenant_key(schema: str, *parts: str | int) -> str:
    if not schema:
        raise ValueError("a tenant Redis key needs a schema")
    return ":".join([KEY_PREFIX, schema, *(str(part) for part in parts)])


def global_key(*parts: str | int) -> str:
    """A key that belongs to no instance (e.g. the key-hash index that says which instance a key is in)."""
    return ":".join([KEY_PREFIX, "_global", *(str(part) for part in parts)])


@cache
def redis_client() -> redis.Redis:
    # Bounded waits: a Redis that hangs fails a page or a task in seconds instead of holding it forever.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
