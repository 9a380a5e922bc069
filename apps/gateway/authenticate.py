"""Step 2, authenticate: the key's snapshot on its own instance's host, its status, expiry and IP lists,
and the channel it calls through."""

import time

from apps.channels.snapshots import ChannelSnapshot
from apps.gateway.asgi_io import Scope, bearer_key
from apps.gateway.errors import InvalidApiKey
from apps.gateway.hosts import InstanceHosts
from apps.gateway.lookup import Snapshots
from apps.gateway.quota import access_checks
from apps.keys.snapshots import KeySnapshot


async def authenticated_key(scope: Scope, *, hosts: InstanceHosts, snapshots: Snapshots) -> KeySnapshot:
    """An active key of the instance this host serves (InvalidApiKey, KeyPaused, UnknownHost otherwise)."""
    schema = await hosts.schema(scope)
    key = await snapshots.key(bearer_key(scope))
    if key["schema"] != schema:  # a key works only on its own instance's hosts
        raise InvalidApiKey()
    return key


def key_access_check(key: KeySnapshot, *, client_ip: str) -> None:
    """Expiry and the IP allow list of every layer (KeyExpired, IpNotAllowed)."""
    access_checks(key, client_ip=client_ip, now_ms=int(time.time() * 1000))


async def key_channel(key: KeySnapshot, *, snapshots: Snapshots) -> ChannelSnapshot:
    return await snapshots.channel(schema=key["schema"], channel_id=key["channel_id"])
