"""Channels page: create channels, add / edit / remove single deployments (admins only)."""

import pytest

from apps.audit.models import AuditEvent
from apps.channels.models import Channel, Deployment
from apps.channels.services import channel_default_ensure
from apps.core.secrets import secret_decrypt
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

DEPLOYMENT = {
    "alias": "fast",
    "provider": "openai_compatible",
    "upstream_model": "llama-3-8b",
    "api_base": "http://127.0.0.1:9/v1",
    "api_key": "sk-form-secret-9876",
    "api_version": "",
    "weight": "3",
    "tags": "prod, eu",
}


@pytest.fixture
def admin_page(org_with_roles):  # type: ignore[no-untyped-def]
    org, users = org_with_roles["organization"], org_with_roles["users"]
    channel = channel_default_ensure(organization=org, actor=users["org_admin"])
    return org, users, channel, client_for(users["org_admin"])


def test_create_channel_and_refuse_a_duplicate_name(admin_page):
    org, users, _, admin = admin_page
    url = f"/o/{org.slug}/channels/+create/"
    assert admin.post(url, {"name": "Staging"}).status_code == 302
    assert Channel.objects.filter(organization=org, slug="staging").exists()
    duplicate = admin.post(url, {"name": "staging"})
    assert duplicate.status_code == 400 and b"already exists" in duplicate.content
    assert admin.post(url, {"name": ""}).status_code == 400
    assert client_for(users["team_lead"]).post(url, {"name": "Lead's"}).status_code == 403
    assert Channel.objects.filter(organization=org).count() == 2


def test_add_edit_and_remove_one_deployment(admin_page):
    org, _, channel, admin = admin_page
    base = f"/o/{org.slug}/channels/{channel.slug}/deployments"
    assert admin.post(f"{base}/+add/", DEPLOYMENT).status_code == 302
    assert (
        admin.post(f"{base}/+add/", {**DEPLOYMENT, "upstream_model": "llama-3-70b", "api_key": ""}).status_code == 302
    )
    first, second = Deployment.objects.filter(channel_model__channel=channel, channel_model__alias="fast").order_by(
        "id"
    )
    assert (first.upstream_model, first.weight, first.tags) == ("llama-3-8b", 3, ["prod", "eu"])
    assert secret_decrypt(first.credential.secret_encrypted) == "sk-form-secret-9876" and second.credential is None
    page = admin.get(f"/o/{org.slug}/channels/").content.decode()
    assert "llama-3-70b" in page and "sk-form-secret-9876" not in page

    edit_url = f"{base}/{first.pk}/edit/"
    form = admin.get(edit_url)
    assert form.status_code == 200 and b"llama-3-8b" in form.content and b"sk-form-secret" not in form.content
    changed = {**DEPLOYMENT, "upstream_model": "llama-3.1-8b", "api_key": "", "weight": "5"}
    assert admin.post(edit_url, changed).status_code == 302
    edited = Deployment.objects.get(channel_model__channel=channel, upstream_model="llama-3.1-8b")
    assert edited.weight == 5 and secret_decrypt(edited.credential.secret_encrypted) == "sk-form-secret-9876"
    assert Deployment.objects.filter(channel_model__channel=channel, channel_model__alias="fast").count() == 2

    for deployment in Deployment.objects.filter(channel_model__channel=channel, channel_model__alias="fast"):
        assert admin.post(f"{base}/{deployment.pk}/remove/").status_code == 302
    assert not channel.models.filter(alias="fast").exists()
    actions = set(AuditEvent.objects.filter(organization_id=org.pk).values_list("action", flat=True))
    assert {"channel.model_set", "channel.deployment_remove"} <= actions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_base": "http://169.254.169.254/latest"}, b"api_base"),
        ({"api_base": "not a url"}, b"api_base"),
        ({"provider": "carrier-pigeon"}, b"provider"),
        ({"weight": "0"}, b"weight"),
        ({"alias": ""}, b"alias"),
    ],
)
def test_bad_deployments_are_refused_with_the_field_named(admin_page, change, message):
    org, _, channel, admin = admin_page
    response = admin.post(f"/o/{org.slug}/channels/{channel.slug}/deployments/+add/", {**DEPLOYMENT, **change})
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert not Deployment.objects.filter(channel_model__channel=channel).exists()


def test_only_admins_change_deployments_and_other_orgs_are_404(admin_page, make_user):
    org, users, channel, admin = admin_page
    admin.post(f"/o/{org.slug}/channels/{channel.slug}/deployments/+add/", DEPLOYMENT)
    deployment = Deployment.objects.get(channel_model__channel=channel)
    lead = client_for(users["team_lead"])
    assert lead.post(f"/o/{org.slug}/channels/{channel.slug}/deployments/{deployment.pk}/remove/").status_code == 403
    assert lead.get(f"/o/{org.slug}/channels/{channel.slug}/deployments/{deployment.pk}/edit/").status_code == 403
    other_admin = client_for(make_user())
    assert other_admin.get(f"/o/{org.slug}/channels/").status_code == 404
    assert admin.get(f"/o/{org.slug}/channels/{channel.slug}/deployments/999999/edit/").status_code == 404
    assert Deployment.objects.filter(pk=deployment.pk).exists()
