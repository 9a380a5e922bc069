"""Every change to a channel's routing leaves one version (its whole YAML) and an audit record; diffs between them."""

import pytest

from apps.audit.models import AuditEvent
from apps.channels.models import ChannelModel, Deployment, RoutingVersion
from apps.channels.router_services import RoutingYamlNotInPlan, channel_router_preset_apply, channel_router_set
from apps.channels.routing_history import BASELINE_SUMMARY
from apps.channels.selectors import routing_version_diff, routing_versions
from apps.channels.services import (
    DeploymentSpec,
    channel_create,
    channel_curated_set,
    channel_default_ensure,
    channel_model_set,
    deployment_add,
    deployment_remove,
    deployment_replace,
)
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.orgs.services.organizations import organization_create
from tests.channels.conftest import ALIASES_YAML, PUBLIC_BASE

pytestmark = pytest.mark.django_db


def _spec(model: str = "gpt-4o", **fields: object) -> DeploymentSpec:
    return DeploymentSpec("openai", model, PUBLIC_BASE, **fields)  # type: ignore[arg-type]


def _summaries(channel) -> list[str]:  # type: ignore[no-untyped-def]
    return [version.summary for version in reversed(routing_versions(channel=channel))]


def _audited(channel, action: str) -> int:  # type: ignore[no-untyped-def]
    return AuditEvent.objects.filter(action=action, target_id=str(channel.pk)).count()


def test_each_kind_of_change_records_one_version_with_its_author(channel, admin, enterprise):
    channel_model_set(channel=channel, alias="gpt-4o", deployments=[_spec()], actor=admin)
    deployment_add(channel=channel, alias="gpt-4o", spec=_spec("gpt-4o-2"), api_key="sk-added-1234", actor=admin)
    first = Deployment.objects.filter(channel_model__channel=channel).order_by("id").first()
    deployment_replace(deployment=first, spec=_spec("gpt-4o-3", weight=5), actor=admin)
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)  # five aliases, one version
    channel_router_set(channel=channel, router={"fallbacks": {"gpt-4o": ["gpt-4o-mini"]}}, actor=admin)
    channel_router_preset_apply(channel=channel, preset="fastest", actor=admin)
    mini = Deployment.objects.get(channel_model__channel=channel, channel_model__alias="gpt-4o-mini")
    deployment_remove(deployment=mini, actor=admin)

    assert _summaries(channel) == [
        "set gpt-4o",
        "added a deployment of gpt-4o",
        "changed a deployment of gpt-4o",
        "imported YAML",
        "changed the router settings",
        "applied the fastest preset",
        "removed a deployment of gpt-4o-mini",
    ]
    versions = routing_versions(channel=channel)
    assert [v.number for v in versions] == [7, 6, 5, 4, 3, 2, 1]
    assert all(v.author == admin for v in versions)
    channel.refresh_from_db()
    assert versions[0].document == channel_yaml_export(channel=channel)
    assert channel.router == {"strategy": "latency", "retries": 2, "fallbacks": {}}  # the removed alias left it
    for action, times in [
        ("channel.model_set", 8),  # 3 page-like changes + 5 aliases imported
        ("channel.router_set", 1),
        ("channel.router_preset", 1),
        ("channel.deployment_remove", 1),
    ]:
        assert _audited(channel, action) == times, action


def test_a_change_leaving_the_document_as_it_was_records_no_version(channel, admin):
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    assert _summaries(channel) == ["imported YAML"]


def test_a_refused_change_records_nothing(channel, admin):
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    with pytest.raises(RoutingYamlNotInPlan):
        channel_router_set(channel=channel, router={"retries": 1}, actor=admin)  # the Shared Edge is on Free
    assert _summaries(channel) == ["imported YAML"]


def test_the_first_recorded_change_keeps_how_the_channel_was(channel, admin):
    """Routing written before versions existed (here: around the services) is kept as a version of its own."""
    model = ChannelModel.objects.create(channel=channel, alias="legacy")
    Deployment.objects.create(channel_model=model, provider="openai", upstream_model="old", api_base=PUBLIC_BASE)
    before = channel_yaml_export(channel=channel)
    channel_model_set(channel=channel, alias="new", deployments=[_spec()], actor=admin)
    baseline, change = reversed(routing_versions(channel=channel))
    assert (baseline.number, baseline.summary, baseline.author, baseline.document) == (
        1,
        BASELINE_SUMMARY,
        None,
        before,
    )
    assert (change.number, change.summary) == (2, "set new")


def test_a_new_default_channel_records_the_curated_models_it_copied(org_with_roles, second_org, admin):
    curated = channel_create(organization=second_org, name="Mix", actor=None)
    channel_model_set(channel=curated, alias="mix", deployments=[_spec()], actor=None)
    channel_curated_set(channel=curated, actor=None)
    organization = organization_create(name="Fresh org", owner=admin)
    channel = channel_default_ensure(organization=organization, actor=admin)
    assert _summaries(channel) == ["copied the instance's curated models"]
    assert "alias: mix" in routing_versions(channel=channel)[0].document


def test_diff_against_the_version_before(channel, admin, enterprise):
    channel_model_set(channel=channel, alias="a", deployments=[_spec()], actor=admin)
    channel_model_set(channel=channel, alias="a", deployments=[_spec("gpt-4o-mini")], actor=admin)
    channel_router_set(channel=channel, router={"retries": 4}, actor=admin)
    first, second, third = reversed(routing_versions(channel=channel))
    assert routing_version_diff(version=first).startswith("--- (none)\n+++ v1\n")
    diff = routing_version_diff(version=second)
    assert diff.startswith("--- v1\n+++ v2\n")
    assert "-    model: gpt-4o\n" in diff and "+    model: gpt-4o-mini\n" in diff
    assert routing_version_diff(version=third).endswith("+router:\n+  retries: 4\n")


def test_versions_are_numbered_per_channel(channel, org_with_roles, admin):
    other = channel_create(organization=org_with_roles["organization"], name="Other", actor=admin)
    channel_model_set(channel=channel, alias="a", deployments=[_spec()], actor=admin)
    channel_model_set(channel=other, alias="a", deployments=[_spec()], actor=admin)
    assert list(RoutingVersion.objects.filter(channel__in=[channel, other]).values_list("number", flat=True)) == [1, 1]
