"""Channel models as routing YAML (Dedicated guide 2.5): import, export, ${ENV} only for operators."""

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from apps.channels.models import Deployment
from apps.channels.services import InvalidDeployment, channel_default_ensure
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.core.secrets import secret_decrypt
from tests.conftest import client_for

GUIDE_YAML = """
models:
  - alias: claude-sonnet-4-5
    provider:
      name: anthropic
      model: claude-sonnet-4-5
      api_key: ${ACME_ANTHROPIC_KEY}
      api_base: https://api.anthropic.com
    tags: [prod]
  - alias: claude-sonnet-4-5
    provider:
      name: openai
      model: gpt-4o
      api_key: sk-literal-fallback-key
      api_base: https://api.openai.com/v1
    tags: [fallback]
  - alias: acme-finetune-v3
    provider:
      name: openai-compatible
      api_base: http://127.0.0.1:8000/v1
    tags: [private, on-prem]
"""


@pytest.fixture
def channel(org_with_roles):  # type: ignore[no-untyped-def]
    return channel_default_ensure(
        organization=org_with_roles["organization"], actor=org_with_roles["users"]["org_admin"]
    )


def test_operator_import_resolves_env_and_export_never_leaks_secrets(channel, monkeypatch):
    monkeypatch.setattr(
        "apps.providers.url_safety.socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("8.8.8.8", 443))]
    )
    models = channel_yaml_import(
        channel=channel,
        text=GUIDE_YAML,
        actor=None,
        environ={"ACME_ANTHROPIC_KEY": "sk-ant-from-env"},
        platform_managed=True,
    )
    assert sorted(m.alias for m in models) == ["acme-finetune-v3", "claude-sonnet-4-5"]
    claude = Deployment.objects.filter(channel_model__channel=channel, channel_model__alias="claude-sonnet-4-5")
    assert [(d.provider, d.upstream_model, d.tags) for d in claude.order_by("id")] == [
        ("anthropic", "claude-sonnet-4-5", ["prod"]),
        ("openai", "gpt-4o", ["fallback"]),
    ]
    assert secret_decrypt(claude.order_by("id").first().credential.secret_encrypted) == "sk-ant-from-env"
    finetune = Deployment.objects.get(channel_model__channel=channel, channel_model__alias="acme-finetune-v3")
    assert finetune.upstream_model == "acme-finetune-v3" and finetune.credential is None

    exported = channel_yaml_export(channel=channel)
    assert "sk-ant-from-env" not in exported and "sk-literal-fallback-key" not in exported
    document = yaml.safe_load(exported)
    claude_entries = [e for e in document["models"] if e["alias"] == "claude-sonnet-4-5"]
    assert all(e["provider"]["api_key"].startswith("${") for e in claude_entries) and len(claude_entries) == 2
    assert {entry["alias"] for entry in document["models"]} == {"claude-sonnet-4-5", "acme-finetune-v3"}


def test_tenant_import_refuses_environment_references(channel):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=GUIDE_YAML, actor=None)
    assert caught.value.param == "models[0].provider.api_key"
    assert not Deployment.objects.filter(channel_model__channel=channel).exists()  # all or nothing


@pytest.mark.parametrize(
    ("text", "param"),
    [
        ("models: [", "yaml"),
        ("- just a list", "models"),
        ("models:\n  - provider: {name: openai, api_base: https://8.8.8.8/v1}", "models[0].alias"),
        ("models:\n  - alias: a\n    provider: {name: bedrock, api_base: https://8.8.8.8}", "models[0].provider.name"),
        ("models:\n  - alias: a\n    provider: {name: openai}", "models[0].provider.api_base"),
        (
            "models:\n  - alias: a\n    provider: {name: openai, api_base: https://169.254.169.254/v1}",
            "models[0].provider.api_base",
        ),
        (
            "models:\n  - alias: a\n    weight: 0\n    provider: {name: openai, api_base: https://8.8.8.8/v1}",
            "models[0].weight",
        ),
    ],
)
def test_bad_yaml_names_what_is_wrong(channel, text, param):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == param


def test_management_command_round_trip(channel, org_with_roles, monkeypatch):
    org = org_with_roles["organization"]
    monkeypatch.setenv("LOCAL_KEY", "sk-local-123456")
    text = (
        "models:\n  - alias: local\n    provider:\n      name: openai-compatible\n"
        "      api_base: http://127.0.0.1:9/v1\n      api_key: ${LOCAL_KEY}\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    out = io.StringIO()
    call_command("channel_yaml", "import", "--org", org.slug, stdout=out)
    assert "Imported 1 model" in out.getvalue()
    out = io.StringIO()
    call_command("channel_yaml", "export", "--org", org.slug, stdout=out)
    assert "alias: local" in out.getvalue() and "sk-local-123456" not in out.getvalue()
    with pytest.raises(CommandError):
        call_command("channel_yaml", "export", "--org", org.slug, "--channel", "nope")


def test_channels_page_import_by_admin_only(channel, org_with_roles):
    org, users = org_with_roles["organization"], org_with_roles["users"]
    text = (
        "models:\n  - alias: page-model\n    provider:\n      name: openai-compatible\n"
        "      api_base: http://127.0.0.1:9/v1\n      api_key: sk-pasted-1234\n"
    )
    url = f"/o/{org.slug}/channels/{channel.slug}/import/"
    assert client_for(users["viewer"]).get(f"/o/{org.slug}/channels/").status_code == 200
    assert client_for(users["team_lead"]).post(url, {"yaml": text}).status_code == 403
    admin = client_for(users["org_admin"])
    assert admin.post(url, {"yaml": text}).status_code == 302
    page = admin.get(f"/o/{org.slug}/channels/").content.decode()
    assert "page-model" in page and "sk-pasted-1234" not in page
    bad = admin.post(url, {"yaml": "models: ["})
    assert bad.status_code == 400 and b"not valid YAML" in bad.content
    export = admin.get(f"/o/{org.slug}/channels/{channel.slug}/export.yaml")
    assert export.status_code == 200 and b"page-model" in export.content and b"sk-pasted" not in export.content


FULL_YAML = """models:
- alias: claude
  provider:
    name: anthropic
    model: claude-sonnet-4-5
    api_base: https://8.8.8.8
    api_key: ${ACME_ANTHROPIC}
  tags:
  - prod
  weight: 3
  rpm: 4000
  tpm: 2000000
  timeouts:
    connect_s: 5
    first_byte_s: 30.5
    idle_s: 30
    total_s: 600
- alias: claude
  provider:
    name: azure
    model: gpt-4o
    api_base: https://8.8.4.4/openai
    api_version: '2024-10-21'
  rpm: 100
- alias: local
  provider:
    name: openai-compatible
    model: llama
    api_base: http://127.0.0.1:9/v1
  timeouts:
    total_s: 60
router:
  strategy: least-busy
  retries: 3
  backoff:
    base_ms: 100
  retry_after_max_s: 12.5
  cooldown:
    failures: 5
    seconds: 0
  tags:
  - prod
  rules:
  - header: x-customer-tier
    equals: enterprise
    tags:
    - prod
  fallbacks:
    claude:
    - local
    local:
    - claude
  context_window_fallbacks:
    local:
    - claude
  content_policy_fallbacks: {}
  aliases:
    claude:
      strategy: latency
      cooldown:
        window_s: 120
    local: {}
"""


def test_export_import_export_gives_the_same_text(channel, enterprise):
    channel_yaml_import(channel=channel, text=FULL_YAML, actor=None, environ={"ACME_ANTHROPIC": "sk-ant-12345"})
    exported = channel_yaml_export(channel=channel)
    assert exported == FULL_YAML.replace("${ACME_ANTHROPIC}", f"${{{channel.slug.upper().replace('-', '_')}_CLAUDE}}")
    channel_yaml_import(channel=channel, text=exported, actor=None, environ={"DEFAULT_CHANNEL_CLAUDE": "sk-ant-67890"})
    assert channel_yaml_export(channel=channel) == exported
    claude = Deployment.objects.filter(channel_model__channel=channel, channel_model__alias="claude").order_by("id")
    assert [(d.rpm_limit, d.tpm_limit, d.timeouts) for d in claude] == [
        (4000, 2_000_000, {"connect_s": 5, "first_byte_s": 30.5, "idle_s": 30, "total_s": 600}),
        (100, None, {}),
    ]


def test_operator_import_takes_a_router_block_on_any_plan(channel, org_with_roles, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("router: {strategy: cost}\n"))
    out = io.StringIO()
    call_command("channel_yaml", "import", "--org", org_with_roles["organization"].slug, stdout=out)
    channel.refresh_from_db()
    assert channel.router == {"strategy": "cost"} and "Imported 0 model(s)" in out.getvalue()


BAD_ENTRY_FIELDS = [
    ("    rpm: 0\n", 4, "models[0].rpm", "An integer from 1 to 10000000"),
    ("    rpm: 10000001\n", 4, "models[0].rpm", "An integer from 1 to 10000000"),
    ("    tpm: 1099511627776\n", 4, "models[0].tpm", "An integer from 1 to 2000000000"),
    ("    tpm: '100'\n", 4, "models[0].tpm", "An integer"),
    ("    rpm: 1.5\n", 4, "models[0].rpm", "An integer"),
    ("    timeouts: 30\n", 4, "models[0].timeouts", "A mapping of any of connect_s"),
    ("    timeouts: {connect_s: 0}\n", 4, "models[0].timeouts.connect_s", "a number above 0, at most 3600"),
    ("    timeouts: {total_s: 3601}\n", 4, "models[0].timeouts.total_s", "at most 3600"),
    ("    timeouts: {total_s: .inf}\n", 4, "models[0].timeouts.total_s", "at most 3600"),
    ("    timeouts: {total_s: true}\n", 4, "models[0].timeouts.total_s", "Seconds"),
    ("    timeouts:\n      read_s: 3\n", 5, "models[0].timeouts.read_s", "Not a timeout"),
    ("    timeouts: {first_byte_s: 30, total_s: 10}\n", 4, "models[0].timeouts.first_byte_s", "At most total_s (10)"),
    ("    weigth: 3\n", 4, "models[0].weigth", "Unknown key; known here: alias, provider, tags, weight"),
    ("    weight: 0\n", 4, "models[0].weight", "An integer from 1 to 1000"),
]


@pytest.mark.parametrize(("extra", "line", "param", "says"), BAD_ENTRY_FIELDS)
def test_a_bad_entry_field_is_refused_naming_line_and_field(channel, extra, line, param, says):
    text = "models:\n  - alias: a\n    provider: {name: openai, api_base: https://8.8.8.8/v1}\n" + extra
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == param
    assert caught.value.message.startswith(f"line {line}: ") and says in caught.value.message
    assert not Deployment.objects.filter(channel_model__channel=channel).exists()


def test_unknown_provider_key_and_missing_field_name_their_line(channel):
    text = (
        "models:\n  - alias: a\n    provider: {name: openai, api_base: https://8.8.8.8/v1}\n"
        "  - alias: b\n    provider:\n      name: openai\n      base_url: https://8.8.8.8/v1\n"
    )
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == "models[1].provider.base_url" and caught.value.message.startswith("line 7: ")
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text="models:\n  - provider: {name: openai}\n", actor=None)
    assert caught.value.param == "models[0].alias" and caught.value.message.startswith("line 2: ")  # the entry's
