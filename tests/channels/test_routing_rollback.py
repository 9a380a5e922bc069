"""Rolling back restores a version's whole routing, re-attaching credentials by reference; all or nothing."""

import pytest

from apps.audit.models import AuditEvent
from apps.channels.models import ChannelModel, Deployment, RoutingVersion
from apps.channels.router_services import channel_router_set
from apps.channels.routing_rollback import routing_rollback
from apps.channels.selectors import routing_versions
from apps.channels.services import (
    DeploymentSpec,
    InvalidDeployment,
    channel_create,
    channel_curated_set,
    channel_default_ensure,
    channel_model_set,
    deployment_remove,
)
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.core.errors import NotFound
from apps.orgs.services.organizations import organization_create
from apps.providers.models import ProviderCredential, ProviderType
from apps.providers.services import provider_credential_create
from tests.channels.conftest import ALIASES_YAML, PUBLIC_BASE

pytestmark = pytest.mark.django_db


def _credential(organization, name: str) -> ProviderCredential:  # type: ignore[no-untyped-def]
    return provider_credential_create(organization=organization, name=name, provider="openai", secret="sk-" + "x" * 20)


def _version(channel, number: int) -> RoutingVersion:  # type: ignore[no-untyped-def]
    return RoutingVersion.objects.get(channel=channel, number=number)


def _state(channel) -> tuple[str, dict, int]:  # type: ignore[no-untyped-def]
    channel.refresh_from_db()
    return channel_yaml_export(channel=channel), channel.router, channel.routing_versions.count()


def test_a_rollback_restores_the_whole_routing(channel, admin, enterprise):
    channel_yaml_import(
        channel=channel, text=ALIASES_YAML + "router:\n  fallbacks: {gpt-4o: [gpt-4o-mini]}\n", actor=admin
    )
    v1 = channel_yaml_export(channel=channel)
    text = (
        f"models:\n  - alias: extra\n    provider: {{name: openai, api_base: {PUBLIC_BASE}}}\nrouter: {{retries: 0}}\n"
    )
    channel_yaml_import(channel=channel, text=text, actor=admin)
    assert ChannelModel.objects.filter(channel=channel, alias="extra").exists()

    routing_rollback(channel=channel, version=_version(channel, 1), actor=admin)
    assert channel_yaml_export(channel=channel) == v1  # "extra" removed, the router as it was
    assert not ChannelModel.objects.filter(channel=channel, alias="extra").exists()
    latest = routing_versions(channel=channel)[0]
    assert (latest.number, latest.summary, latest.author, latest.document) == (3, "rolled back to v1", admin, v1)
    event = AuditEvent.objects.get(action="channel.routing_rollback", target_id=str(channel.pk))
    assert event.after == {"version": 1, "removed_aliases": ["extra"]} and event.actor == admin


def test_a_version_without_router_settings_restores_the_defaults(channel, admin, enterprise):
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    channel_router_set(channel=channel, router={"strategy": "cost"}, actor=admin)
    routing_rollback(channel=channel, version=_version(channel, 1), actor=admin)
    channel.refresh_from_db()
    assert channel.router == {}


def test_references_reattach_the_organisations_credentials(channel, org_with_roles, admin):
    organization = org_with_roles["organization"]
    first, second = _credential(organization, "Acme OpenAI"), _credential(organization, "Acme OpenAI backup")
    channel_model_set(
        channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE, first)], actor=admin
    )
    assert "${ACME_OPENAI}" in _version(channel, 1).document
    channel_model_set(
        channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE, second)], actor=admin
    )
    credentials_before = ProviderCredential.objects.filter(organization=organization).count()

    routing_rollback(channel=channel, version=_version(channel, 1), actor=admin)
    deployment = Deployment.objects.get(channel_model__channel=channel, channel_model__alias="a")
    assert deployment.credential == first
    assert ProviderCredential.objects.filter(organization=organization).count() == credentials_before  # none made


def test_an_unknown_reference_refuses_the_rollback_and_changes_nothing(channel, org_with_roles, admin, monkeypatch):
    organization = org_with_roles["organization"]
    gone, kept = _credential(organization, "Gone key"), _credential(organization, "Kept key")
    channel_model_set(
        channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE, gone)], actor=admin
    )
    channel_model_set(
        channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE, kept)], actor=admin
    )
    gone.delete()
    monkeypatch.setenv("GONE_KEY", "sk-from-the-environment")  # a rollback never reads it
    before = _state(channel)
    with pytest.raises(InvalidDeployment) as caught:
        routing_rollback(channel=channel, version=_version(channel, 1), actor=admin)
    assert caught.value.param == "models[0].provider.api_key"
    assert caught.value.message.startswith("line 7: ") and "${GONE_KEY}" in caught.value.message
    assert _state(channel) == before


def test_another_organisations_credential_is_never_reattached(channel, org_with_roles, second_org, admin):
    own = _credential(org_with_roles["organization"], "Shared name")
    channel_model_set(
        channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE, own)], actor=admin
    )
    channel_model_set(channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE)], actor=admin)
    Deployment.objects.filter(credential=own).delete()
    own.delete()
    _credential(second_org, "Shared name")  # exported under the same name, in another organisation
    with pytest.raises(InvalidDeployment, match="SHARED_NAME"):
        routing_rollback(channel=channel, version=_version(channel, 1), actor=admin)


def test_a_bad_version_is_refused_whole(channel, admin, enterprise):
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    before = _state(channel)
    bad = RoutingVersion.objects.create(
        channel=channel,
        number=99,
        summary="hand-written",
        document=ALIASES_YAML.replace(
            "gpt-4o-long\n    provider: {name: openai, api_base: " + PUBLIC_BASE,
            "gpt-4o-long\n    provider: {name: openai, api_base: https://169.254.169.254/v1",
        )
        + "router:\n  fallbacks: {gpt-4o: [gpt-4o-mini]}\n",
    )
    with pytest.raises(InvalidDeployment) as caught:
        routing_rollback(channel=channel, version=bad, actor=admin)
    assert caught.value.param == "models[4].provider.api_base" and caught.value.message.startswith("line 11: ")
    bad.document = ALIASES_YAML + "router:\n  fallbacks: {gpt-4o: [gpt-5]}\n"
    with pytest.raises(InvalidDeployment) as caught:
        routing_rollback(channel=channel, version=bad, actor=admin)
    assert caught.value.param == "router.fallbacks.gpt-4o[0]"
    bad.delete()
    assert _state(channel) == before


def test_a_version_of_another_channel_is_not_found(channel, org_with_roles, admin):
    other = channel_create(organization=org_with_roles["organization"], name="Other", actor=admin)
    channel_model_set(channel=other, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE)], actor=admin)
    with pytest.raises(NotFound):
        routing_rollback(channel=channel, version=_version(other, 1), actor=admin)


def test_platform_credentials_come_back_only_where_an_operator_paired_them(second_org, admin):
    platform = provider_credential_create(
        organization=None, name="Platform OpenAI", provider="openai", secret="sk-" + "p" * 20
    )
    curated = channel_create(organization=second_org, name="Mix", actor=None)
    spec = DeploymentSpec(ProviderType.OPENAI, "gpt-4o", PUBLIC_BASE, platform)
    channel_model_set(channel=curated, alias="mix", deployments=[spec], actor=None, platform_managed=True)
    channel_curated_set(channel=curated, actor=None)
    channel = channel_default_ensure(organization=organization_create(name="Tenant", owner=admin), actor=admin)
    deployment_remove(deployment=Deployment.objects.get(channel_model__channel=channel), actor=admin)

    routing_rollback(channel=channel, version=_version(channel, 1), actor=admin)
    assert Deployment.objects.get(channel_model__channel=channel).credential == platform

    forged = RoutingVersion.objects.create(
        channel=channel,
        number=50,
        summary="forged",
        document=_version(channel, 1).document.replace(PUBLIC_BASE, "https://8.8.4.4/v1"),
    )
    with pytest.raises(InvalidDeployment, match="PLATFORM_OPENAI"):
        routing_rollback(channel=channel, version=forged, actor=admin)
