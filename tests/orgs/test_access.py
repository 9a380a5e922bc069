"""The permission layer through the pages: roles, organisations and instances never leak."""

import pytest

from apps.orgs.models import Membership, Team
from apps.orgs.roles import Action, Role, role_allows
from tests.conftest import ACME_HOST, client_for


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Action.VIEW}),
        (Role.DEVELOPER, {Action.VIEW, Action.USE}),
        (Role.TEAM_LEAD, {Action.VIEW, Action.USE, Action.MANAGE_MEMBERS}),
        (Role.ORG_ADMIN, set(Action)),
    ],
)
def test_role_table(role, allowed):
    assert {action for action in Action if role_allows(role, action)} == allowed
    assert not role_allows(None, Action.VIEW)


def _team_url(org, team, suffix=""):
    return f"/o/{org.slug}/teams/{team.slug}/{suffix}"


def test_viewer_can_read_but_not_change_anything(org_with_roles):
    org, platform = org_with_roles["organization"], org_with_roles["platform"]
    viewer = org_with_roles["users"]["viewer"]
    client = client_for(viewer)
    assert client.get(f"/o/{org.slug}/teams/").status_code == 200
    assert client.get(_team_url(org, platform)).status_code == 200
    lead_row = Membership.objects.get(team=platform, user=org_with_roles["users"]["team_lead"])
    attempts = [
        (f"/o/{org.slug}/teams/+create/", {"name": "Sneaky"}),
        (f"/o/{org.slug}/members/invite/", {"email": "x@example.test", "role": "viewer"}),
        (_team_url(org, platform, "invite/"), {"email": "x@example.test", "role": "viewer"}),
        (_team_url(org, platform, "rename/"), {"name": "Renamed"}),
        (_team_url(org, platform, "delete/"), {}),
        (f"/o/{org.slug}/members/{lead_row.pk}/role/", {"role": "viewer"}),
        (f"/o/{org.slug}/members/{lead_row.pk}/remove/", {}),
    ]
    for url, data in attempts:
        assert client.post(url, data).status_code == 403, url
    assert not Team.objects.filter(organization=org, name="Sneaky").exists()
    assert Team.objects.get(pk=platform.pk).name == "Platform"
    assert Membership.objects.get(pk=lead_row.pk).role == Role.TEAM_LEAD


def test_developer_cannot_manage_members(org_with_roles, mailoutbox):
    org, platform = org_with_roles["organization"], org_with_roles["platform"]
    developer = org_with_roles["users"]["developer"]
    client = client_for(developer)
    viewer_row = Membership.objects.get(team=platform, user=org_with_roles["users"]["viewer"])
    assert (
        client.post(_team_url(org, platform, "invite/"), {"email": "a@example.test", "role": "viewer"}).status_code
        == 403
    )
    assert client.post(f"/o/{org.slug}/members/{viewer_row.pk}/role/", {"role": "developer"}).status_code == 403
    assert client.post(f"/o/{org.slug}/members/{viewer_row.pk}/remove/").status_code == 403
    assert Membership.objects.get(pk=viewer_row.pk).role == Role.VIEWER
    assert mailoutbox == []


def test_team_lead_manages_own_team_only(org_with_roles, mailoutbox, django_capture_on_commit_callbacks):
    org, platform, research = org_with_roles["organization"], org_with_roles["platform"], org_with_roles["research"]
    lead = org_with_roles["users"]["team_lead"]
    client = client_for(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_team_url(org, platform, "invite/"), {"email": "new@example.test", "role": "developer"})
    assert response.status_code == 302
    assert [message.to for message in mailoutbox] == [["new@example.test"]]
    viewer_row = Membership.objects.get(team=platform, user=org_with_roles["users"]["viewer"])
    assert client.post(f"/o/{org.slug}/members/{viewer_row.pk}/role/", {"role": "developer"}).status_code == 302
    assert Membership.objects.get(pk=viewer_row.pk).role == Role.DEVELOPER
    # Not their team, and not organisation-wide powers.
    assert (
        client.post(_team_url(org, research, "invite/"), {"email": "b@example.test", "role": "viewer"}).status_code
        == 403
    )
    assert client.post(f"/o/{org.slug}/teams/+create/", {"name": "Mine"}).status_code == 403
    assert client.get(f"/o/{org.slug}/audit/").status_code == 403
    org_row = Membership.objects.get(organization=org, team=None, user=org_with_roles["users"]["viewer"])
    assert client.post(f"/o/{org.slug}/members/{org_row.pk}/role/", {"role": "org_admin"}).status_code == 403


def test_org_admin_can_manage_everything(org_with_roles):
    org = org_with_roles["organization"]
    client = client_for(org_with_roles["users"]["org_admin"])
    assert client.post(f"/o/{org.slug}/teams/+create/", {"name": "Data"}).status_code == 302
    assert client.get(f"/o/{org.slug}/audit/").status_code == 200
    viewer_org_row = Membership.objects.get(organization=org, team=None, user=org_with_roles["users"]["viewer"])
    assert client.post(f"/o/{org.slug}/members/{viewer_org_row.pk}/role/", {"role": "developer"}).status_code == 302
    assert Membership.objects.get(pk=viewer_org_row.pk).role == Role.DEVELOPER


def test_other_organisation_in_same_instance_is_invisible(org_with_roles, second_org):
    org = org_with_roles["organization"]
    admin = org_with_roles["users"]["org_admin"]
    client = client_for(admin)
    other_team = second_org.teams.get()
    other_row = Membership.objects.filter(organization=second_org).first()
    assert client.get(f"/o/{second_org.slug}/").status_code == 404
    assert client.get(f"/o/{second_org.slug}/teams/").status_code == 404
    assert client.get(f"/o/{second_org.slug}/audit/").status_code == 404
    assert client.post(f"/o/{second_org.slug}/teams/+create/", {"name": "X"}).status_code == 404
    # Reaching another organisation's rows through your own organisation's URL.
    assert client.get(f"/o/{org.slug}/teams/{other_team.slug}-nope/").status_code == 404
    assert client.post(f"/o/{org.slug}/members/{other_row.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=other_row.pk).exists()
    page = client.get(f"/o/{org.slug}/teams/").content.decode()
    assert second_org.name not in page


def test_other_instance_is_invisible(org_with_roles, acme):
    """An organisation of the Shared Edge does not exist on a Dedicated instance's host."""
    org = org_with_roles["organization"]
    admin = org_with_roles["users"]["org_admin"]
    client = client_for(admin, host=ACME_HOST)
    assert client.get(f"/o/{org.slug}/").status_code == 404
    assert client.get(f"/o/{org.slug}/teams/").status_code == 404
    # The edge session does not log anybody in on the acme host.
    edge_client = client_for(admin)
    edge_client.defaults["HTTP_HOST"] = ACME_HOST
    assert edge_client.get("/").status_code == 302
    assert "/accounts/login/" in edge_client.get("/")["Location"]


def test_anonymous_is_sent_to_login(org_with_roles):
    org = org_with_roles["organization"]
    response = client_for(None).get(f"/o/{org.slug}/teams/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
