"""Step 2, authenticate: the key's snapshot on its own instance's host, its status, expiry and IP lists,
and the channel it calls through."""

import time

from apps.channels.snapshots import ChannelSnapshot
from apps.gateway.asgi_io import Scope, presented_key
from apps.gateway.errors import InvalidApiKey
from apps.gateway.hosts import InstanceHosts
from apps.gateway.lookup import Snapshots
from apps.gateway.quota import access_checks
from apps.keys.snapshots import KeySnapshot


async def authenticate(
    scope: Scope, *, client_ip: str, hosts: InstanceHosts, snapshots: Snapshots
) -> tuple[KeySnapshot, ChannelSnapshot]:
    """An active, unexpired key of the instance this host serves, called from an address its layers allow,
    and the channel it calls through (InvalidApiKey, KeyPaused, UnknownHost, KeyExpired, IpNotAllowed)."""
    schema = await hosts.schema(scope)
    key = await snapshots.key(presented_key(scope))
    if key["schema"] != schema:  # a key works only on its own instance's hosts
        raise InvalidApiKey()
    access_checks(key, client_ip=client_ip, now_ms=int(time.time() * 1000))
    channel = await snapshots.channel(schema=schema, channel_id=key["channel_id"])
    return key, channel
