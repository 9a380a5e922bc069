import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeGuard

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.channels.models import Channel, ChannelModel, Deployment
from apps.channels.router_config import TIMEOUT_NAMES
from apps.channels.router_policy import router_without_alias
from apps.channels.routing_history import routing_change
from apps.channels.snapshots import channel_snapshot_publish
from apps.core.errors import Conflict, HyditeError
from apps.core.schemas import current_schema
from apps.orgs.models import Organization
from apps.providers.models import ProviderCredential, ProviderType
from apps.providers.services import provider_credential_create
from apps.providers.url_safety import UnsafeUpstream, api_base_check

DEFAULT_CHANNEL_NAME = "Default Channel"
# What a deployment may hold: no more than its columns take, and only characters the wire carries.
ALIAS_MAX_LENGTH = 200  # ChannelModel.alias
UPSTREAM_MODEL_MAX_LENGTH = 200  # Deployment.upstream_model
API_BASE_MAX_LENGTH = 500  # Deployment.api_base
API_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")  # Deployment.api_version, 40; sent in URLs and headers
API_KEY = re.compile(r"[\x21-\x7e]{1,4096}")  # sent in a header: printable ASCII, no spaces
CREDENTIAL_NAME_MAX_LENGTH = 100  # ProviderCredential.name
TAGS_MAX, TAG_MAX_LENGTH = 32, 64
WEIGHT_MAX = 1000
RPM_LIMIT_MAX, TPM_LIMIT_MAX = 10_000_000, 2_000_000_000  # Deployment.rpm_limit/tpm_limit hold up to 2**31 - 1
TIMEOUT_MAX_S = 3600


@dataclass(frozen=True)
class DeploymentSpec:
    provider: str
    upstream_model: str
    api_base: str
    credential: ProviderCredential | None = None
    api_version: str = ""
    weight: int = 1
    tags: list[str] = field(default_factory=list)
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    timeouts: dict[str, float] = field(default_factory=dict)  # any of TIMEOUT_NAMES


def channel_publish_on_commit(channel: Channel) -> None:
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
    channel_publish_on_commit(channel)
    return channel


def channel_default_ensure(*, organization: Organization, actor: User | None) -> Channel:
    """The organisation's Default Channel; a new one starts with the instance's curated models."""
    existing = Channel.objects.filter(organization=organization, is_default=True).first()
    if existing is not None:
        return existing
    channel = channel_create(organization=organization, name=DEFAULT_CHANNEL_NAME, actor=actor, is_default=True)
    curated = Channel.objects.filter(is_curated=True).exclude(organization=organization).first()
    if curated is not None:
        with routing_change(channel=channel, actor=actor, summary="copied the instance's curated models"):
            _models_copy(source=curated, target=channel, actor=actor)
    return channel


def _models_copy(*, source: Channel, target: Channel, actor: User | None) -> None:
    """The source's aliases with their deployments that use no credential or the platform's own (an operator's
    mix), and its router without the aliases left behind."""
    router = dict(source.router)
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
        else:
            router = router_without_alias(router, channel_model.alias)
    if router:
        Channel.objects.filter(pk=target.pk).update(router=router)  # checked when the source's was set
        target.router = router


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


def text_check(value: object, *, param: str, max_length: int) -> str:
    """A required one-line string its column can hold (surrounding spaces dropped)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidDeployment("Required: a non-empty string.", param=param)
    value = value.strip()
    if len(value) > max_length:
        raise InvalidDeployment(f"At most {max_length} characters.", param=param)
    if not value.isprintable():
        raise InvalidDeployment("Must not contain control characters (NUL, line breaks, …).", param=param)
    return value


def alias_check(alias: object) -> str:
    """The alias as stored, or InvalidDeployment(param="alias")."""
    return text_check(alias, param="alias", max_length=ALIAS_MAX_LENGTH)


def api_key_check(api_key: object) -> str:
    """A provider key as stored, or InvalidDeployment(param="api_key")."""
    if not isinstance(api_key, str) or not API_KEY.fullmatch(api_key.strip()):
        raise InvalidDeployment("At most 4096 printable ASCII characters, without spaces.", param="api_key")
    return api_key.strip()


def _provider_check(provider: object) -> None:
    if not isinstance(provider, str) or provider not in ProviderType.values:
        raise InvalidDeployment(f"One of: {', '.join(ProviderType.values)}.", param="provider")


def tags_check(tags: object, *, param: str = "tags") -> list[str]:
    if not isinstance(tags, list) or len(tags) > TAGS_MAX:
        raise InvalidDeployment(f"A list of at most {TAGS_MAX} tags.", param=param)
    return [text_check(tag, param=param, max_length=TAG_MAX_LENGTH) for tag in tags]


def is_whole(value: object) -> TypeGuard[int]:
    """An integer, not a bool (YAML's `yes` and JSON's `true` are ints to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An integer or a finite float, not a bool."""
    return is_whole(value) or (isinstance(value, float) and math.isfinite(value))


def _limit_check(value: object, *, param: str, maximum: int) -> int | None:
    if value is None:
        return None
    if not is_whole(value) or not 1 <= value <= maximum:
        raise InvalidDeployment(f"An integer from 1 to {maximum}, or nothing.", param=param)
    return value


def timeouts_check(timeouts: object) -> dict[str, float]:
    """Any of TIMEOUT_NAMES, each a number of seconds in (0, TIMEOUT_MAX_S], none above total_s."""
    if not isinstance(timeouts, dict):
        raise InvalidDeployment(f"A mapping of any of {', '.join(TIMEOUT_NAMES)}.", param="timeouts")
    for name, seconds in timeouts.items():
        if name not in TIMEOUT_NAMES:
            raise InvalidDeployment(f"Not a timeout: one of {', '.join(TIMEOUT_NAMES)}.", param=f"timeouts.{name}")
        if not is_number(seconds) or not 0 < seconds <= TIMEOUT_MAX_S:
            raise InvalidDeployment(f"Seconds: a number above 0, at most {TIMEOUT_MAX_S}.", param=f"timeouts.{name}")
    total = timeouts.get("total_s")
    for name in TIMEOUT_NAMES[:-1]:
        if total is not None and timeouts.get(name, 0) > total:
            raise InvalidDeployment(f"At most total_s ({total}).", param=f"timeouts.{name}")
    return {name: timeouts[name] for name in TIMEOUT_NAMES if name in timeouts}


def deployment_spec_check(spec: DeploymentSpec) -> DeploymentSpec:
    """The spec with every field bounded and its api_base checked and normalised.

    Raises InvalidDeployment naming the DeploymentSpec field at fault; the fields may hold any
    type (parsed YAML does), so a wrong one is refused here rather than by the database.
    """
    _provider_check(spec.provider)
    upstream_model = text_check(spec.upstream_model, param="upstream_model", max_length=UPSTREAM_MODEL_MAX_LENGTH)
    if not isinstance(spec.api_version, str) or (spec.api_version and not API_VERSION.fullmatch(spec.api_version)):
        raise InvalidDeployment("At most 40 letters, digits, dots, dashes or underscores.", param="api_version")
    if not is_whole(spec.weight) or not 1 <= spec.weight <= WEIGHT_MAX:
        raise InvalidDeployment(f"An integer from 1 to {WEIGHT_MAX}.", param="weight")
    tags = tags_check(spec.tags)
    _limit_check(spec.rpm_limit, param="rpm_limit", maximum=RPM_LIMIT_MAX)
    _limit_check(spec.tpm_limit, param="tpm_limit", maximum=TPM_LIMIT_MAX)
    timeouts = timeouts_check(spec.timeouts)
    api_base = text_check(spec.api_base, param="api_base", max_length=API_BASE_MAX_LENGTH)
    try:
        api_base = api_base_check(
            api_base,
            allowlist=settings.GATEWAY_UPSTREAM_ALLOWLIST,
            require_https=settings.GATEWAY_UPSTREAM_REQUIRE_HTTPS,
        )
    except UnsafeUpstream as exc:
        raise InvalidDeployment(str(exc), param="api_base") from exc
    return replace(spec, upstream_model=upstream_model, api_base=api_base, tags=tags, timeouts=timeouts)


def _check_deployment(spec: DeploymentSpec, *, organization_id: int, platform_managed: bool) -> DeploymentSpec:
    spec = deployment_spec_check(spec)
    credential = spec.credential
    if credential is not None and credential.organization_id is None and not platform_managed:
        # CVE-2024-6587 class: the platform's own provider keys never go to a URL a tenant chose.
        raise InvalidDeployment(
            "Platform credentials can only be used by platform-managed deployments.", param="credential"
        )
    if credential is not None and credential.organization_id not in {None, organization_id}:
        raise InvalidDeployment("That credential belongs to another organisation.", param="credential")
    return spec


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
    alias = alias_check(alias)
    deployments = [
        _check_deployment(spec, organization_id=channel.organization_id, platform_managed=platform_managed)
        for spec in deployments
    ]
    with routing_change(channel=channel, actor=actor, summary=f"set {alias}"):
        channel_model, _ = ChannelModel.objects.get_or_create(channel=channel, alias=alias)
        channel_model.deployments.all().delete()
        Deployment.objects.bulk_create(
            Deployment(channel_model=channel_model, **_spec_fields(spec)) for spec in deployments
        )
    audit_record(
        actor=actor,
        action="channel.model_set",
        target=channel,
        organization_id=channel.organization_id,
        after={"alias": alias, "deployments": [f"{spec.provider}:{spec.upstream_model}" for spec in deployments]},
    )
    channel_publish_on_commit(channel)
    return channel_model


def _spec_fields(source: DeploymentSpec | Deployment) -> dict[str, Any]:
    """A spec's fields, read from a spec or from the deployment row that holds them (same names)."""
    return {spec_field.name: getattr(source, spec_field.name) for spec_field in fields(DeploymentSpec)}


def _spec_of(deployment: Deployment) -> DeploymentSpec:
    return DeploymentSpec(
        **{**_spec_fields(deployment), "tags": list(deployment.tags), "timeouts": dict(deployment.timeouts)}
    )


def _alias_specs(channel: Channel, alias: str, *, without: Deployment | None = None) -> list[DeploymentSpec]:
    deployments = Deployment.objects.filter(channel_model__channel=channel, channel_model__alias=alias).select_related(
        "credential"
    )
    return [_spec_of(d) for d in deployments.order_by("id") if without is None or d.pk != without.pk]


def deployment_credential_create(*, spec: DeploymentSpec, channel: Channel, alias: str, api_key: str) -> DeploymentSpec:
    """The spec with `api_key` stored as a new credential of the channel's organisation."""
    _provider_check(spec.provider)
    credential = provider_credential_create(
        organization=channel.organization,
        name=f"{channel.slug}/{alias}"[:CREDENTIAL_NAME_MAX_LENGTH],
        provider=spec.provider,
        secret=api_key_check(api_key),
    )
    return replace(spec, credential=credential)


@transaction.atomic
def deployment_add(
    *, channel: Channel, alias: str, spec: DeploymentSpec, api_key: str = "", actor: User | None
) -> ChannelModel:
    """Add one deployment to `alias` (created if new), keeping the alias's other deployments.

    A non-empty `api_key` is stored as a new credential of the channel's organisation.
    """
    alias = alias_check(alias)
    with routing_change(channel=channel, actor=actor, summary=f"added a deployment of {alias}"):
        if api_key:
            spec = deployment_credential_create(spec=spec, channel=channel, alias=alias, api_key=api_key)
        return channel_model_set(
            channel=channel, alias=alias, deployments=[*_alias_specs(channel, alias), spec], actor=actor
        )


@transaction.atomic
def deployment_replace(
    *, deployment: Deployment, spec: DeploymentSpec, api_key: str = "", actor: User | None
) -> ChannelModel:
    """Change one deployment; an empty `api_key` keeps its current credential.

    Caps and timeouts the spec leaves unset (None, {}) keep the deployment's: the Channels page's form does not
    carry them yet, and saving it must not drop what the routing YAML set.
    """
    channel_model = deployment.channel_model
    channel = channel_model.channel
    alias = channel_model.alias
    spec = replace(
        spec,
        rpm_limit=deployment.rpm_limit if spec.rpm_limit is None else spec.rpm_limit,
        tpm_limit=deployment.tpm_limit if spec.tpm_limit is None else spec.tpm_limit,
        timeouts=spec.timeouts or dict(deployment.timeouts),
    )
    with routing_change(channel=channel, actor=actor, summary=f"changed a deployment of {alias}"):
        if api_key:
            spec = deployment_credential_create(spec=spec, channel=channel, alias=alias, api_key=api_key)
        else:
            spec = replace(spec, credential=deployment.credential)
        others = _alias_specs(channel, alias, without=deployment)
        return channel_model_set(channel=channel, alias=alias, deployments=[*others, spec], actor=actor)


@transaction.atomic
def deployment_remove(*, deployment: Deployment, actor: User | None) -> None:
    """Remove one deployment; an alias left with none is removed from the channel, and from its router."""
    channel_model = deployment.channel_model
    channel = channel_model.channel
    alias = channel_model.alias
    with routing_change(channel=channel, actor=actor, summary=f"removed a deployment of {alias}"):
        deployment.delete()
        if not channel_model.deployments.exists():
            channel_model.delete()
            channel.refresh_from_db(fields=["router"])
            channel.router = router_without_alias(channel.router, alias)
            channel.save(update_fields=["router"])
    audit_record(
        actor=actor,
        action="channel.deployment_remove",
        target=channel,
        organization_id=channel.organization_id,
        before={"alias": channel_model.alias, "deployment": f"{deployment.provider}:{deployment.upstream_model}"},
    )
    channel_publish_on_commit(channel)
