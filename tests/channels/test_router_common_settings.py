"""The routing settings every plan sets on the Channels page: a preset, retries and fallback chains; checked like
a `router:` block, versioned and audited, never gated."""

import pytest

from apps.audit.models import AuditEvent
from apps.channels.router_policy import ROUTING_PRESETS
from apps.channels.router_services import RoutingYamlNotInPlan, channel_router_common_set, channel_router_set
from apps.channels.routing_yaml import CHAIN_MAX, RETRIES_MAX
from apps.channels.selectors import channel_router_preset, routing_versions, routing_yaml_allowed_here
from apps.channels.services import InvalidDeployment
from apps.channels.yaml_io import channel_yaml_import
from tests.channels.conftest import ALIASES_YAML

pytestmark = pytest.mark.django_db


@pytest.fixture
def aliased(channel, admin):  # type: ignore[no-untyped-def]
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    return channel


def _router(channel) -> dict:  # type: ignore[no-untyped-def]
    channel.refresh_from_db()
    return channel.router


def test_a_plan_without_routing_as_code_sets_a_preset_retries_and_fallbacks(aliased, admin):
    assert not routing_yaml_allowed_here()
    with pytest.raises(RoutingYamlNotInPlan):  # the full block stays gated
        channel_router_set(channel=aliased, router={"fallbacks": {"gpt-4o": ["gpt-4o-mini"]}}, actor=admin)

    channel_router_common_set(
        channel=aliased,
        preset="fastest",
        retries=4,
        fallbacks={"gpt-4o": ["gpt-4o-mini", "claude-sonnet-4-5"], "gpt-4o-mini": []},
        actor=admin,
    )
    assert _router(aliased) == {
        "strategy": "latency",
        "retries": 4,
        "fallbacks": {"gpt-4o": ["gpt-4o-mini", "claude-sonnet-4-5"]},
    }
    latest = routing_versions(channel=aliased)[0]
    assert latest.author == admin
    assert (
        latest.summary == "applied the fastest preset; retries 4; fallbacks of gpt-4o: gpt-4o-mini, claude-sonnet-4-5"
    )
    assert "retries: 4" in latest.document and "- claude-sonnet-4-5" in latest.document
    event = AuditEvent.objects.get(action="channel.router_common_set", target_id=str(aliased.pk))
    assert event.actor == admin and event.before == {"router": {}}
    assert event.after["router"]["fallbacks"] == {"gpt-4o": ["gpt-4o-mini", "claude-sonnet-4-5"]}


def test_blank_retries_take_the_preset_s_and_the_preset_is_recognised(aliased, admin):
    channel_router_common_set(channel=aliased, preset="resilient", retries=None, fallbacks={}, actor=admin)
    assert _router(aliased) == ROUTING_PRESETS["resilient"]
    assert channel_router_preset(channel=aliased) == "resilient"
    assert routing_versions(channel=aliased)[0].summary == "applied the resilient preset"


def test_no_preset_keeps_the_policy_and_chains_of_aliases_not_named(aliased, admin):
    channel_router_set(
        channel=aliased,
        router={"strategy": "sticky", "backoff": {"max_ms": 900}, "fallbacks": {"gpt-4o": ["gpt-4o-mini"]}},
        actor=None,
        gated=False,
    )
    channel_router_common_set(
        channel=aliased, preset=None, retries=None, fallbacks={"claude-sonnet-4-5": ["claude-3-7-sonnet"]}, actor=admin
    )
    assert _router(aliased) == {
        "strategy": "sticky",
        "backoff": {"max_ms": 900},
        "fallbacks": {"claude-sonnet-4-5": ["claude-3-7-sonnet"], "gpt-4o": ["gpt-4o-mini"]},
    }
    channel_router_common_set(channel=aliased, preset=None, retries=0, fallbacks={"gpt-4o": []}, actor=admin)
    assert _router(aliased) == {
        "strategy": "sticky",
        "retries": 0,
        "backoff": {"max_ms": 900},
        "fallbacks": {"claude-sonnet-4-5": ["claude-3-7-sonnet"]},
    }
    assert routing_versions(channel=aliased)[0].summary == "retries 0; fallbacks of gpt-4o: none"


def test_the_same_settings_again_record_nothing(aliased, admin):
    same = {"preset": "cheapest", "retries": None, "fallbacks": {"gpt-4o": ["gpt-4o-mini"]}}
    channel_router_common_set(channel=aliased, actor=admin, **same)  # type: ignore[arg-type]
    versions = len(routing_versions(channel=aliased))
    channel_router_common_set(channel=aliased, actor=admin, **same)  # type: ignore[arg-type]
    assert len(routing_versions(channel=aliased)) == versions
    assert AuditEvent.objects.filter(action="channel.router_common_set", target_id=str(aliased.pk)).count() == 1


@pytest.mark.parametrize(
    ("change", "param", "message"),
    [
        ({"preset": "turbo"}, "preset", "One of: balanced, fastest, cheapest, resilient."),
        ({"retries": RETRIES_MAX + 1}, "router.retries", f"An integer from 0 to {RETRIES_MAX}."),
        ({"retries": -1}, "router.retries", f"An integer from 0 to {RETRIES_MAX}."),
        ({"fallbacks": {"gpt-4o": ["nope"]}}, "router.fallbacks.gpt-4o[0]", 'No alias "nope" in this channel.'),
        ({"fallbacks": {"gpt-4o": ["gpt-4o"]}}, "router.fallbacks.gpt-4o[0]", "An alias cannot fall back to itself."),
        (
            {"fallbacks": {"gpt-4o": ["gpt-4o-mini", "gpt-4o-mini"]}},
            "router.fallbacks.gpt-4o[1]",
            '"gpt-4o-mini" is already in this chain.',
        ),
        ({"fallbacks": {"ghost": ["gpt-4o"]}}, "router.fallbacks.ghost", 'No alias "ghost" in this channel.'),
        (
            {
                "fallbacks": {
                    "gpt-4o": ["gpt-4o-mini", "gpt-4o-long", "claude-sonnet-4-5", "claude-3-7-sonnet", "x", "y"]
                }
            },
            "router.fallbacks.gpt-4o",
            f"A list of 1 to {CHAIN_MAX} aliases, tried in order.",
        ),
    ],
)
def test_refusals_name_the_field_and_change_nothing(aliased, admin, change, param, message):
    before = len(routing_versions(channel=aliased))
    with pytest.raises(InvalidDeployment) as caught:
        channel_router_common_set(
            channel=aliased,
            actor=admin,
            **{"preset": "fastest", "retries": None, "fallbacks": {}, **change},  # type: ignore[arg-type]
        )
    assert (caught.value.param, caught.value.message) == (param, message)
    assert _router(aliased) == {} and len(routing_versions(channel=aliased)) == before
    assert not AuditEvent.objects.filter(
        action="channel.router_common_set", organization_id=aliased.organization_id
    ).exists()


def test_the_first_change_of_a_channel_keeps_how_it_was(aliased, admin, enterprise):
    """On any plan, Enterprise included: the version before the change can be rolled back to."""
    channel_router_common_set(channel=aliased, preset="balanced", retries=None, fallbacks={}, actor=admin)
    summaries = [version.summary for version in reversed(routing_versions(channel=aliased))]
    assert summaries == ["imported YAML", "applied the balanced preset"]
