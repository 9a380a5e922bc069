"""A channel's whole routing as YAML: its `models:` entries and its `router:` block (apps.channels.yaml_io reads
it back). Secrets are never exported: an api_key is a `${NAME}` reference named after its credential."""

import re
from typing import Any

import yaml

from apps.channels.models import Channel, Deployment
from apps.channels.router_config import TIMEOUT_NAMES
from apps.channels.router_policy import router_document
from apps.providers.models import ProviderCredential, ProviderType

OPENAI_COMPATIBLE_NAME = "openai-compatible"  # how the YAML writes ProviderType.OPENAI_COMPATIBLE


def credential_reference(credential: ProviderCredential) -> str:
    """NAME of the `${NAME}` an exported api_key holds: the credential's name in capitals, `_` between words."""
    return re.sub(r"[^A-Z0-9]+", "_", credential.name.upper()).strip("_") or f"CREDENTIAL_{credential.pk}"


def _entry(deployment: Deployment) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": OPENAI_COMPATIBLE_NAME
        if deployment.provider == ProviderType.OPENAI_COMPATIBLE
        else deployment.provider,
        "model": deployment.upstream_model,
        "api_base": deployment.api_base,
    }
    if deployment.credential is not None:
        provider["api_key"] = "${" + credential_reference(deployment.credential) + "}"
    if deployment.api_version:
        provider["api_version"] = deployment.api_version
    entry: dict[str, Any] = {"alias": deployment.channel_model.alias, "provider": provider}
    if deployment.tags:
        entry["tags"] = deployment.tags
    if deployment.weight != 1:
        entry["weight"] = deployment.weight
    if deployment.rpm_limit is not None:
        entry["rpm"] = deployment.rpm_limit
    if deployment.tpm_limit is not None:
        entry["tpm"] = deployment.tpm_limit
    if deployment.timeouts:
        entry["timeouts"] = {name: deployment.timeouts[name] for name in TIMEOUT_NAMES if name in deployment.timeouts}
    return entry


def channel_yaml_export(*, channel: Channel) -> str:
    deployments = (
        Deployment.objects.filter(channel_model__channel=channel)
        .select_related("channel_model", "credential")
        .order_by("channel_model__alias", "id")
    )
    document: dict[str, Any] = {"models": [_entry(deployment) for deployment in deployments]}
    if channel.router:
        document["router"] = router_document(channel.router)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
