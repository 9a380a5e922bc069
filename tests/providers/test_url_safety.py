"""Tenant-supplied upstream URLs: checked when saved and again when the gateway connects."""

import asyncio
import io
import time
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
import yaml
from django.core import checks
from django.core.management import call_command
from django.db import connection

from apps.channels.models import ChannelModel, Deployment
from apps.channels.services import DeploymentSpec, InvalidDeployment, channel_default_ensure, channel_model_set
from apps.channels.snapshots import channel_snapshot_publish
from apps.channels.yaml_io import channel_yaml_import
from apps.gateway.resolver import CheckedResolver, upstream_literal_check
from apps.notifications.errors import InvalidWebhookEndpoint
from apps.notifications.services.endpoints import webhook_endpoint_create
from apps.notifications.webhooks import webhook_post
from apps.providers.models import ProviderType
from apps.providers.services import provider_credential_create
from apps.providers.url_safety import UnsafeUpstream, allowlist_problems, api_base_check
from hydite.devstack import mock_provider_allowlist
from tests.conftest import client_for, live_server_env
from tests.live import uvicorn_server


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


LOOPBACK = ["127.0.0.1", "localhost"]  # what the test suite allows: loopback on any port


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:7f00:1::]:9100/v1",  # 6to4 carrying 127.0.0.1 (the audit's)
        "https://[2002:808:808::1]/v1",  # 6to4 is refused whatever it carries
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/v1",  # Teredo
        "https://[2001:0:5ef5:79fd:0:0:80ff:fffe]/v1",  # Teredo, client 127.0.0.1 (inverted bits)
        "https://[64:ff9b::7f00:1]/v1",  # NAT64 carrying 127.0.0.1
        "https://[64:ff9b::a00:1]/v1",  # NAT64 carrying 10.0.0.1
        "https://[64:ff9b:1::808:808]/v1",  # local-use NAT64
        "https://[::127.0.0.1]/v1",  # IPv4-compatible
        "https://[::8.8.8.8]/v1",
        "https://[::ffff:0:127.0.0.1]/v1",  # IPv4-translated
        "https://[::ffff:0:8.8.8.8]/v1",
        "https://[::ffff:10.0.0.1]/v1",  # IPv4-mapped
        "https://[2620:0:2d0:200::5efe:10.0.0.1]/v1",  # ISATAP carrying 10.0.0.1
        "https://[fec0::1]/v1",  # site-local
        "https://[ff02::1]/v1",
        "https://[::]/v1",
        "http://0.0.0.0:9100/v1",
        "http://2130706433/v1",  # 127.0.0.1 as one number
        "http://0x7f.1/v1",
        "http://0x7f000001/v1",
        "http://127.1/v1",
        "http://0177.0.0.1/v1",
        "http://127.0.0.1./v1",
        "http://evil@127.0.0.1/v1",
        "http://8.8.8.8\\@127.0.0.1/v1",
        "http://\u24dbocalhost/v1",  # ⓛocalhost: IDNA maps it to localhost
        "http://127\u30020\u30020\u30021/v1",  # ideographic full stops: IDNA reads 127.0.0.1
        "http://[fe80::1%25eth0]/v1",
        "http://[::ffff:8.8.8.8%25eth0]/v1",  # a zone id, even on a public address
        "https://8.8.8.8 /v1",
        "http://127.0.0.\t2/v1",  # urlsplit drops the tab
        "https://8.8.8.8:99999/v1",  # a bad port was a ValueError (a 500), not a refusal
        "https://[::1/v1",
        "http://metadata.google.internal./v1",
    ],
)
def test_transition_ranges_and_url_tricks_are_refused_even_with_loopback_allowed(url):
    with pytest.raises(UnsafeUpstream):
        api_base_check(url, allowlist=LOOPBACK, require_https=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://[2606:4700::1111]/v1",
        "https://[::ffff:8.8.8.8]/v1",  # an IPv4-mapped public address is that address
        "https://[64:ff9b::808:808]/v1",  # DNS64/NAT64 of a public address (IPv6-only hosts)
        "https://8.8.8.8:8443/v1",
    ],
)
def test_public_addresses_written_plainly_are_accepted(url):
    assert api_base_check(url, allowlist=[], require_https=True) == url.rstrip("/")


def test_allowlist_entries_may_name_a_port():
    def check(url: str, allowlist: list[str]) -> None:
        api_base_check(url, allowlist=allowlist, require_https=True, resolve=False)

    check("http://127.0.0.1:9100/v1", ["127.0.0.1:9100"])
    check("http://[::1]:9100/v1", ["[::1]:9100"])
    check("http://mock.internal:9100/v1", ["mock.internal:9100"])
    check("http://mock.internal./v1", ["mock.internal"])  # the trailing dot names the same host
    check("https://10.1.2.3:8443/v1", ["10.0.0.0/8"])  # no port: any port, as before
    check("https://10.1.2.3/v1", ["10.0.0.0/8:443"])
    check("https://[fd00::5]/v1", ["[fd00::/8]:443"])
    check("https://[::ffff:127.0.0.1]:9100/v1", ["127.0.0.1:9100"])  # the same destination
    for url, allowlist in [
        ("http://127.0.0.1:9101/v1", ["127.0.0.1:9100"]),
        ("http://127.0.0.1/v1", ["127.0.0.1:9100"]),  # port 80
        ("http://[::1]:9101/v1", ["[::1]:9100"]),
        ("http://mock.internal:9101/v1", ["mock.internal:9100"]),
        ("https://10.1.2.3:8443/v1", ["10.0.0.0/8:443"]),
        ("https://[2002:7f00:1::]:9100/v1", ["127.0.0.1:9100"]),  # a 6to4 address is not the IPv4 one
    ]:
        with pytest.raises(UnsafeUpstream):
            check(url, allowlist)


def test_unreadable_allowlist_entries_are_reported_and_open_nothing(settings):
    bad = ["127.0.0.1:http", "*.internal", "[::1]x", "127.0.0.1:70000", "[mock.internal]:80"]
    assert len(allowlist_problems([*bad, "127.0.0.1:9100", "::1", "10.0.0.0/8:443", "[fd00::/8]", " "])) == len(bad)
    with pytest.raises(UnsafeUpstream):
        api_base_check("http://127.0.0.1:80/v1", allowlist=bad, require_https=False)
    settings.WEBHOOK_ALLOWLIST = ["127.0.0.1:http"]
    errors = [message for message in checks.run_checks(tags=[checks.Tags.security]) if message.id == "providers.E001"]
    assert len(errors) == 1 and "WEBHOOK_ALLOWLIST" in errors[0].msg


def test_connect_time_resolver_checks_the_port_aiohttp_asks_for():
    async def resolve(allowlist: list[str], port: int) -> list[str]:
        resolver = CheckedResolver(allowlist)
        try:
            return [result["host"] for result in await resolver.resolve("localhost", port)]
        finally:
            await resolver.close()

    assert "127.0.0.1" in asyncio.run(resolve(["localhost:9100"], 9100))
    with pytest.raises(UnsafeUpstream, match="port 9101"):
        asyncio.run(resolve(["localhost:9100"], 9101))
    with pytest.raises(UnsafeUpstream):
        asyncio.run(resolve(["127.0.0.1:9100"], 9101))


def test_connect_time_literal_check_reads_the_url_as_aiohttp_does():
    upstream_literal_check("http://127.0.0.1:9100/v1", ["127.0.0.1:9100"])
    upstream_literal_check("https://api.openai.com/v1", [])  # a name: the resolver checks it
    for url, allowlist in [
        ("http://127.0.0.1:9101/v1", ["127.0.0.1:9100"]),
        ("http://[::1]:9101/v1", ["[::1]:9100"]),
        ("http://127\u30020\u30020\u30021:9100/v1", []),  # yarl reads 127.0.0.1 here; urlsplit did not
        ("http://[2002:7f00:1::]:9100/v1", LOOPBACK),
        ("http://127.1:9100/v1", LOOPBACK),  # aiohttp takes it for an address; it is not a canonical one
    ]:
        with pytest.raises(UnsafeUpstream):
            upstream_literal_check(url, allowlist)


def test_aiohttp_hands_the_resolver_the_port_it_connects_to(receiver):
    async def fetch(allowlist: list[str]) -> int:
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(allowlist))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"http://localhost:{receiver.port}/probe") as response,
        ):
            return response.status

    with pytest.raises(UnsafeUpstream):
        asyncio.run(fetch([f"localhost:{receiver.port + 1}"]))
    assert receiver.posts("/probe") == []
    assert asyncio.run(fetch([f"localhost:{receiver.port}"])) == 200


def test_a_port_restricted_allowlist_refuses_other_ports_when_a_deployment_is_saved(org_with_roles, settings):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    channel = channel_default_ensure(organization=org, actor=admin)
    settings.GATEWAY_UPSTREAM_ALLOWLIST = ["127.0.0.1:9100", "localhost:9100"]
    spec = DeploymentSpec(ProviderType.OPENAI_COMPATIBLE, "m", "http://127.0.0.1:9101/v1")
    with pytest.raises(InvalidDeployment) as caught:
        channel_model_set(channel=channel, alias="x", actor=admin, deployments=[spec])
    assert caught.value.param == "api_base"
    with pytest.raises(InvalidDeployment):
        channel_model_set(
            channel=channel, alias="x", actor=admin, deployments=[replace(spec, api_base="http://localhost:9101/v1")]
        )
    channel_model_set(
        channel=channel, alias="x", actor=admin, deployments=[replace(spec, api_base="http://127.0.0.1:9100/v1")]
    )


def test_webhooks_honour_the_port_when_saved_and_when_sent(org_with_roles, receiver, settings):
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    url, other_port = f"{receiver.url}/hook", receiver.port + 1
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOWLIST = [f"127.0.0.1:{other_port}"]
    with pytest.raises(InvalidWebhookEndpoint):
        webhook_endpoint_create(organization=organization, url=url, events=["budget.soft_exceeded"], actor=admin)
    sent = webhook_post(
        url=url, body=b"{}", headers={}, allowlist=[f"127.0.0.1:{other_port}"], require_https=False, timeout_s=5
    )
    assert sent.error.startswith("refused:") and receiver.posts() == []
    sent = webhook_post(
        url=url, body=b"{}", headers={}, allowlist=[f"127.0.0.1:{receiver.port}"], require_https=False, timeout_s=5
    )
    assert sent.succeeded and len(receiver.posts()) == 1


def test_make_run_allows_the_mock_provider_port_only(settings, tmp_path, edge):
    allowlist = mock_provider_allowlist("9765").split(",")
    assert allowlist_problems(allowlist) == []
    api_base_check("http://127.0.0.1:9765/v1", allowlist=allowlist, require_https=True)
    api_base_check("http://localhost:9765/v1", allowlist=allowlist, require_https=True)
    for port in (8000, 5432, 6379, 9766):
        with pytest.raises(UnsafeUpstream):
            api_base_check(f"http://127.0.0.1:{port}/v1", allowlist=allowlist, require_https=True)
    # The seeded demo deployments (on the mock provider) pass the same check.
    settings.GATEWAY_UPSTREAM_ALLOWLIST = allowlist
    settings.GATEWAY_UPSTREAM_REQUIRE_HTTPS = True
    settings.HYDITE_MOCK_PROVIDER_URL = "http://127.0.0.1:9765/v1"
    settings.HYDITE_STATE_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    connection.set_schema_to_public()


@pytest.mark.django_db
def test_gateway_refuses_another_loopback_port_at_connect_time(committed, world, mock_provider_url, receiver, tmp_path):
    alias = f"other-port-{uuid.uuid4().hex[:6]}"

    def point_alias_at_another_port() -> None:
        channel = world.organization.channels.get(is_default=True)
        model = ChannelModel.objects.create(channel=channel, alias=alias)
        # Written around the service: saved while the allow-list still opened every loopback port.
        Deployment.objects.create(
            channel_model=model,
            provider=ProviderType.OPENAI_COMPATIBLE,
            upstream_model="mock-gpt-4o-mini",
            api_base=f"http://127.0.0.1:{receiver.port}/v1",
        )
        channel_snapshot_publish(schema="edge", channel_id=channel.pk)

    committed(point_alias_at_another_port)
    mock_port = str(urlsplit(mock_provider_url).port)
    env = live_server_env(GATEWAY_UPSTREAM_ALLOWLIST=mock_provider_allowlist(mock_port))  # `make run`'s list
    with uvicorn_server(env, tmp_path / "uvicorn.log") as url:

        def ask(model: str) -> httpx.Response:
            return httpx.post(
                f"{url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {world.key}"},
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                timeout=10,
            )

        assert ask("gpt-4o-mini").status_code == 200  # the mock provider's port is open
        refused = ask(alias)
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "upstream_not_allowed"
    assert receiver.requests == []  # never connected to


LONG_LABEL_BASE = "https://" + "a" * 64 + ".example.com/v1"  # DNS labels hold at most 63 characters


@pytest.mark.parametrize("url", [LONG_LABEL_BASE, "https://" + "a." * 126 + "com/v1"])
def test_host_names_dns_cannot_carry_are_refused(url):
    """A label over 63 characters made the resolver raise UnicodeError (a 500 wherever a URL is saved)."""
    with pytest.raises(UnsafeUpstream):
        api_base_check(url, allowlist=[], require_https=True)


def test_a_long_label_is_a_refusal_on_the_import_page_and_the_webhook_form(org_with_roles):
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    channel = channel_default_ensure(organization=organization, actor=admin)
    document = yaml.safe_dump({"models": [{"alias": "a", "provider": {"name": "openai", "api_base": LONG_LABEL_BASE}}]})
    response = client_for(admin).post(f"/o/{organization.slug}/channels/{channel.slug}/import/", {"yaml": document})
    assert response.status_code == 400 and "models[0].provider.api_base" in response.content.decode()
    with pytest.raises(InvalidWebhookEndpoint):
        webhook_endpoint_create(
            organization=organization, url=LONG_LABEL_BASE, events=["budget.soft_exceeded"], actor=admin
        )


def test_an_import_waits_for_dns_no_longer_than_one_lookup(org_with_roles, monkeypatch):
    """Each api_base host is resolved when saved, in the request (its pooled connection held, in a transaction):
    200 names on a name server that does not answer held it for 200 resolver time-outs, 10-20 s each; ten such
    imports took every connection of the pool for the whole dashboard. One deadline now bounds them all."""
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    channel = channel_default_ensure(organization=organization, actor=admin)
    monkeypatch.setattr("apps.providers.url_safety.DNS_TIMEOUT_S", 1)

    def slow_lookup(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        time.sleep(0.3)
        return [(2, 1, 6, "", ("8.8.8.8", port))]

    monkeypatch.setattr("apps.providers.url_safety.socket.getaddrinfo", slow_lookup)
    entries = [
        {"alias": f"a{n}", "provider": {"name": "openai", "api_base": f"https://h{n}.example.com/v1"}}
        for n in range(20)
    ]
    started = time.monotonic()
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=yaml.safe_dump({"models": entries}), actor=None)
    assert "in time" in caught.value.message and (caught.value.param or "").endswith(".provider.api_base")
    assert time.monotonic() - started < 3
    assert not ChannelModel.objects.filter(channel=channel).exists()
