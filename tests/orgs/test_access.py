"""The permission layer through the pages: roles, organisations and instances never leak."""

import pytest
from django.db import connection

from apps.orgs.models import Membership, Team
from apps.orgs.roles import Action, Role, role_allows
from apps.orgs.services.invitations import invitation_create
from apps.orgs.services.organizations import organization_create, team_create
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
    other_team = team_create(organization=second_org, name="Secret Plans", actor=second_org.memberships.first().user)
    other_row = Membership.objects.filter(organization=second_org).first()
    assert client.get(f"/o/{second_org.slug}/").status_code == 404
    assert client.get(f"/o/{second_org.slug}/teams/").status_code == 404
    assert client.get(f"/o/{second_org.slug}/audit/").status_code == 404
    assert client.post(f"/o/{second_org.slug}/teams/+create/", {"name": "X"}).status_code == 404
    # Reaching another organisation's rows through your own organisation's URL.
    assert client.get(f"/o/{org.slug}/teams/{other_team.slug}/").status_code == 404
    assert client.post(f"/o/{org.slug}/teams/{other_team.slug}/delete/").status_code == 404
    assert Team.objects.filter(pk=other_team.pk).exists()
    assert client.post(f"/o/{org.slug}/members/{other_row.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=other_row.pk).exists()
    page = client.get(f"/o/{org.slug}/teams/").content.decode()
    assert second_org.name not in page


def test_other_instance_is_invisible(make_user, acme, edge):
    """Each instance is its own schema: a user sees an organisation only on its instance's host."""
    edge_admin = make_user()
    edge_org = organization_create(name="Edge Only", owner=edge_admin)
    connection.set_tenant(acme)
    acme_admin = make_user()
    acme_org = organization_create(name="Acme Only", owner=acme_admin)
    assert acme_org.slug == "acme-only"
    # The acme member on the edge host: the acme organisation does not exist there.
    on_edge = client_for(acme_admin)
    assert on_edge.get(f"/o/{acme_org.slug}/").status_code == 404
    assert on_edge.get("/").status_code == 200  # logged in, but no organisation on this instance
    assert acme_org.name not in on_edge.get("/").content.decode()
    # The edge member on the acme host: same the other way round.
    on_acme = client_for(edge_admin, host=ACME_HOST)
    assert on_acme.get(f"/o/{edge_org.slug}/").status_code == 404
    assert edge_org.name not in on_acme.get("/").content.decode()
    # Each on their own host sees their own organisation.
    assert client_for(acme_admin, host=ACME_HOST).get(f"/o/{acme_org.slug}/").status_code == 200
    assert client_for(edge_admin).get(f"/o/{edge_org.slug}/").status_code == 200
    # A session made on the edge does not log anybody in on the acme host.
    edge_session = client_for(edge_admin)
    edge_session.defaults["HTTP_HOST"] = ACME_HOST
    response = edge_session.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_invitation_of_another_org_cannot_be_revoked(org_with_roles, second_org):
    owner = second_org.memberships.first().user
    invitation = invitation_create(
        organization=second_org,
        team=None,
        email="target@example.test",
        role=Role.VIEWER,
        actor=owner,
        accept_url_base="http://testserver/invitations",
    )
    client = client_for(org_with_roles["users"]["org_admin"])
    response = client.post(f"/o/{org_with_roles['organization'].slug}/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_anonymous_is_sent_to_login(org_with_roles):
    org = org_with_roles["organization"]
    response = client_for(None).get(f"/o/{org.slug}/teams/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
