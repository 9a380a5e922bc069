"""A channel's models as the routing YAML of the Dedicated guide (section 2.5), in and out.

    models:
      - alias: claude-sonnet-4-5
        provider: {name: anthropic, model: claude-sonnet-4-5, api_key: ${ACME_ANTHROPIC_KEY},
                   api_base: https://api.anthropic.com}
        tags: [prod]

Entries sharing an alias become that alias's deployments. `${ENV}` references are resolved
only when an operator imports (the management command passes the environment); from the
dashboard or API they are refused, so a tenant can never read the server's environment.
Secrets are never exported: an exported api_key is a `${NAME}` reference to fill in.
"""

import re
from collections.abc import Mapping
from typing import Any

import yaml
from django.db import transaction

from apps.accounts.models import User
from apps.channels.models import Channel, ChannelModel, Deployment
from apps.channels.services import DeploymentSpec, InvalidDeployment, channel_model_set
from apps.providers.models import ProviderCredential, ProviderType
from apps.providers.services import provider_credential_create

ENV_REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")
PROVIDER_NAMES = {"openai-compatible": ProviderType.OPENAI_COMPATIBLE, **{p.value: p.value for p in ProviderType}}
MAX_YAML_BYTES = 256 * 1024


def _credential_reference(credential: ProviderCredential) -> str:
    name = re.sub(r"[^A-Z0-9]+", "_", credential.name.upper()).strip("_") or f"CREDENTIAL_{credential.pk}"
    return "${" + name + "}"


def channel_yaml_export(*, channel: Channel) -> str:
    entries = []
    deployments = (
        Deployment.objects.filter(channel_model__channel=channel)
        .select_related("channel_model", "credential")
        .order_by("channel_model__alias", "id")
    )
    for deployment in deployments:
        provider: dict[str, Any] = {
            "name": "openai-compatible"
            if deployment.provider == ProviderType.OPENAI_COMPATIBLE
            else deployment.provider,
            "model": deployment.upstream_model,
            "api_base": deployment.api_base,
        }
        if deployment.credential is not None:
            provider["api_key"] = _credential_reference(deployment.credential)
        if deployment.api_version:
            provider["api_version"] = deployment.api_version
        entry: dict[str, Any] = {"alias": deployment.channel_model.alias, "provider": provider}
        if deployment.tags:
            entry["tags"] = deployment.tags
        if deployment.weight != 1:
            entry["weight"] = deployment.weight
        entries.append(entry)
    return yaml.safe_dump({"models": entries}, sort_keys=False, allow_unicode=True)


def _fail(message: str, param: str) -> InvalidDeployment:
    return InvalidDeployment(message, param=param)


def _secret(raw: Any, *, where: str, environ: Mapping[str, str] | None) -> str | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise _fail("api_key must be a string.", where)
    reference = ENV_REFERENCE.match(raw.strip())
    if reference is None:
        return raw.strip()
    if environ is None:
        raise _fail("Environment references are resolved only by an operator import; paste the key instead.", where)
    value = environ.get(reference.group(1))
    if not value:
        raise _fail(f"The environment has no {reference.group(1)}.", where)
    return value


def _parse(text: str) -> list[dict[str, Any]]:
    if len(text.encode()) > MAX_YAML_BYTES:
        raise _fail(f"The YAML is larger than {MAX_YAML_BYTES // 1024} KiB.", "yaml")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(f"This is not valid YAML: {exc}".splitlines()[0], "yaml") from exc
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise _fail("The YAML needs a top-level `models:` list.", "models")
    return document["models"]


@transaction.atomic
def channel_yaml_import(
    *,
    channel: Channel,
    text: str,
    actor: User | None,
    environ: Mapping[str, str] | None = None,
    platform_managed: bool = False,
) -> list[ChannelModel]:
    """Set every alias the YAML names (others are left alone); all or nothing."""
    by_alias: dict[str, list[DeploymentSpec]] = {}
    for index, entry in enumerate(_parse(text)):
        where = f"models[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("alias"), str) or not entry["alias"].strip():
            raise _fail("Each entry needs an alias.", f"{where}.alias")
        provider = entry.get("provider")
        if not isinstance(provider, dict):
            raise _fail("Each entry needs a provider mapping.", f"{where}.provider")
        provider_type = PROVIDER_NAMES.get(str(provider.get("name", "")).lower())
        if provider_type is None:
            raise _fail(f"Unknown provider {provider.get('name')!r}.", f"{where}.provider.name")
        api_base = provider.get("api_base")
        if not isinstance(api_base, str) or not api_base:
            raise _fail("provider.api_base is required.", f"{where}.provider.api_base")
        secret = _secret(provider.get("api_key"), where=f"{where}.provider.api_key", environ=environ)
        credential = None
        if secret is not None:
            credential = provider_credential_create(
                organization=channel.organization,
                name=f"{channel.slug}/{entry['alias']}",
                provider=provider_type,
                secret=secret,
            )
        tags = entry.get("tags") or []
        weight = entry.get("weight", 1)
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise _fail("tags must be a list of strings.", f"{where}.tags")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 1000:
            raise _fail("weight must be an integer from 1 to 1000.", f"{where}.weight")
        by_alias.setdefault(entry["alias"].strip(), []).append(
            DeploymentSpec(
                provider=provider_type,
                upstream_model=str(provider.get("model") or entry["alias"]),
                api_base=api_base,
                credential=credential,
                api_version=str(provider.get("api_version") or ""),
                weight=weight,
                tags=tags,
            )
        )
    return [
        channel_model_set(
            channel=channel, alias=alias, deployments=specs, actor=actor, platform_managed=platform_managed
        )
        for alias, specs in by_alias.items()
    ]
