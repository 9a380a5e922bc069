"""The `router:` block: every value checked, refusals naming the field and its line, nothing imported on one."""

import pytest

from apps.channels.models import ChannelModel
from apps.channels.router_policy import ROUTING_PRESETS
from apps.channels.routing_yaml import router_check
from apps.channels.services import InvalidDeployment
from apps.channels.yaml_io import channel_yaml_import
from tests.channels.conftest import ALIASES_YAML, ROUTER_FIRST_LINE, stopped_early

pytestmark = pytest.mark.django_db

L = ROUTER_FIRST_LINE
SIX = "[claude-sonnet-4-5, claude-3-7-sonnet, gpt-4o-mini, gpt-4o-long, claude-sonnet-4-5, gpt-4o-mini]"

# (the block's lines, the line and field refused, what the refusal says)
BAD_BLOCKS = [
    ("strategy: fastest", L, "router.strategy", "One of: weighted, latency, cost, least-busy, usage, sticky"),
    ("strategy: [weighted]", L, "router.strategy", "One of:"),
    ("retries: 11", L, "router.retries", "An integer from 0 to 10"),
    ("retries: -1", L, "router.retries", "An integer from 0 to 10"),
    ("retries: 99999999999999999999999999", L, "router.retries", "An integer from 0 to 10"),
    ("retries: 1.0e+400", L, "router.retries", "An integer"),
    ("retries: '2'", L, "router.retries", "An integer"),
    ("retries: true", L, "router.retries", "An integer"),
    ("retries: 2.0", L, "router.retries", "An integer"),
    ("backoff: {base_ms: 200, max_ms: 100}", L, "router.backoff.base_ms", "Above max_ms (100)"),
    ("backoff: {base_ms: 9000}", L, "router.backoff.base_ms", "Above max_ms (5000) once merged"),
    ("backoff: {base_ms: 0}", L, "router.backoff.base_ms", "An integer from 1 to 60000"),
    ("backoff: {jitter: full}", L, "router.backoff.jitter", "Unknown setting; known here: base_ms, max_ms"),
    ("backoff: 200", L, "router.backoff", "A mapping of any of: base_ms, max_ms"),
    ("cooldown: {failures: 0}", L, "router.cooldown.failures", "An integer from 1 to 1000"),
    ("cooldown: {seconds: 86401}", L, "router.cooldown.seconds", "An integer from 0 to 86400"),
    ("cooldown: [3, 60, 30]", L, "router.cooldown", "A mapping"),
    ("retry_after_max_s: -1", L, "router.retry_after_max_s", "a number from 0 to 3600"),
    ("retry_after_max_s: .nan", L, "router.retry_after_max_s", "a number from 0 to 3600"),
    ("retry_after_max_s: .inf", L, "router.retry_after_max_s", "a number from 0 to 3600"),
    ("retry_after_max_s: '20'", L, "router.retry_after_max_s", "a number"),
    ("weights: 3", L, "router.weights", "Unknown setting"),
    ("tags: prod", L, "router.tags", "A list of at most 32 tags"),
    ("tags: [" + "t" * 65 + "]", L, "router.tags", "At most 64 characters"),
    ("rules:\n    - {header: x customer, equals: a, tags: [t]}", L + 1, "router.rules[0].header", "A header name"),
    ("rules:\n    - {header: 'x-tier\\r\\nx-evil', equals: a, tags: [t]}", L + 1, "router.rules[0].header", "header"),
    ("rules:\n    - {header: Authorization, equals: a, tags: [t]}", L + 1, "router.rules[0].header", "credentials"),
    ("rules:\n    - {header: x-api-key, equals: a, tags: [t]}", L + 1, "router.rules[0].header", "credentials"),
    ("rules:\n    - {header: x-tier, equals: a}", L + 1, "router.rules[0].tags", "Required"),
    ("rules:\n    - {header: x-tier, equals: a, tags: []}", L + 1, "router.rules[0].tags", "At least one tag"),
    ("rules:\n    - {header: x-tier, equals: '', tags: [t]}", L + 1, "router.rules[0].equals", "non-empty"),
    ("rules:\n    - {header: x-tier, equals: a, tags: [t], when: x}", L + 1, "router.rules[0].when", "Unknown"),
    ("rules:\n    - x-tier", L + 1, "router.rules[0]", "A mapping of any of: header, equals, tags"),
    ("rules: {header: x-tier}", L, "router.rules", "A list of at most 64 rules"),
    (
        "fallbacks: {claude-sonnet-4-5: [claude-3-7-sonnet, gpt-5]}",
        L,
        "router.fallbacks.claude-sonnet-4-5[1]",
        'No alias "gpt-5" in this channel',
    ),
    ("fallbacks:\n    gpt-5: [gpt-4o]", L + 1, "router.fallbacks.gpt-5", 'No alias "gpt-5"'),
    ("fallbacks:\n    gpt-4o:\n      - gpt-4o-mini\n      - gpt-4o", L + 3, "router.fallbacks.gpt-4o[1]", "itself"),
    ("fallbacks: {gpt-4o: [gpt-4o-mini, gpt-4o-mini]}", L, "router.fallbacks.gpt-4o[1]", "already in this chain"),
    ("fallbacks: {gpt-4o: " + SIX + "}", L, "router.fallbacks.gpt-4o", "A list of 1 to 5 aliases"),
    ("fallbacks: {gpt-4o: []}", L, "router.fallbacks.gpt-4o", "A list of 1 to 5 aliases"),
    ("fallbacks: {gpt-4o: gpt-4o-mini}", L, "router.fallbacks.gpt-4o", "A list of 1 to 5 aliases"),
    ("fallbacks: {gpt-4o: [1]}", L, "router.fallbacks.gpt-4o[0]", 'No alias "1"'),
    ("fallbacks: [gpt-4o]", L, "router.fallbacks", "A mapping"),
    (
        "context_window_fallbacks: {gpt-4o-mini: [gpt-4o-huge]}",
        L,
        "router.context_window_fallbacks.gpt-4o-mini[0]",
        "No alias",
    ),
    ("content_policy_fallbacks: {gpt-4o: [gpt-4o]}", L, "router.content_policy_fallbacks.gpt-4o[0]", "itself"),
    ("aliases:\n    gpt-5: {retries: 1}", L + 1, "router.aliases.gpt-5", 'No alias "gpt-5"'),
    ("aliases:\n    gpt-4o: {retries: 11}", L + 1, "router.aliases.gpt-4o.retries", "from 0 to 10"),
    ("aliases:\n    gpt-4o: {fallbacks: {}}", L + 1, "router.aliases.gpt-4o.fallbacks", "Unknown setting"),
    ("aliases:\n    gpt-4o: latency", L + 1, "router.aliases.gpt-4o", "A mapping"),
    (
        "backoff: {max_ms: 1000}\n  aliases:\n    gpt-4o:\n      backoff: {base_ms: 2000}",
        L + 3,
        "router.aliases.gpt-4o.backoff.base_ms",
        "Above max_ms (1000)",
    ),
    ("retries: 2\n  strategy: cost\n  retries: 3", L + 2, "router.retries", "written twice"),
    ("<<: {retries: 2}", L, "router.<<", "merge keys"),
]


@pytest.mark.parametrize(("block", "line", "param", "says"), BAD_BLOCKS)
def test_a_bad_router_block_is_refused_naming_line_and_field(channel, enterprise, block, line, param, says):
    text = ALIASES_YAML + "router:\n  " + block + "\n"
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == param
    assert caught.value.message.startswith(f"line {line}: ") and says in caught.value.message
    assert not ChannelModel.objects.filter(channel=channel).exists()  # the valid models: were not imported either


def test_the_refusal_reads_as_line_field_problem(channel, enterprise):
    text = ALIASES_YAML + "router:\n  fallbacks: {claude-sonnet-4-5: [claude-3-7-sonnet, gpt-5]}\n"
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert f"{caught.value.param}: {caught.value.message}" == (
        'router.fallbacks.claude-sonnet-4-5[1]: line 13: No alias "gpt-5" in this channel.'
    )


def test_unknown_top_level_key_is_refused(channel, enterprise):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=ALIASES_YAML + "routers:\n  retries: 2\n", actor=None)
    assert caught.value.param == "routers" and caught.value.message.startswith("line 12: Unknown key")


def test_chains_may_name_each_other_and_aliases_the_channel_already_has(channel, enterprise):
    """A chain is followed one level only: a -> b and b -> a cannot loop, so both are taken."""
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=None)
    text = "router:\n  fallbacks: {gpt-4o: [gpt-4o-mini], gpt-4o-mini: [gpt-4o]}\n"  # no models: the channel's
    channel_yaml_import(channel=channel, text=text, actor=None)
    channel.refresh_from_db()
    assert channel.router == {"fallbacks": {"gpt-4o": ["gpt-4o-mini"], "gpt-4o-mini": ["gpt-4o"]}}


def test_a_long_hostile_alias_is_quoted_short(channel, enterprise):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(
            channel=channel, text=ALIASES_YAML + f"router:\n  fallbacks: {{gpt-4o: [{'x' * 8000}]}}\n", actor=None
        )
    assert len(caught.value.message) < 200


def test_thousands_of_rules_are_refused_fast(channel, enterprise, yaml_loaders):
    rule = "  - {header: x-tier, equals: a, tags: [t]}\n"
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=ALIASES_YAML + "router:\n  rules:\n" + rule * 10_000, actor=None)
    assert caught.value.param == "yaml" and "larger than 256 KiB" in caught.value.message
    text = ALIASES_YAML + "router:\n  rules:\n" + rule * 5_000
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == "yaml" and "values" in caught.value.message
    assert stopped_early(yaml_loaders[-1:], text)
    with pytest.raises(InvalidDeployment) as caught:  # handed over as data (the router form), not YAML
        router_check({"rules": [{"header": "x-tier", "equals": "a", "tags": ["t"]}] * 10_000}, aliases=set())
    assert caught.value.param == "router.rules" and "at most 64" in caught.value.message
    assert not caught.value.message.startswith("line")  # no document, no line


def test_the_brief_example_and_every_preset_are_valid(channel, enterprise):
    text = ALIASES_YAML + (
        "router:\n"
        "  strategy: weighted\n"
        "  retries: 2\n"
        "  backoff: {base_ms: 200, max_ms: 5000}\n"
        "  retry_after_max_s: 20\n"
        "  cooldown: {failures: 3, window_s: 60, seconds: 30}\n"
        "  tags: [prod]\n"
        "  rules:\n"
        "    - {header: X-Customer-Tier, equals: enterprise, tags: [enterprise]}\n"
        "  fallbacks: {claude-sonnet-4-5: [claude-3-7-sonnet, gpt-4o]}\n"
        "  context_window_fallbacks: {gpt-4o-mini: [gpt-4o-long]}\n"
        "  content_policy_fallbacks: {}\n"
        "  aliases:\n"
        "    claude-sonnet-4-5: {strategy: latency, retries: 3}\n"
    )
    channel_yaml_import(channel=channel, text=text, actor=None)
    channel.refresh_from_db()
    assert channel.router["rules"] == [{"header": "x-customer-tier", "equals": "enterprise", "tags": ["enterprise"]}]
    assert channel.router["aliases"] == {"claude-sonnet-4-5": {"strategy": "latency", "retries": 3}}
    for preset in ROUTING_PRESETS.values():
        assert router_check(preset, aliases=set()) == preset


def test_at_most_64_rules(channel, enterprise):
    rules = "".join(f"    - {{header: x-tier, equals: v{n}, tags: [t]}}\n" for n in range(65))
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=ALIASES_YAML + "router:\n  rules:\n" + rules, actor=None)
    assert caught.value.param == "router.rules" and caught.value.message == f"line {L}: A list of at most 64 rules."
    channel_yaml_import(
        channel=channel, text=ALIASES_YAML + "router:\n  rules:\n" + rules[: rules.rindex("    -")], actor=None
    )
    channel.refresh_from_db()
    assert len(channel.router["rules"]) == 64
