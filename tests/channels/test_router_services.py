"""Routing as code is an Enterprise feature; every plan chooses a preset."""

import pytest

from apps.audit.models import AuditEvent
from apps.channels.models import ChannelModel
from apps.channels.router_policy import ROUTING_PRESETS
from apps.channels.router_services import RoutingYamlNotInPlan, channel_router_preset_apply, channel_router_set
from apps.channels.selectors import channel_router_preset, routing_versions, routing_yaml_allowed
from apps.channels.services import InvalidDeployment
from apps.channels.yaml_io import channel_yaml_import
from apps.tenancy.models import Instance, InstanceTier
from tests.channels.conftest import ALIASES_YAML
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ROUTER_YAML = ALIASES_YAML + "router:\n  strategy: latency\n"


@pytest.mark.parametrize("tier", InstanceTier.values)
def test_only_enterprise_writes_routing_as_code(tier):
    assert routing_yaml_allowed(instance=Instance(tier=tier)) is (tier == InstanceTier.ENTERPRISE)


def test_other_plans_import_models_but_not_a_router_block(channel, admin):
    with pytest.raises(RoutingYamlNotInPlan) as caught:
        channel_yaml_import(channel=channel, text=ROUTER_YAML, actor=admin)
    assert caught.value.param == "router" and caught.value.status == 403
    assert caught.value.message.startswith("line 12: ") and "Enterprise plan" in caught.value.message
    assert not ChannelModel.objects.filter(channel=channel).exists()  # not even its models
    assert len(channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)) == 5
    with pytest.raises(RoutingYamlNotInPlan):
        channel_router_set(channel=channel, router={"strategy": "cost"}, actor=admin)
    channel_router_set(channel=channel, router={"strategy": "cost"}, actor=None, gated=False)  # an operator
    channel.refresh_from_db()
    assert channel.router == {"strategy": "cost"}


def test_the_channels_page_names_the_gate(channel, org_with_roles, enterprise):
    org = org_with_roles["organization"]
    url = f"/o/{org.slug}/channels/{channel.slug}/import/"
    Instance.objects.filter(pk=enterprise.pk).update(tier=InstanceTier.BUSINESS)
    refused = client_for(org_with_roles["users"]["org_admin"]).post(url, {"yaml": ROUTER_YAML})
    assert refused.status_code == 400 and "Enterprise plan" in refused.content.decode()
    Instance.objects.filter(pk=enterprise.pk).update(tier=InstanceTier.ENTERPRISE)
    assert client_for(org_with_roles["users"]["org_admin"]).post(url, {"yaml": ROUTER_YAML}).status_code == 302
    channel.refresh_from_db()
    assert channel.router == {"strategy": "latency"}


def test_a_preset_sets_the_policy_on_any_plan_and_keeps_the_rest(channel, admin):
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    channel_router_set(
        channel=channel,
        router={"strategy": "sticky", "backoff": {"max_ms": 1000}, "fallbacks": {"gpt-4o": ["gpt-4o-mini"]}},
        actor=None,
        gated=False,
    )
    channel_router_preset_apply(channel=channel, preset="resilient", actor=admin)
    channel.refresh_from_db()
    assert channel.router == {**ROUTING_PRESETS["resilient"], "fallbacks": {"gpt-4o": ["gpt-4o-mini"]}}
    assert channel_router_preset(channel=channel) == "resilient"
    assert routing_versions(channel=channel)[0].summary == "applied the resilient preset"
    event = AuditEvent.objects.get(action="channel.router_preset", target_id=str(channel.pk))
    assert event.before["router"]["strategy"] == "sticky" and event.after["router"]["strategy"] == "usage"


def test_every_preset_applies(channel, admin):
    for name, preset in ROUTING_PRESETS.items():
        channel_router_preset_apply(channel=channel, preset=name, actor=admin)
        channel.refresh_from_db()
        assert channel.router == preset and channel_router_preset(channel=channel) == name
    assert {"balanced", "fastest", "cheapest", "resilient"} <= ROUTING_PRESETS.keys()
    assert ROUTING_PRESETS["balanced"] == {
        "strategy": "weighted",
        "retries": 2,
        "cooldown": {"failures": 3, "window_s": 60, "seconds": 30},
    }


def test_an_unknown_preset_is_refused(channel, admin):
    with pytest.raises(InvalidDeployment) as caught:
        channel_router_preset_apply(channel=channel, preset="turbo", actor=admin)
    assert caught.value.param == "preset" and "balanced" in caught.value.message
    assert not routing_versions(channel=channel)
