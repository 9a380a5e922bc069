"""Keys and channels for a warm request: process memory first, then Redis; the database only on a cold miss."""

import logging
import time
from collections.abc import Awaitable
from functools import lru_cache
from typing import Generic, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from django.db import Error as DatabaseError
from django_tenants.utils import schema_context
from redis.exceptions import RedisError

from apps.channels.router_config import default_router
from apps.channels.snapshots import (
    CHANNEL_SNAPSHOT_VERSION,
    ChannelSnapshot,
    channel_snapshot_build,
    channel_snapshot_key,
    channel_snapshot_publish,
)
from apps.core.outage import redis_outage_log
from apps.core.secrets import secret_decrypt
from apps.gateway.database import database_call
from apps.gateway.errors import InvalidApiKey, KeyPaused
from apps.keys.models import KeyStatus
from apps.keys.services import KEY_PREFIX, key_hash
from apps.keys.snapshots import (
    KEY_SNAPSHOT_VERSION,
    KeySnapshot,
    KeyTombstone,
    key_snapshot_build,
    key_snapshot_key,
    key_snapshot_publish,
    key_tombstone,
)

MAX_CACHED = 100_000
K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

logger = logging.getLogger("hydite.gateway")


class TtlCache(Generic[K, V]):
    """A dict whose entries expire; small and lock-free (one event loop per process)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def stale(self, key: K) -> V | None:
        """The last value even if expired (for when the source of truth is unreachable)."""
        item = self._items.get(key)
        return None if item is None else item[1]

    def put(self, key: K, value: V) -> None:
        if len(self._items) >= MAX_CACHED:
            self._items.clear()  # crude but bounded: a flood of distinct keys cannot grow memory
        self._items[key] = (time.monotonic() + self.ttl_s, value)


@lru_cache(maxsize=4096)
def provider_secret(token: str) -> str:
    """Decrypted provider credential, kept in process memory only."""
    return secret_decrypt(token)


def _channel_from_database(schema: str, channel_id: int) -> ChannelSnapshot | None:
    with schema_context(schema):
        return channel_snapshot_build(channel_id=channel_id)


class Snapshots:
    def __init__(self, redis: aioredis.Redis, ttl_s: float) -> None:
        self.redis = redis
        self.keys: TtlCache[str, KeySnapshot | KeyTombstone] = TtlCache(ttl_s)
        self.channels: TtlCache[tuple[str, int], ChannelSnapshot] = TtlCache(ttl_s)

    async def key(self, plaintext: str) -> KeySnapshot:
        """The snapshot of an active key, or InvalidApiKey / KeyPaused."""
        if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 100:
            raise InvalidApiKey()
        hashed = key_hash(plaintext)
        snapshot = self.keys.get(hashed)
        if snapshot is None:
            snapshot = await self._key_loaded(hashed)
            self.keys.put(hashed, snapshot)
        status = snapshot["status"]
        if status == KeyStatus.ACTIVE:
            return cast(KeySnapshot, snapshot)
        if status == KeyStatus.PAUSED:
            raise KeyPaused()
        raise InvalidApiKey()

    async def _key_loaded(self, hashed: str) -> KeySnapshot | KeyTombstone:
        try:
            raw = await self.redis.get(key_snapshot_key(key_hash=hashed))
        except (RedisError, OSError) as exc:
            # Redis is down: the last copy, else the database (read only; nothing to publish to).
            redis_outage_log("key lookup", exc, "serving the last copy or the database's")
            built = self.keys.stale(hashed) or await database_call(key_snapshot_build)(key_hash=hashed)
            return built or key_tombstone()
        stored = orjson.loads(raw) if raw is not None else None
        if isinstance(stored, dict) and stored.get("version") == KEY_SNAPSHOT_VERSION:
            return cast(KeySnapshot | KeyTombstone, stored)
        rebuilt = database_call(key_snapshot_publish)(key_hash=hashed)  # missing, or of an older shape
        return cast(KeySnapshot | KeyTombstone, await _rebuilt_or_stored(rebuilt, stored))

    async def channel(self, *, schema: str, channel_id: int) -> ChannelSnapshot:
        cache_key = (schema, channel_id)
        snapshot = self.channels.get(cache_key)
        if snapshot is None:
            snapshot = await self._channel_loaded(schema, channel_id) or ChannelSnapshot(
                version=CHANNEL_SNAPSHOT_VERSION, id=channel_id, organization_id=0, models={}, router=default_router()
            )
            self.channels.put(cache_key, snapshot)
        return snapshot

    async def _channel_loaded(self, schema: str, channel_id: int) -> ChannelSnapshot | None:
        try:
            raw = await self.redis.get(channel_snapshot_key(schema=schema, channel_id=channel_id))
        except (RedisError, OSError) as exc:
            redis_outage_log("channel lookup", exc, "serving the last copy or the database's")
            stale = self.channels.stale((schema, channel_id))
            return stale or await database_call(_channel_from_database)(schema, channel_id)
        stored = orjson.loads(raw) if raw is not None else None
        if isinstance(stored, dict) and stored.get("version") == CHANNEL_SNAPSHOT_VERSION:
            return cast(ChannelSnapshot, stored)
        rebuilt = database_call(channel_snapshot_publish)(schema=schema, channel_id=channel_id)
        return cast(ChannelSnapshot | None, await _rebuilt_or_stored(rebuilt, stored))


async def _rebuilt_or_stored(rebuilt: Awaitable[T], stored: object) -> T | object:
    """The snapshot rebuilt from the database; while the database is unreachable, one stored in an older
    shape (written before an upgrade) is served as it is, as it was before the upgrade."""
    try:
        return await rebuilt
    except DatabaseError:
        if not isinstance(stored, dict):
            raise
        logger.warning("database unreachable: serving a snapshot stored before an upgrade until it answers")
        return stored
