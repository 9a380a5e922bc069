"""What the gateway knows about a key, by its SHA-256: published to Redis on every change."""

from collections.abc import Iterable
from functools import partial
from typing import Literal, NotRequired, TypedDict

import orjson
from django.db import transaction
from django.db.models import QuerySet
from django_tenants.utils import schema_context

from apps.core.redis import global_key, redis_client
from apps.keys.models import VirtualKey
from apps.quotas.limits import LayerLimits, gateway_defaults_snapshot, limits_snapshot
from apps.quotas.selectors import gateway_defaults_saved
from apps.tenancy.models import Instance, InstanceKind, KeyRoute
from apps.wallet.selectors import WalletLimit, plan_caps_snapshot, wallet_gateway_snapshot

# An unknown hash is remembered briefly so a flood of bad keys does not reach the database.
UNKNOWN_KEY_TTL_S = 30
# Raised whenever the shape below changes: the gateway rebuilds a snapshot of another version on read.
KEY_SNAPSHOT_VERSION = 3


class KeyLayers(TypedDict):
    key: LayerLimits
    team: LayerLimits
    org: LayerLimits


class KeySnapshot(TypedDict):
    """What the gateway knows about a key (JSON in Redis under its hash)."""

    version: int
    id: int
    schema: str
    organization_id: int
    team_id: int
    user_id: int | None
    channel_id: int
    status: str  # a KeyStatus
    expires_at_ms: int | None
    shared_instance: bool
    limits: KeyLayers
    tier: str
    plan_caps: list[int | None] | None  # [rpm, tpm] of the plan layer; None: no plan layer
    wallet: NotRequired[WalletLimit]  # prepaid organisations only
    gateway_defaults: NotRequired[dict[str, int | None]]  # the instance's saved defaults, if any
    tags: NotRequired[list[str]]  # routing tags the key requests (its metadata's "tags", as LiteLLM keys carry)


class KeyTombstone(TypedDict):
    """What an unknown hash is remembered as."""

    version: int
    status: Literal["revoked"]


def key_tombstone() -> KeyTombstone:
    return KeyTombstone(version=KEY_SNAPSHOT_VERSION, status="revoked")


def key_snapshot_key(*, key_hash: str) -> str:
    return global_key("key", key_hash)


def key_snapshot_build(*, key_hash: str) -> KeySnapshot | None:
    route = KeyRoute.objects.filter(key_hash=key_hash).first()
    if route is None:
        return None
    instance = Instance.objects.filter(schema_name=route.schema_name).first()
    with schema_context(route.schema_name):
        key = VirtualKey.objects.filter(key_hash=key_hash).select_related("team", "organization").first()
        if key is None:
            return None
        snapshot: KeySnapshot = {
            "version": KEY_SNAPSHOT_VERSION,
            "id": key.pk,
            "schema": route.schema_name,
            "organization_id": key.organization_id,
            "team_id": key.team_id,
            "user_id": key.user_id,
            "channel_id": key.channel_id,
            "status": key.status,
            "expires_at_ms": int(key.expires_at.timestamp() * 1000) if key.expires_at else None,
            "shared_instance": instance is not None and instance.kind == InstanceKind.SHARED,
            "limits": KeyLayers(
                key=limits_snapshot(key), team=limits_snapshot(key.team), org=limits_snapshot(key.organization)
            ),
            "tier": instance.tier if instance is not None else "free",
            "plan_caps": plan_caps_snapshot(organization=key.organization, instance=instance),
        }
        # Only saved defaults travel: without them each gateway process applies its environment's.
        wallet = wallet_gateway_snapshot(organization=key.organization)
        if wallet is not None:
            snapshot["wallet"] = wallet
        defaults = gateway_defaults_saved()
        if defaults is not None:
            snapshot["gateway_defaults"] = gateway_defaults_snapshot(defaults)
        tags = routing_tags(key.metadata)
        if tags:
            snapshot["tags"] = tags
        return snapshot


def routing_tags(metadata: object) -> list[str]:
    """The routing tags in a key's metadata (`{"tags": ["eu", "prod"]}`): strings only, at most 32."""
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    if not isinstance(tags, list):
        return []
    return [tag for tag in tags if isinstance(tag, str) and 0 < len(tag) <= 64][:32]


def key_snapshot_publish(*, key_hash: str) -> KeySnapshot | KeyTombstone:
    """Rebuild and store the snapshot of one key hash; an unknown hash gets a short-lived tombstone."""
    snapshot = key_snapshot_build(key_hash=key_hash)
    client = redis_client()
    if snapshot is None:
        tombstone = key_tombstone()
        client.set(key_snapshot_key(key_hash=key_hash), orjson.dumps(tombstone), ex=UNKNOWN_KEY_TTL_S)
        return tombstone
    client.set(key_snapshot_key(key_hash=key_hash), orjson.dumps(snapshot))
    return snapshot


def key_snapshot_stale(*, key_hash: str) -> bool:
    """Whether Redis holds something other than what the database says now (missing counts as stale)."""
    stored = redis_client().get(key_snapshot_key(key_hash=key_hash))
    built = key_snapshot_build(key_hash=key_hash)
    return stored is None or built is None or orjson.loads(stored) != built


def key_snapshots_publish_for(*, keys: Iterable[VirtualKey]) -> None:
    """Republish the snapshots of keys whose team or organisation limits changed."""
    for key_hash in [key.key_hash for key in keys]:
        key_snapshot_publish(key_hash=key_hash)


def key_snapshots_publish_on_commit(*, keys: QuerySet[VirtualKey]) -> None:
    """Republish these keys' snapshots once the current transaction commits (what they carry changed in it)."""
    hashes = list(keys.only("key_hash"))
    if hashes:
        transaction.on_commit(partial(key_snapshots_publish_for, keys=hashes))


def key_snapshots_publish_all() -> int:
    """Republish every key of the current instance (a change every snapshot carries, e.g. a plan's caps)."""
    keys = list(VirtualKey.objects.only("key_hash"))
    key_snapshots_publish_for(keys=keys)
    return len(keys)
