"""A channel's routing YAML in: its `models:` entries (the Dedicated guide, section 2.5) and its `router:` block.

    models:
      - alias: claude-sonnet-4-5
        provider: {name: anthropic, model: claude-sonnet-4-5, api_key: ${ACME_ANTHROPIC_KEY},
                   api_base: https://api.anthropic.com}
        tags: [prod]
        rpm: 4000                   # the provider account's caps for this deployment
        tpm: 2000000
        timeouts: {connect_s: 5, first_byte_s: 30, idle_s: 30, total_s: 600}
    router: {strategy: latency, fallbacks: {claude-sonnet-4-5: [gpt-4o]}}   # apps.channels.routing_yaml

Entries sharing an alias become that alias's deployments. An import sets the aliases it names and leaves the
channel's others alone; a `router:` block, when present, replaces the channel's (a rollback, in
apps.channels.routing_rollback, restores the whole routing instead). `${ENV}` references are resolved only
when an operator imports (the management command passes the environment); from the dashboard or API they are
refused, so a tenant can never read the server's environment, except in the Channels page's editor, where they
name the organisation's credentials as an export writes them (never the environment). A `router:` block needs
the Enterprise plan unless an operator imports (other plans choose a preset). Exports: apps.channels.yaml_export.

The document is untrusted (apps.channels.yaml_read bounds it); every key is known and every field checked
like the Channels page's form (services.deployment_spec_check); a refusal names the field
(`models[3].provider.api_base`) and its line. Nothing is written unless everything is valid.
"""

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.channels.models import Channel, ChannelModel
from apps.channels.router_services import RoutingYamlNotInPlan, channel_router_set
from apps.channels.routing_credentials import reference_credentials
from apps.channels.routing_history import routing_change
from apps.channels.routing_yaml import router_check
from apps.channels.selectors import routing_yaml_allowed_here
from apps.channels.services import (
    DeploymentSpec,
    InvalidDeployment,
    alias_check,
    api_key_check,
    channel_model_set,
    deployment_credential_create,
    deployment_spec_check,
)
from apps.channels.yaml_export import OPENAI_COMPATIBLE_NAME, channel_yaml_export
from apps.channels.yaml_read import MAX_YAML_BYTES, MAX_YAML_ENTRIES, Lines, located, yaml_read
from apps.providers.models import ProviderCredential, ProviderType
from apps.providers.url_safety import dns_time_limit

__all__ = ["MAX_YAML_BYTES", "channel_yaml_export", "channel_yaml_import", "routing_document_read"]

ENV_REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")
PROVIDER_NAMES = {OPENAI_COMPATIBLE_NAME: ProviderType.OPENAI_COMPATIBLE, **{p.value: p.value for p in ProviderType}}
DOCUMENT_KEYS = ("models", "router")
ENTRY_KEYS = ("alias", "provider", "tags", "weight", "rpm", "tpm", "timeouts")
PROVIDER_KEYS = ("name", "model", "api_base", "api_version", "api_key")
# Where each DeploymentSpec field (a service's `param`) sits in an entry.
ENTRY_PATHS = {
    "provider": "provider.name",
    "upstream_model": "provider.model",
    "api_base": "provider.api_base",
    "api_version": "provider.api_version",
    "api_key": "provider.api_key",
    "rpm_limit": "rpm",
    "tpm_limit": "tpm",
}


@dataclass(frozen=True)
class RoutingEntry:
    path: str  # "models[3]"
    alias: str
    spec: DeploymentSpec  # checked; its credential is set when the document is applied
    api_key: str | None  # a key written in clear (checked)
    reference: str | None  # NAME of an api_key written `${NAME}`


@dataclass(frozen=True)
class RoutingDocument:
    entries: list[RoutingEntry]
    router: dict[str, Any] | None  # as Channel.router stores it; None: the document has no `router:` block
    lines: Lines


def _api_key(raw: Any) -> tuple[str | None, str | None]:
    """(a key written in clear, NAME of a `${NAME}`): at most one of them."""
    if raw is None or raw == "":
        return None, None
    if not isinstance(raw, str):
        raise InvalidDeployment("Must be a string.", param="api_key")
    reference = ENV_REFERENCE.match(raw.strip())
    return (None, reference.group(1)) if reference else (api_key_check(raw), None)


def _entry_spec(entry: dict[Any, Any], provider: dict[Any, Any]) -> tuple[str, DeploymentSpec]:
    alias = alias_check(entry.get("alias"))
    name = provider.get("name")
    provider_type = PROVIDER_NAMES.get(name.lower()) if isinstance(name, str) else None
    model = provider.get("model")
    api_version = provider.get("api_version")
    spec = DeploymentSpec(
        provider=provider_type or "",
        upstream_model=alias if model is None or model == "" else model,
        api_base=provider.get("api_base"),  # type: ignore[arg-type]  # checked below, whatever its type
        api_version="" if api_version is None else api_version,
        weight=entry.get("weight", 1),
        tags=[] if entry.get("tags") is None else entry["tags"],
        rpm_limit=entry.get("rpm"),
        tpm_limit=entry.get("tpm"),
        timeouts={} if entry.get("timeouts") is None else entry["timeouts"],
    )
    return alias, deployment_spec_check(spec)


def _known_keys(raw: dict[Any, Any], keys: tuple[str, ...], where: str, lines: Lines) -> None:
    for key in raw:
        if key not in keys:
            raise located(
                f"Unknown key; known here: {', '.join(keys)}.", f"{where}.{key}" if where else str(key), lines
            )


def _entry(raw: Any, *, where: str, lines: Lines, references: bool) -> RoutingEntry:
    """One `models:` entry, checked; a refusal names the entry's field and its line."""
    if not isinstance(raw, dict):
        raise located("Each entry is a mapping with an alias and a provider.", where, lines)
    _known_keys(raw, ENTRY_KEYS, where, lines)
    provider = raw.get("provider")
    if not isinstance(provider, dict):
        raise located("Each entry needs a provider mapping.", f"{where}.provider", lines)
    _known_keys(provider, PROVIDER_KEYS, f"{where}.provider", lines)
    try:
        api_key, reference = _api_key(provider.get("api_key"))
        if reference is not None and not references:
            problem = "Environment references are resolved only by an operator import; paste the key instead."
            raise InvalidDeployment(problem, param="api_key")
        alias, spec = _entry_spec(raw, provider)  # last: it resolves api_base's host
    except InvalidDeployment as exc:
        raise located(exc.message, f"{where}.{ENTRY_PATHS.get(exc.param or '', exc.param)}", lines) from exc
    return RoutingEntry(path=where, alias=alias, spec=spec, api_key=api_key, reference=reference)


def _models(document: Any, lines: Lines) -> list[Any]:
    if not isinstance(document, dict) or not ({"models", "router"} & document.keys()):
        raise InvalidDeployment("The YAML needs a top-level `models:` list.", param="models")
    _known_keys(document, DOCUMENT_KEYS, "", lines)
    models = document.get("models", [])
    if not isinstance(models, list):
        raise located("A list of entries.", "models", lines)
    if len(models) > MAX_YAML_ENTRIES:
        raise located(f"At most {MAX_YAML_ENTRIES} entries.", "models", lines)
    return models


def routing_document_read(
    text: str, *, aliases: Collection[str], router_allowed: bool, references: bool = True
) -> RoutingDocument:
    """The document checked through and through (its api_base hosts resolved within one DNS deadline), nothing
    written. `aliases`: the channel's aliases other than the document's that its `router:` block may name;
    `references`: whether an api_key may be a `${NAME}` (resolved when the document is applied)."""
    document, lines = yaml_read(text)
    models = _models(document, lines)
    if "router" in document and not router_allowed:
        problem = "A `router:` block (routing as code) needs the Enterprise plan; choose a routing preset instead."
        raise located(problem, "router", lines, error=RoutingYamlNotInPlan)
    with dns_time_limit():
        entries = [
            _entry(entry, where=f"models[{index}]", lines=lines, references=references)
            for index, entry in enumerate(models)
        ]
    router = None
    if "router" in document:
        router = router_check(document["router"], aliases={*aliases, *(e.alias for e in entries)}, lines=lines)
    return RoutingDocument(entries=entries, router=router, lines=lines)


def routing_document_apply(
    *,
    channel: Channel,
    document: RoutingDocument,
    actor: User | None,
    credential_of: Callable[[RoutingEntry], ProviderCredential | None],
    platform_managed: bool = False,
) -> list[ChannelModel]:
    """Set each alias the document names to its entries (with `credential_of` each), then its router if it has
    one. Call it inside the change's transaction and routing_change."""
    by_alias: dict[str, list[DeploymentSpec]] = {}
    for entry in document.entries:
        by_alias.setdefault(entry.alias, []).append(replace(entry.spec, credential=credential_of(entry)))
    models = [
        channel_model_set(
            channel=channel, alias=alias, deployments=specs, actor=actor, platform_managed=platform_managed
        )
        for alias, specs in by_alias.items()
    ]
    if document.router is not None:
        channel_router_set(channel=channel, router=document.router, actor=actor, gated=False)
    return models


def _imported_credential(
    entry: RoutingEntry, *, channel: Channel, environ: Mapping[str, str], lines: Lines
) -> ProviderCredential | None:
    """A new credential of the channel's organisation for a key written in clear or an operator's `${ENV}`."""
    where = f"{entry.path}.provider.api_key"
    api_key = entry.api_key
    if entry.reference is not None:
        value = environ.get(entry.reference)
        if not value:
            raise located(f"The environment has no {entry.reference}.", where, lines)
        try:
            api_key = api_key_check(value)
        except InvalidDeployment as exc:
            raise located(f"{entry.reference}: {exc.message}", where, lines) from exc
    if api_key is None:
        return None
    spec = deployment_credential_create(spec=entry.spec, channel=channel, alias=entry.alias, api_key=api_key)
    return spec.credential


@transaction.atomic
def channel_yaml_import(
    *,
    channel: Channel,
    text: str,
    actor: User | None,
    environ: Mapping[str, str] | None = None,
    platform_managed: bool = False,
    gated: bool = True,
    exported_references: bool = False,
) -> list[ChannelModel]:
    """Set every alias the YAML names (others are left alone) and its router block if it has one; all or
    nothing, recorded as one routing version.

    `gated=False` is for operators' imports (the management command): otherwise a `router:` block needs an
    instance on the Enterprise plan (routing_yaml_allowed). `exported_references` reads each `${NAME}` as an
    export writes it, a credential of the organisation (apps.channels.routing_credentials), never the
    environment: the Channels page's editor, whose text starts as the channel's export.
    """
    aliases = set(channel.models.values_list("alias", flat=True))
    document = routing_document_read(
        text,
        aliases=aliases,
        router_allowed=not gated or routing_yaml_allowed_here(),
        references=environ is not None or exported_references,
    )
    by_reference = reference_credentials(channel, document) if exported_references else None

    def credential_of(entry: RoutingEntry) -> ProviderCredential | None:
        if by_reference is not None and entry.reference is not None:
            return by_reference(entry)
        return _imported_credential(entry, channel=channel, environ=environ or {}, lines=document.lines)

    with routing_change(channel=channel, actor=actor, summary="imported YAML"):
        return routing_document_apply(
            channel=channel,
            document=document,
            actor=actor,
            credential_of=credential_of,
            # a platform credential comes only from a reference an operator's deployment already pairs
            platform_managed=platform_managed or exported_references,
        )
