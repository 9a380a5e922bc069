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
