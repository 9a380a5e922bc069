"""What the gateway knows about a channel: aliases → deployments, published to Redis on every change."""

from collections.abc import Iterable
from typing import TypedDict

import orjson
from django.db.models import Q
from django_tenants.utils import schema_context

from apps.channels.models import Channel, Deployment
from apps.channels.router_config import RouterSnapshot, Timeouts
from apps.channels.router_policy import router_resolve
from apps.core.redis import redis_client, tenant_key
from apps.providers.models import PriceOverride

# Raised whenever the shape below changes: the gateway rebuilds a snapshot of another version on read.
CHANNEL_SNAPSHOT_VERSION = 4


class PriceOverrideSnapshot(TypedDict):
    id: int
    from_ms: int
    input: int | None  # micro-USD per million tokens (None: the sheet's)
    cached_input: int | None
    cache_write: int | None
    cache_write_1h: int | None
    output: int | None
    per_request: int | None
    per_image: int | None


class DeploymentSnapshot(TypedDict):
    id: int
    provider: str
    upstream_model: str
    api_base: str
    api_version: str
    secret: str | None  # still encrypted: the gateway decrypts in memory, Redis never holds it in clear
    weight: int
    tags: list[str]
    rpm: int | None  # the provider account's caps for this deployment (None: none known)
    tpm: int | None
    timeouts: Timeouts  # a timeout not set: None
    price_overrides: list[PriceOverrideSnapshot]  # the channel's own first, then every channel's; newest first


class ChannelSnapshot(TypedDict):
    """What the gateway knows about a channel (JSON in Redis): its aliases, their deployments, its router."""

    version: int
    id: int
    organization_id: int
    models: dict[str, list[DeploymentSnapshot]]
    router: RouterSnapshot  # resolved: nothing left to merge on a request


def channel_snapshot_key(*, schema: str, channel_id: int) -> str:
    return tenant_key(schema, "channel", channel_id)


def _timeouts(stored: dict[str, float]) -> Timeouts:
    def seconds(name: str) -> float | None:
        return float(stored[name]) if name in stored else None

    return Timeouts(
        connect_s=seconds("connect_s"),
        first_byte_s=seconds("first_byte_s"),
        idle_s=seconds("idle_s"),
        total_s=seconds("total_s"),
    )


def _deployment_snapshot(deployment: Deployment, overrides: list[PriceOverrideSnapshot]) -> DeploymentSnapshot:
    return DeploymentSnapshot(
        id=deployment.pk,
        provider=deployment.provider,
        upstream_model=deployment.upstream_model,
        api_base=deployment.api_base.rstrip("/"),
        api_version=deployment.api_version,
        secret=deployment.credential.secret_encrypted if deployment.credential else None,
        weight=deployment.weight,
        tags=list(deployment.tags),
        rpm=deployment.rpm_limit,
        tpm=deployment.tpm_limit,
        timeouts=_timeouts(deployment.timeouts),
        price_overrides=overrides,
    )


def _models_snapshot(channel: Channel) -> dict[str, list[DeploymentSnapshot]]:
    """Each alias (in order) with its active deployments."""
    deployments = list(
        Deployment.objects.filter(channel_model__channel=channel, is_active=True)
        .select_related("channel_model", "credential")
        .order_by("channel_model__alias", "id")
    )
    models: dict[str, list[DeploymentSnapshot]] = {
        alias: [] for alias in channel.models.order_by("alias").values_list("alias", flat=True)
    }
    overrides = price_overrides_for_snapshot(channel_id=channel.pk, models={d.upstream_model for d in deployments})
    for deployment in deployments:
        models[deployment.channel_model.alias].append(
            _deployment_snapshot(deployment, overrides.get(deployment.upstream_model, []))
        )
    return models


def channel_snapshot_build(*, channel_id: int) -> ChannelSnapshot | None:
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return None
    models = _models_snapshot(channel)
    return ChannelSnapshot(
        version=CHANNEL_SNAPSHOT_VERSION,
        id=channel.pk,
        organization_id=channel.organization_id,
        models=models,
        router=router_resolve(channel.router, aliases=models.keys()),
    )


def price_overrides_for_snapshot(*, channel_id: int, models: Iterable[str]) -> dict[str, list[PriceOverrideSnapshot]]:
    """Per upstream model, the overrides that may apply on this channel, in precedence order (the
    channel's own, then every channel's; newest first): the gateway takes the first in force."""
    overrides = PriceOverride.objects.filter(model__in=set(models)).filter(
        Q(channel_id=channel_id) | Q(channel__isnull=True)
    )
    by_model: dict[str, list[PriceOverrideSnapshot]] = {}
    for override in sorted(
        overrides, key=lambda o: (o.model, o.channel_id is None, -o.effective_from.timestamp(), -o.pk)
    ):
        by_model.setdefault(override.model, []).append(
            PriceOverrideSnapshot(
                id=override.pk,
                from_ms=int(override.effective_from.timestamp() * 1000),
                input=override.input_micros_per_mtok,
                cached_input=override.cached_input_micros_per_mtok,
                cache_write=override.cache_write_micros_per_mtok,
                cache_write_1h=override.cache_write_1h_micros_per_mtok,
                output=override.output_micros_per_mtok,
                per_request=override.per_request_micros,
                per_image=override.per_image_micros,
            )
        )
    return by_model


def channel_snapshot_publish(*, schema: str, channel_id: int) -> ChannelSnapshot | None:
    """Rebuild one channel's snapshot and store it; returns it (None if the channel is gone)."""
    with schema_context(schema):
        snapshot = channel_snapshot_build(channel_id=channel_id)
    key = channel_snapshot_key(schema=schema, channel_id=channel_id)
    if snapshot is None:
        redis_client().delete(key)
    else:
        redis_client().set(key, orjson.dumps(snapshot))
    return snapshot
