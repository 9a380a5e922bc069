"""Tenant-supplied upstream URLs: checked when saved and again when the gateway connects."""

import asyncio

import httpx
import pytest

from apps.channels.models import ChannelModel, Deployment
from apps.channels.services import DeploymentSpec, InvalidDeployment, channel_default_ensure, channel_model_set
from apps.channels.snapshots import channel_snapshot_publish
from apps.gateway.resolver import CheckedResolver
from apps.providers.models import ProviderType
from apps.providers.services import provider_credential_create
from apps.providers.url_safety import UnsafeUpstream, api_base_check


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v1",
        "https://10.1.2.3/v1",
        "https://172.16.0.1/v1",
        "https://192.168.1.1/v1",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/v1",
        "https://[::1]/v1",
        "https://[::ffff:127.0.0.1]/v1",
        "https://[fe80::1]/v1",
        "https://[fd00:ec2::254]/v1",
        "https://0.0.0.0/v1",
        "https://metadata.google.internal/v1",
        "https://localhost/v1",
        "https://user:secret@8.8.8.8/v1",
        "ftp://8.8.8.8/v1",
        "not a url",
    ],
)
def test_non_public_or_malformed_urls_are_refused(url):
    with pytest.raises(UnsafeUpstream):
        api_base_check(url, allowlist=[], require_https=False)


def test_public_https_is_accepted_and_http_only_when_allowed():
    assert api_base_check("https://8.8.8.8/v1/", allowlist=[], require_https=True) == "https://8.8.8.8/v1"
    with pytest.raises(UnsafeUpstream, match="https"):
        api_base_check("http://8.8.8.8/v1", allowlist=[], require_https=True)


def test_operator_allowlist_opens_exceptions():
    assert api_base_check("http://127.0.0.1:9100/v1", allowlist=["127.0.0.1"], require_https=True)
    assert api_base_check("https://10.1.2.3/v1", allowlist=["10.0.0.0/8"], require_https=True)
    with pytest.raises(UnsafeUpstream):
        api_base_check("https://10.1.2.3/v1", allowlist=["192.168.0.0/16"], require_https=True)


def test_connect_time_resolver_refuses_non_public_answers():
    async def resolve(allowlist: list[str]) -> list[str]:
        resolver = CheckedResolver(allowlist)
        try:
            return [result["host"] for result in await resolver.resolve("localhost", 80)]
        finally:
            await resolver.close()

    with pytest.raises(UnsafeUpstream):
        asyncio.run(resolve([]))
    assert "127.0.0.1" in asyncio.run(resolve(["localhost"]))


def test_tenant_deployments_are_checked_and_never_get_platform_credentials(org_with_roles, settings):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    channel = channel_default_ensure(organization=org, actor=admin)
    platform_key = provider_credential_create(
        organization=None, name="ours", provider="openai", secret="sk-ours-123456"
    )
    tenant_key = provider_credential_create(organization=org, name="theirs", provider="openai", secret="sk-theirs-1234")
    settings.GATEWAY_UPSTREAM_ALLOWLIST = []
    with pytest.raises(InvalidDeployment, match="Platform credentials"):
        channel_model_set(
            channel=channel,
            alias="x",
            actor=admin,
            deployments=[DeploymentSpec(ProviderType.OPENAI, "gpt-4o", "https://8.8.8.8/v1", platform_key)],
        )
    with pytest.raises(InvalidDeployment) as caught:
        channel_model_set(
            channel=channel,
            alias="x",
            actor=admin,
            deployments=[DeploymentSpec(ProviderType.OPENAI, "gpt-4o", "https://169.254.169.254/v1", tenant_key)],
        )
    assert caught.value.param == "api_base"
    channel_model_set(
        channel=channel,
        alias="x",
        actor=admin,
        deployments=[DeploymentSpec(ProviderType.OPENAI, "gpt-4o", "https://8.8.8.8/v1/", tenant_key)],
    )
    assert (
        Deployment.objects.get(channel_model__channel=channel, channel_model__alias="x").api_base
        == "https://8.8.8.8/v1"
    )


@pytest.mark.django_db
def test_gateway_refuses_at_connect_time_what_slipped_past_the_save_check(committed, world, live_server_url):
    def point_alias_at_other_loopback() -> None:
        channel = world.organization.channels.get(is_default=True)
        model = ChannelModel.objects.create(channel=channel, alias="sneaky")
        # Written around the service (as a changed DNS answer would be): 127.0.0.2 is not on the allow-list.
        Deployment.objects.create(
            channel_model=model,
            provider=ProviderType.OPENAI_COMPATIBLE,
            upstream_model="mock-gpt-4o-mini",
            api_base="http://127.0.0.2:9/v1",
        )
        channel_snapshot_publish(schema="edge", channel_id=channel.pk)

    committed(point_alias_at_other_loopback)
    response = httpx.post(
        f"{live_server_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {world.key}"},
        json={"model": "sneaky", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_not_allowed"
