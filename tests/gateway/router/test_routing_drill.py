"""python manage.py routing_drill against the live gateway and the mock provider."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.channels.models import Channel, Deployment
from apps.keys.models import KeyStatus, VirtualKey
from tests.gateway.router.routing_world import MockControl, Upstream, routed_channel, settle, unique

pytestmark = pytest.mark.django_db


def _drill(channel_id: int, alias: str, gateway: str, requests: int) -> str:
    out = io.StringIO()
    slug, organization = Channel.objects.filter(pk=channel_id).values_list("slug", "organization__slug").get()
    call_command(
        "routing_drill",
        channel=slug,
        organization=organization,
        alias=alias,
        gateway=gateway,
        requests=requests,
        stdout=out,
    )
    return out.getvalue()


def test_the_drill_blocks_the_primary_and_shows_where_requests_went(committed, live_server_url, mock_provider_url):
    mock_root = mock_provider_url.removesuffix("/v1")
    primary, backup = unique("dp"), unique("db")
    aliases = {"drilled": [Upstream(primary, weight=9)], "spare": [Upstream(backup)]}
    channel = committed(routed_channel, mock_root, aliases, {"retries": 0, "fallbacks": {"drilled": ["spare"]}})
    settle()
    printed = committed(_drill, channel.channel_id, "drilled", live_server_url, 6)
    assert f"blocking deployment {channel.deployments[primary]}" in printed
    assert f"answered: 6/6; by deployment: {{'{channel.deployments[backup]}': 6}}" in printed
    assert "attempts: {'2': 6}" in printed and "median latency" in printed
    assert MockControl(mock_root).requests(primary) >= 6  # blocked, each request tried it first
    mock = MockControl(mock_root)
    before = mock.requests(primary)
    assert committed(_drill, channel.channel_id, "drilled", live_server_url, 1)  # restored: healthy again
    assert mock.requests(primary) > before
    assert not committed(lambda: VirtualKey.objects.filter(name="routing drill", status=KeyStatus.ACTIVE).exists())


def _api_base_set(deployment_id: int, api_base: str) -> None:
    Deployment.objects.filter(pk=deployment_id).update(api_base=api_base)


def test_the_drill_refuses_what_it_cannot_block(committed, live_server_url, mock_provider_url):
    target = unique("dr")
    channel = committed(routed_channel, mock_provider_url.removesuffix("/v1"), {"real": [Upstream(target)]}, {})
    with pytest.raises(CommandError, match="no active deployment of `missing`"):
        committed(_drill, channel.channel_id, "missing", live_server_url, 1)
    committed(_api_base_set, channel.deployments[target], "http://127.0.0.1:9/v1")
    with pytest.raises(CommandError, match="not served by the local mock provider"):
        committed(_drill, channel.channel_id, "real", live_server_url, 1)
