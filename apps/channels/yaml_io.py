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

The document is untrusted: its size is capped before parsing, anchors and aliases are refused
before anything is expanded (no "billion laughs"), and so are deep nesting, huge values and more
values than its entries can hold; every
field is checked like the Channels page's form (services.deployment_spec_check), and a refusal
names it (`models[3].provider.api_base`). Nothing is written unless everything is valid.
"""

import re
from collections.abc import Mapping
from typing import Any

import yaml
from django.db import transaction
from yaml.composer import ComposerError
from yaml.nodes import Node

from apps.accounts.models import User
from apps.channels.models import Channel, ChannelModel, Deployment
from apps.channels.services import (
    DeploymentSpec,
    InvalidDeployment,
    alias_check,
    api_key_check,
    channel_model_set,
    deployment_credential_create,
    deployment_spec_check,
)
from apps.providers.models import ProviderCredential, ProviderType
from apps.providers.url_safety import dns_time_limit

ENV_REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")
PROVIDER_NAMES = {"openai-compatible": ProviderType.OPENAI_COMPATIBLE, **{p.value: p.value for p in ProviderType}}
MAX_YAML_BYTES = 256 * 1024
MAX_YAML_ENTRIES = 200
MAX_YAML_DEPTH = 20
MAX_YAML_SCALAR = 8192  # the longest field (an api_key) is 4096; bounds YAML's own work on a value
# Values (keys included) a document may hold: an entry with every field and 32 tags has 51. Pure-Python YAML
# spends 2-4 CPU seconds on 256 KiB of small values (`[1,1,…]`, one key 50,000 times, merge-key lists).
MAX_YAML_NODES = MAX_YAML_ENTRIES * 64
# Where each DeploymentSpec field (a service's `param`) sits in an entry.
ENTRY_PATHS = {
    "provider": "provider.name",
    "upstream_model": "provider.model",
    "api_base": "provider.api_base",
    "api_version": "provider.api_version",
    "api_key": "provider.api_key",
}


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


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (before any is expanded), deep nesting, huge values and
    more values than MAX_YAML_NODES (before the rest is read)."""

    depth = 0
    nodes = 0

    def _refuse(self, problem: str, event: yaml.Event) -> ComposerError:
        return ComposerError(None, None, problem, event.start_mark)  # type: ignore[arg-type]

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise self._refuse("anchors and aliases (&, *) are not accepted", event)
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_YAML_SCALAR:
            raise self._refuse(f"a value is longer than {MAX_YAML_SCALAR} characters", event)
        if self.depth >= MAX_YAML_DEPTH:
            raise self._refuse(f"nested deeper than {MAX_YAML_DEPTH} levels", event)
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise self._refuse(f"more than {MAX_YAML_NODES} values", event)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = (getattr(exc, "problem", None) or str(exc).splitlines()[0])[:200]  # it may quote the document
    return f"This is not valid YAML{f' (line {mark.line + 1})' if mark else ''}: {problem}."


def _parse(text: str) -> list[Any]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise _fail(f"The YAML is larger than {MAX_YAML_BYTES // 1024} KiB.", "yaml")
    try:
        document = yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: a bad date, a 5,000-digit integer
        raise _fail(_yaml_problem(exc), "yaml") from exc
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise _fail("The YAML needs a top-level `models:` list.", "models")
    if len(document["models"]) > MAX_YAML_ENTRIES:
        raise _fail(f"At most {MAX_YAML_ENTRIES} entries.", "models")
    return document["models"]


def _secret(raw: Any, *, environ: Mapping[str, str] | None) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidDeployment("Must be a string.", param="api_key")
    reference = ENV_REFERENCE.match(raw.strip())
    if reference is None:
        return api_key_check(raw)
    if environ is None:
        raise InvalidDeployment(
            "Environment references are resolved only by an operator import; paste the key instead.", param="api_key"
        )
    value = environ.get(reference.group(1))
    if not value:
        raise InvalidDeployment(f"The environment has no {reference.group(1)}.", param="api_key")
    return api_key_check(value)


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
    )
    return alias, deployment_spec_check(spec)


def _entry(entry: Any, *, where: str, environ: Mapping[str, str] | None) -> tuple[str, DeploymentSpec, str | None]:
    """One `models:` entry as (alias, checked spec, api key or None); a refusal names the entry's field."""
    if not isinstance(entry, dict):
        raise _fail("Each entry is a mapping with an alias and a provider.", where)
    provider = entry.get("provider")
    if not isinstance(provider, dict):
        raise _fail("Each entry needs a provider mapping.", f"{where}.provider")
    try:
        secret = _secret(provider.get("api_key"), environ=environ)
        alias, spec = _entry_spec(entry, provider)  # last: it resolves api_base's host
    except InvalidDeployment as exc:
        raise _fail(exc.message, f"{where}.{ENTRY_PATHS.get(exc.param or '', exc.param)}") from exc
    return alias, spec, secret


@transaction.atomic
def channel_yaml_import(
    *,
    channel: Channel,
    text: str,
    actor: User | None,
    environ: Mapping[str, str] | None = None,
    platform_managed: bool = False,
) -> list[ChannelModel]:
    """Set every alias the YAML names (others are left alone); all or nothing.

    Its api_base hosts are resolved within one DNS deadline, however many the document names.
    """
    documents = _parse(text)
    with dns_time_limit():
        entries = [_entry(entry, where=f"models[{index}]", environ=environ) for index, entry in enumerate(documents)]
        by_alias: dict[str, list[DeploymentSpec]] = {}
        for alias, spec, secret in entries:
            if secret is not None:
                spec = deployment_credential_create(spec=spec, channel=channel, alias=alias, api_key=secret)
            by_alias.setdefault(alias, []).append(spec)
        return [
            channel_model_set(
                channel=channel, alias=alias, deployments=specs, actor=actor, platform_managed=platform_managed
            )
            for alias, specs in by_alias.items()
        ]
