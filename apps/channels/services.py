from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.channels.models import Channel, ChannelModel, Deployment
from apps.channels.snapshots import channel_snapshot_publish
from apps.core.errors import Conflict, HyditeError
from apps.core.schemas import current_schema
from apps.orgs.models import Organization
from apps.providers.models import ProviderCredential, ProviderType
from apps.providers.services import provider_credential_create
from apps.providers.url_safety import UnsafeUpstream, api_base_check

DEFAULT_CHANNEL_NAME = "Default Channel"


@dataclass(frozen=True)
class DeploymentSpec:
    provider: str
    upstream_model: str
    api_base: str
    credential: ProviderCredential | None = None
    api_version: str = ""
    weight: int = 1
    tags: list[str] = field(default_factory=list)


def _publish_on_commit(channel: Channel) -> None:
    schema, channel_id = current_schema(), channel.pk
    transaction.on_commit(lambda: channel_snapshot_publish(schema=schema, channel_id=channel_id))


class ChannelNameTaken(Conflict):
    code = "channel_exists"


@transaction.atomic
def channel_create(*, organization: Organization, name: str, actor: User | None, is_default: bool = False) -> Channel:
    name = name.strip()
    slug = slugify(name)[:60] or "channel"
    if Channel.objects.filter(organization=organization, slug=slug).exists():
        raise ChannelNameTaken(f"A channel named {name!r} already exists.", param="name")
    channel = Channel.objects.create(organization=organization, name=name, slug=slug, is_default=is_default)
    audit_record(
        actor=actor,
        action="channel.create",
        target=channel,
        organization_id=organization.pk,
        after={"name": channel.name, "default": is_default},
    )
    _publish_on_commit(channel)
    return channel


def channel_default_ensure(*, organization: Organization, actor: User | None) -> Channel:
    """The organisation's Default Channel; a new one starts with the instance's curated models."""
    existing = Channel.objects.filter(organization=organization, is_default=True).first()
    if existing is not None:
        return existing
    channel = channel_create(organization=organization, name=DEFAULT_CHANNEL_NAME, actor=actor, is_default=True)
    curated = Channel.objects.filter(is_curated=True).exclude(organization=organization).first()
    if curated is not None:
        _models_copy(source=curated, target=channel, actor=actor)
    return channel


def _models_copy(*, source: Channel, target: Channel, actor: User | None) -> None:
    """The source's aliases with their deployments that use no credential or the platform's own (an operator's mix)."""
    for channel_model in source.models.prefetch_related("deployments__credential"):
        specs = [
            _spec_of(deployment)
            for deployment in channel_model.deployments.all()
            if deployment.is_active and (deployment.credential is None or deployment.credential.organization_id is None)
        ]
        if specs:
            channel_model_set(
                channel=target, alias=channel_model.alias, deployments=specs, actor=actor, platform_managed=True
            )


@transaction.atomic
def channel_curated_set(*, channel: Channel, actor: User | None) -> Channel:
    """Make `channel` the instance's curated model mix (operators: seed, staff tools)."""
    if not channel.is_curated:
        Channel.objects.filter(is_curated=True).update(is_curated=False)
        channel.is_curated = True
        channel.save(update_fields=["is_curated"])
        audit_record(actor=actor, action="channel.curate", target=channel, organization_id=channel.organization_id)
    return channel


class InvalidDeployment(HyditeError):
    code = "invalid_deployment"


def _check_deployment(spec: DeploymentSpec, *, organization_id: int, platform_managed: bool) -> DeploymentSpec:
    if spec.provider not in ProviderType.values:
        raise InvalidDeployment(f"Unknown provider {spec.provider!r}.", param="provider")
    credential = spec.credential
    if credential is not None and credential.organization_id is None and not platform_managed:
        # CVE-2024-6587 class: the platform's own provider keys never go to a URL a tenant chose.
        raise InvalidDeployment(
            "Platform credentials can only be used by platform-managed deployments.", param="credential"
        )
    if credential is not None and credential.organization_id not in {None, organization_id}:
        raise InvalidDeployment("That credential belongs to another organisation.", param="credential")
    try:
        api_base = api_base_check(
            spec.api_base,
            allowlist=settings.GATEWAY_UPSTREAM_ALLOWLIST,
            require_https=settings.GATEWAY_UPSTREAM_REQUIRE_HTTPS,
        )
    except UnsafeUpstream as exc:
        raise InvalidDeployment(str(exc), param="api_base") from exc
    return replace(spec, api_base=api_base)


@transaction.atomic
def channel_model_set(
    *,
    channel: Channel,
    alias: str,
    deployments: list[DeploymentSpec],
    actor: User | None,
    platform_managed: bool = False,
) -> ChannelModel:
    """Make `alias` callable through `channel`, served by exactly these deployments.

    `platform_managed` is for operator paths (seed, staff tools): only those may pair a
    deployment with one of the platform's own credentials.
    """
    deployments = [
        _check_deployment(spec, organization_id=channel.organization_id, platform_managed=platform_managed)
        for spec in deployments
    ]
    channel_model, _ = ChannelModel.objects.get_or_create(channel=channel, alias=alias)
    channel_model.deployments.all().delete()
    Deployment.objects.bulk_create(
        Deployment(
            channel_model=channel_model,
            provider=spec.provider,
            upstream_model=spec.upstream_model,
            api_base=spec.api_base,
            api_version=spec.api_version,
            credential=spec.credential,
            weight=spec.weight,
            tags=spec.tags,
        )
        for spec in deployments
    )
    audit_record(
        actor=actor,
        action="channel.model_set",
        target=channel,
        organization_id=channel.organization_id,
        after={"alias": alias, "deployments": [f"{spec.provider}:{spec.upstream_model}" for spec in deployments]},
    )
    _publish_on_commit(channel)
    return channel_model


def _spec_of(deployment: Deployment) -> DeploymentSpec:
    return DeploymentSpec(
        provider=deployment.provider,
        upstream_model=deployment.upstream_model,
        api_base=deployment.api_base,
        credential=deployment.credential,
        api_version=deployment.api_version,
        weight=deployment.weight,
        tags=list(deployment.tags),
    )


def _alias_specs(channel: Channel, alias: str, *, without: Deployment | None = None) -> list[DeploymentSpec]:
    deployments = Deployment.objects.filter(channel_model__channel=channel, channel_model__alias=alias).select_related(
        "credential"
    )
    return [_spec_of(d) for d in deployments.order_by("id") if without is None or d.pk != without.pk]


def _with_new_credential(spec: DeploymentSpec, *, channel: Channel, alias: str, api_key: str) -> DeploymentSpec:
    credential = provider_credential_create(
        organization=channel.organization, name=f"{channel.slug}/{alias}"[:100], provider=spec.provider, secret=api_key
    )
    return replace(spec, credential=credential)


@transaction.atomic
def deployment_add(
    *, channel: Channel, alias: str, spec: DeploymentSpec, api_key: str = "", actor: User | None
) -> ChannelModel:
    """Add one deployment to `alias` (created if new), keeping the alias's other deployments.

    A non-empty `api_key` is stored as a new credential of the channel's organisation.
    """
    alias = alias.strip()
    if api_key:
        spec = _with_new_credential(spec, channel=channel, alias=alias, api_key=api_key)
    return channel_model_set(
        channel=channel, alias=alias, deployments=[*_alias_specs(channel, alias), spec], actor=actor
    )


@transaction.atomic
def deployment_replace(
    *, deployment: Deployment, spec: DeploymentSpec, api_key: str = "", actor: User | None
) -> ChannelModel:
    """Change one deployment; an empty `api_key` keeps its current credential."""
    channel_model = deployment.channel_model
    channel = channel_model.channel
    if api_key:
        spec = _with_new_credential(spec, channel=channel, alias=channel_model.alias, api_key=api_key)
    else:
        spec = replace(spec, credential=deployment.credential)
    others = _alias_specs(channel, channel_model.alias, without=deployment)
    return channel_model_set(channel=channel, alias=channel_model.alias, deployments=[*others, spec], actor=actor)


@transaction.atomic
def deployment_remove(*, deployment: Deployment, actor: User | None) -> None:
    """Remove one deployment; an alias left with none is removed from the channel."""
    channel_model = deployment.channel_model
    channel = channel_model.channel
    deployment.delete()
    if not channel_model.deployments.exists():
        channel_model.delete()
    audit_record(
        actor=actor,
        action="channel.deployment_remove",
        target=channel,
        organization_id=channel.organization_id,
        before={"alias": channel_model.alias, "deployment": f"{deployment.provider}:{deployment.upstream_model}"},
    )
    _publish_on_commit(channel)
