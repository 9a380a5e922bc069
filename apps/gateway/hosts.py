"""Which instance a request's Host serves: a key works only on its own instance's hosts.

The host map (apps/tenancy/hosts.py) is read from Redis at most every HOSTS_REFRESH_S per process and
rebuilt from the database when Redis has none; while Redis or the database is unreachable the last map is used.
"""

import asyncio
import logging
import time

import redis.asyncio as aioredis
from django.db import Error as DatabaseError
from redis.exceptions import RedisError

from apps.core.outage import redis_outage_log
from apps.gateway.asgi_io import Scope, header
from apps.gateway.database import database_call
from apps.gateway.errors import UnknownHost
from apps.tenancy.hosts import instance_hosts_build, instance_hosts_key, instance_hosts_publish

logger = logging.getLogger("hydite.gateway")

HOSTS_REFRESH_S = 5.0
MAX_HOST_BYTES = 255


def request_host(scope: Scope) -> str:
    """The Host header's name, lowercase, without port or trailing dot ("" when there is none)."""
    raw = header(scope, b"host")
    if not raw or len(raw) > MAX_HOST_BYTES:
        return ""
    host = raw.decode("latin-1").strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1]:8000
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class InstanceHosts:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.hosts: dict[str, str] | None = None
        self.read_at = 0.0
        self._refreshing = asyncio.Lock()

    async def schema(self, scope: Scope) -> str:
        """The schema of the instance the request's host belongs to, or UnknownHost."""
        due = self.hosts is None or time.monotonic() - self.read_at >= HOSTS_REFRESH_S
        # one request refreshes; while it waits (on Redis, or the database), the others use the map they have
        if due and (self.hosts is None or not self._refreshing.locked()):
            async with self._refreshing:
                if self.hosts is None or time.monotonic() - self.read_at >= HOSTS_REFRESH_S:
                    await self._refresh()
        host = request_host(scope)
        schema = (self.hosts or {}).get(host)
        if schema is None:
            raise UnknownHost(f"No Hydite instance answers at {host[:100] or 'this address'}.")
        return schema

    async def _refresh(self) -> None:
        try:
            raw = await self.redis.hgetall(instance_hosts_key())
        except (RedisError, OSError) as exc:
            redis_outage_log("host lookup", exc, "serving the last host map or the database's")
            if self.hosts is None:
                self.hosts = await database_call(instance_hosts_build)()
        else:
            if raw:
                self.hosts = {_text(name): _text(schema) for name, schema in raw.items()}
            else:
                await self._rebuild()
        self.read_at = time.monotonic()

    async def _rebuild(self) -> None:
        """The database's map, published for every process; while the database is unreachable, the last one."""
        try:
            self.hosts = await database_call(instance_hosts_publish)()
        except (DatabaseError, RedisError, OSError) as exc:
            if self.hosts is None:
                raise
            logger.warning("the host map could not be rebuilt (%s): serving the last one", exc)
