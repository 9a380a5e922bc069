"""A channel's routing page: the common settings (any plan), the YAML editor (Enterprise), versions with their diff
and a rollback; who may change it, who may only see it, and refusals naming their field."""

import re
import uuid

import pytest

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.audit.models import AuditEvent
from apps.channels.models import Channel, Deployment, RoutingVersion
from apps.channels.routing_forms import CHAIN_TEXT_MAX
from apps.channels.selectors import routing_versions
from apps.channels.services import (
    DeploymentSpec,
    channel_create,
    channel_curated_set,
    channel_default_ensure,
    channel_model_set,
    deployment_add,
)
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.orgs.services.organizations import organization_create
from apps.providers.services import provider_credential_create
from tests.channels.conftest import ALIASES_YAML, PUBLIC_BASE
from tests.conftest import PASSWORD, client_for
from tests.html_forms import form_fields
from tests.live import live_password_hash, logged_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def aliased(channel, admin) -> Channel:  # type: ignore[no-untyped-def]
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)  # v1
    return channel


def _url(channel: Channel, tail: str = "") -> str:
    return f"/o/{channel.organization.slug}/channels/{channel.slug}/routing/{tail}"


def _settings(client, channel: Channel, chains: dict[str, str] | None = None, **fields: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What the settings form submits as rendered, with these chains (by alias) and fields changed."""
    submitted = form_fields(client.get(_url(channel)).content.decode(), "routing-settings-form")
    for name, value in list(submitted.items()):
        if name.endswith("-alias") and value in (chains or {}):
            submitted[name.removesuffix("-alias") + "-chain"] = (chains or {})[value]
    return {**submitted, **fields}


def _row_of(html: str, alias: str) -> str:
    row = re.search(rf'<tr data-alias="{re.escape(alias)}">(.*?)</tr>', html, re.S)
    assert row is not None, alias
    return row.group(1)


def _state(channel: Channel) -> tuple[dict, int]:
    channel.refresh_from_db()
    return channel.router, channel.routing_versions.count()


def test_the_page_shows_settings_versions_dry_run_and_health(aliased, admin):
    response = client_for(admin).get(_url(aliased))
    html = response.content.decode()
    assert response.status_code == 200
    for part in ("routing-settings-form", "routing-version-list", "dry-run-form", "routing-health-table"):
        assert f'id="{part}"' in html, part
    assert 'id="routing-yaml-form"' not in html and "on the Enterprise plan" in html  # the Shared Edge is on Free
    assert "Custom settings" in html and "strategy <code>weighted</code>, 2 retries" in html
    assert "imported YAML" in html and html.count('<span class="status-ok">healthy</span>') == 5
    listed = client_for(admin).get(f"/o/{aliased.organization.slug}/channels/").content.decode()
    assert _url(aliased) in listed


def test_a_preset_and_a_fallback_through_the_form_on_any_plan(aliased, admin):
    client = client_for(admin)
    fields = _settings(client, aliased, {"gpt-4o": "gpt-4o-mini, claude-sonnet-4-5"}, preset="fastest")
    response = client.post(_url(aliased, "settings/"), fields)
    assert response.status_code == 302 and response["Location"] == _url(aliased)
    page = client.get(_url(aliased)).content.decode()
    assert "Routing settings of Default Channel saved." in page
    assert "The <strong>fastest</strong> preset" in page and "gpt-4o-mini → claude-sonnet-4-5" in page
    router, versions = _state(aliased)
    assert router == {
        "strategy": "latency",
        "retries": 2,
        "fallbacks": {"gpt-4o": ["gpt-4o-mini", "claude-sonnet-4-5"]},
    }
    assert versions == 2 and "applied the fastest preset; fallbacks of gpt-4o" in page
    assert AuditEvent.objects.filter(action="channel.router_common_set", actor=admin).count() == 1

    diff = client.get(_url(aliased, "versions/2/")).content.decode()
    assert '<span class="add">+  strategy: latency</span>' in diff and "+    - gpt-4o-mini" in diff
    assert "Roll back to v2" not in diff and "routing now" in diff  # the latest version is the channel as it is

    # the form shows what was saved: submitting it again changes nothing
    assert client.post(_url(aliased, "settings/"), _settings(client, aliased)).status_code == 302
    assert _state(aliased) == (router, 2)


@pytest.mark.parametrize(
    ("chains", "fields", "where", "message"),
    [
        ({"gpt-4o": "nope"}, {}, "gpt-4o", "No alias &quot;nope&quot; in this channel."),
        ({"gpt-4o": "gpt-4o"}, {}, "gpt-4o", "An alias cannot fall back to itself."),
        ({"gpt-4o": "a, b, c, d, e, f"}, {}, "gpt-4o", "A list of 1 to 5 aliases, tried in order."),
        ({"gpt-4o": "x" * (CHAIN_TEXT_MAX + 1)}, {}, "gpt-4o", f"at most {CHAIN_TEXT_MAX} characters"),
        ({}, {"fallbacks-0-alias": "ghost", "fallbacks-0-chain": "gpt-4o"}, "ghost", "No alias &quot;ghost&quot;"),
        ({}, {"preset": "turbo"}, None, "Select a valid choice. turbo is not one of the available choices."),
        ({}, {"retries": "11"}, None, "less than or equal to 10"),
        ({}, {"retries": "-1"}, None, "greater than or equal to 0"),
        ({}, {"retries": "two"}, None, "Enter a whole number."),
        ({}, {"fallbacks-TOTAL_FORMS": "100000"}, None, "Please submit at most 200 forms."),
        ({}, {"fallbacks-TOTAL_FORMS": ""}, None, "ManagementForm data is missing or has been tampered with"),
    ],
)
def test_refused_settings_show_on_their_field_and_change_nothing(aliased, admin, chains, fields, where, message):
    client = client_for(admin)
    before = _state(aliased)
    response = client.post(_url(aliased, "settings/"), _settings(client, aliased, chains, **fields))
    html = response.content.decode()
    assert response.status_code == 400 and message in html
    if where is not None:
        assert "errorlist" in _row_of(html, where) and message in _row_of(html, where)
    assert _state(aliased) == before


def test_the_yaml_editor_saves_the_whole_document_keeping_credentials_by_reference(aliased, admin, enterprise):
    spec = DeploymentSpec("openai", "gpt-4o-2", PUBLIC_BASE)
    deployment_add(channel=aliased, alias="gpt-4o", spec=spec, api_key="sk-editor-secret-1234", actor=admin)
    credential = Deployment.objects.get(upstream_model="gpt-4o-2").credential
    client = client_for(admin)
    html = client.get(_url(aliased)).content.decode()
    text = form_fields(html, "routing-yaml-form")["yaml"]
    assert text == channel_yaml_export(channel=aliased) and "${DEFAULT_CHANNEL_GPT_4O}" in text
    assert "sk-editor-secret" not in html

    edited = text + "router:\n  strategy: cost\n  fallbacks: {gpt-4o: [gpt-4o-mini]}\n"
    response = client.post(_url(aliased, "yaml/"), {"yaml": edited})
    assert response.status_code == 302
    assert "Routing of Default Channel saved." in client.get(_url(aliased)).content.decode()
    router, _ = _state(aliased)
    assert router == {"strategy": "cost", "fallbacks": {"gpt-4o": ["gpt-4o-mini"]}}
    assert Deployment.objects.get(upstream_model="gpt-4o-2").credential == credential
    assert routing_versions(channel=aliased)[0].summary == "imported YAML"


def test_the_editor_keeps_a_platform_credential_only_where_an_operator_paired_it(second_org, admin, enterprise):
    platform = provider_credential_create(
        organization=None, name="Platform OpenAI", provider="openai", secret="sk-p" * 5
    )
    curated = channel_create(organization=second_org, name="Mix", actor=None)
    spec = DeploymentSpec("openai", "gpt-4o", PUBLIC_BASE, platform)
    channel_model_set(channel=curated, alias="mix", deployments=[spec], actor=None, platform_managed=True)
    channel_curated_set(channel=curated, actor=None)
    channel = channel_default_ensure(organization=organization_create(name="Tenant", owner=admin), actor=admin)
    client = client_for(admin)
    text = form_fields(client.get(_url(channel)).content.decode(), "routing-yaml-form")["yaml"]
    assert "${PLATFORM_OPENAI}" in text

    moved = client.post(_url(channel, "yaml/"), {"yaml": text.replace(PUBLIC_BASE, "https://8.8.4.4/v1")})
    assert moved.status_code == 400 and "exported as ${PLATFORM_OPENAI}" in moved.content.decode()
    assert client.post(_url(channel, "yaml/"), {"yaml": text + "router: {retries: 5}\n"}).status_code == 302
    assert Deployment.objects.get(channel_model__channel=channel).credential == platform
    assert _state(channel) == ({"retries": 5}, 2)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text + "router:\n  strategy: fastest\n", "router.strategy: line {second}: One of: weighted"),
        (
            lambda text: text + "router:\n  fallbacks: {gpt-4o: [nope]}\n",
            "router.fallbacks.gpt-4o[0]: line {second}: No alias &quot;nope&quot;",
        ),
        (
            lambda text: text.replace("${DEFAULT_CHANNEL_GPT_4O}", "${PATH}"),  # never the environment
            "No credential of this organisation is exported as ${{PATH}}",
        ),
        (lambda text: text + "surprise: 1\n", "surprise: line {first}: Unknown key"),
        (lambda text: "models: [\n", "This is not valid YAML"),
        (lambda text: "x" * (256 * 1024 + 1), "Ensure this value has at most 262144 characters"),
    ],
)
def test_the_yaml_editor_names_the_line_and_field_it_refuses(aliased, admin, enterprise, edit, message):
    spec = DeploymentSpec("openai", "gpt-4o-2", PUBLIC_BASE)
    deployment_add(channel=aliased, alias="gpt-4o", spec=spec, api_key="sk-editor-secret-1234", actor=admin)
    text = channel_yaml_export(channel=aliased)
    before = _state(aliased)
    response = client_for(admin).post(_url(aliased, "yaml/"), {"yaml": edit(text)})
    assert response.status_code == 400
    lines = len(text.splitlines())  # what the edit adds starts on the next line
    assert message.format(first=lines + 1, second=lines + 2) in response.content.decode()
    assert _state(aliased) == before


def test_the_yaml_editor_is_enterprise_only_and_a_huge_body_is_a_400(aliased, admin, enterprise, settings):
    client = client_for(admin)
    too_big = client.post(_url(aliased, "yaml/"), {"yaml": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert too_big.status_code == 400
    enterprise.__class__.objects.filter(pk=enterprise.pk).update(tier="business")
    assert 'id="routing-yaml-form"' not in client.get(_url(aliased)).content.decode()
    refused = client.post(_url(aliased, "yaml/"), {"yaml": ALIASES_YAML + "router: {retries: 1}\n"})
    assert refused.status_code == 403 and "Enterprise plan" in refused.content.decode()
    assert _state(aliased) == ({}, 1)


def test_roll_back_to_a_version(aliased, admin):
    client = client_for(admin)
    client.post(_url(aliased, "settings/"), _settings(client, aliased, {"gpt-4o": "gpt-4o-mini"}))  # v2
    v2_router, _ = _state(aliased)
    client.post(_url(aliased, "settings/"), _settings(client, aliased, {"gpt-4o": ""}, preset="cheapest"))  # v3
    page = client.get(_url(aliased)).content.decode()
    assert "Roll back to v2" in page and "Roll back to v1" in page and "Roll back to v3" not in page
    assert "return confirm(" in page

    response = client.post(_url(aliased, "versions/2/rollback/"))
    assert response.status_code == 302 and response["Location"] == _url(aliased)
    page = client.get(_url(aliased)).content.decode()
    assert "Rolled the routing of Default Channel back to v2." in page and "rolled back to v2" in page
    assert _state(aliased) == (v2_router, 4)
    event = AuditEvent.objects.get(action="channel.routing_rollback", target_id=str(aliased.pk))
    assert event.actor == admin and event.after == {"version": 2, "removed_aliases": []}


def test_a_rollback_that_cannot_be_applied_is_flashed_and_changes_nothing(aliased, admin):
    document = f'models:\n  - alias: x\n    provider: {{name: openai, api_base: {PUBLIC_BASE}, api_key: "${{GONE}}"}}\n'
    RoutingVersion.objects.create(channel=aliased, number=2, document=document, author=admin, summary="by hand")
    client = client_for(admin)
    assert client.post(_url(aliased, "versions/2/rollback/")).status_code == 302
    page = client.get(_url(aliased)).content.decode()
    assert '<li class="error" role="status">' in page and "exported as ${GONE}" in page
    assert _state(aliased) == ({}, 2)
    assert client.post(_url(aliased, "versions/99/rollback/")).status_code == 404
    assert client.get(_url(aliased, "versions/99/")).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "developer", "team_lead"])
def test_members_below_org_admin_see_routing_but_cannot_change_it(aliased, admin, org_with_roles, enterprise, role):
    client = client_for(admin)
    client.post(_url(aliased, "settings/"), _settings(client, aliased, {"gpt-4o": "gpt-4o-mini"}))  # v2
    before = _state(aliased)
    member = client_for(org_with_roles["users"][role])
    page = member.get(_url(aliased))
    html = page.content.decode()
    assert page.status_code == 200 and "gpt-4o-mini" in html and "v2" in html
    assert 'id="routing-settings-form"' not in html and 'id="routing-yaml-form"' not in html
    assert "Roll back" not in html and 'id="dry-run-form"' in html
    diff = member.get(_url(aliased, "versions/2/"))
    assert diff.status_code == 200 and "Roll back" not in diff.content.decode()
    fields = {"preset": "cheapest", "fallbacks-TOTAL_FORMS": "0", "fallbacks-INITIAL_FORMS": "0"}
    assert member.post(_url(aliased, "settings/"), fields).status_code == 403
    assert member.post(_url(aliased, "yaml/"), {"yaml": ALIASES_YAML}).status_code == 403
    assert member.post(_url(aliased, "versions/1/rollback/")).status_code == 403
    assert _state(aliased) == before


def test_another_organisation_s_channel_is_404(aliased, admin, second_org, make_user):
    theirs = channel_create(organization=second_org, name="Secret", actor=None)
    channel_yaml_import(channel=theirs, text=ALIASES_YAML, actor=None)
    channel_yaml_import(channel=theirs, text=ALIASES_YAML.replace("gpt-4o-long", "gpt-4o-wide"), actor=None)
    ours = client_for(admin)
    org = aliased.organization.slug
    for tail in ("", "versions/2/"):
        assert ours.get(f"/o/{org}/channels/{theirs.slug}/routing/{tail}").status_code == 404
        assert ours.get(_url(theirs, tail)).status_code == 404  # not a member of theirs
    assert ours.get(_url(aliased, "versions/2/")).status_code == 404  # their v2 is not one of ours
    for tail in ("settings/", "yaml/", "versions/1/rollback/", "dry-run/"):
        assert ours.post(f"/o/{org}/channels/{theirs.slug}/routing/{tail}", {}).status_code == 404
        assert ours.post(_url(theirs, tail), {}).status_code == 404
    assert client_for(make_user()).get(_url(aliased)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.router == {} and theirs.routing_versions.count() == 2


def _committed_scene() -> tuple[str, str]:
    admin = user_create(email=f"routing-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    User.objects.filter(pk=admin.pk).update(password=live_password_hash(PASSWORD))
    organization = organization_create(name=f"Routing {uuid.uuid4().hex[:6]}", owner=admin)
    channel = channel_default_ensure(organization=organization, actor=admin)
    channel_yaml_import(channel=channel, text=ALIASES_YAML, actor=admin)
    return f"/o/{organization.slug}/channels/{channel.slug}/routing/", admin.email


def test_routing_changes_need_the_csrf_token(committed, live_server_url):
    url, email = committed(_committed_scene)
    with logged_in_client(live_server_url, email, PASSWORD) as client:
        fields = {**form_fields(client.get(url).text, "routing-settings-form"), "preset": "cheapest"}
        forged = {name: value for name, value in fields.items() if name != "csrfmiddlewaretoken"}
        assert client.post(f"{url}settings/", data=forged).status_code == 403
        assert client.post(f"{url}versions/1/rollback/").status_code == 403
        samples = {"samples-TOTAL_FORMS": "1", "samples-INITIAL_FORMS": "0", "samples-0-alias": "gpt-4o"}
        assert client.post(f"{url}dry-run/", data=samples).status_code == 403
        assert "Custom settings" in client.get(url).text
        assert client.post(f"{url}settings/", data=fields).status_code == 302
        assert "The <strong>cheapest</strong> preset" in client.get(url).text
