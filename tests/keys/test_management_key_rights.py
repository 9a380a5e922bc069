"""A management key acts with its creator's current role in the organisation, re-read on every request, and
dies with the membership: revoked on removal, and refused at authentication without one."""

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.keys.models import ManagementKey
from apps.keys.services import management_key_create
from apps.orgs.models import LeaverKeyAction, Membership
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.memberships import membership_remove, membership_set_role
from tests.conftest import EDGE_HOST

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_admin(org_with_roles, make_user):  # type: ignore[no-untyped-def]
    """An org admin (organisation role only, no team row) holding a management key."""
    organization, owner = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    user = make_user()
    member_add(organization=organization, team=None, user=user, role=Role.ORG_ADMIN, actor=owner)
    key, secret = management_key_create(organization=organization, name="ci", actor=user)
    http = Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {secret}")
    membership = Membership.objects.get(organization=organization, user=user, team__isnull=True)
    return {"user": user, "key": key, "http": http, "membership": membership, "owner": owner}


def _post(http: Client, path: str, body: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = http.post(path, body, content_type="application/json")
    return response.status_code, response.json()


def test_a_demoted_admins_key_is_refused_what_the_new_role_is_refused_and_dies_with_the_membership(
    org_with_roles, second_admin
):
    http, owner = second_admin["http"], second_admin["owner"]
    assert _post(http, "/organization/update", {"rpm_limit": 100})[0] == 200
    assert _post(http, "/key/generate", {"key_alias": "ok"})[0] == 200

    membership_set_role(membership=second_admin["membership"], role=Role.VIEWER, actor=owner)
    status, body = _post(http, "/organization/update", {"rpm_limit": 5})
    assert status == 403 and body["error"]["code"] == "permission_denied"
    status, body = _post(http, "/key/generate", {"key_alias": "not any more"})
    assert status == 403 and body["error"]["code"] == "permission_denied"
    assert http.get("/key/list").status_code == 200  # a viewer still reads

    membership_remove(membership=second_admin["membership"], actor=owner)
    for path in ("/organization/update", "/key/generate"):
        status, body = _post(http, path, {})
        assert status == 401 and body["error"]["type"] == "authentication_error"
    assert ManagementKey.objects.get(pk=second_admin["key"].pk).revoked_at is not None
    revoked = AuditEvent.objects.get(action="management_key.revoke", target_id=str(second_admin["key"].pk))
    assert revoked.actor == owner and revoked.after["reason"] == "owner_left"

    # coming back does not bring the key back: it was revoked
    member_add(
        organization=org_with_roles["organization"], team=None, user=second_admin["user"], role="org_admin", actor=owner
    )
    assert http.get("/key/list").status_code == 401


def test_a_key_whose_creator_has_no_membership_is_refused_at_authentication(second_admin):
    """However the membership ended (here a raw delete, which no page offers), the key stops at once."""
    http = second_admin["http"]
    assert http.get("/key/list").status_code == 200
    Membership.objects.filter(pk=second_admin["membership"].pk).delete()
    response = http.get("/key/list")
    assert response.status_code == 401 and "no longer in the organisation" in response.json()["error"]["message"]


def test_leaver_key_action_is_set_and_read_on_organization_update(org_with_roles, second_admin):
    http = second_admin["http"]
    status, body = _post(http, "/organization/update", {"leaver_key_action": "revoke"})
    assert status == 200 and body["leaver_key_action"] == LeaverKeyAction.REVOKE
    org_with_roles["organization"].refresh_from_db()
    assert org_with_roles["organization"].leaver_key_action == LeaverKeyAction.REVOKE
    event = AuditEvent.objects.get(action="organization.update", organization_id=org_with_roles["organization"].pk)
    assert event.before == {"leaver_key_action": "pause"} and event.after == {"leaver_key_action": "revoke"}
    status, body = _post(http, "/organization/update", {"leaver_key_action": "delete"})
    assert status == 400 and body["error"]["param"] == "leaver_key_action"
    assert _post(http, "/organization/update", {"rpm_limit": 7})[1]["leaver_key_action"] == "revoke"


def test_a_key_is_minted_only_for_someone_who_may_use_keys_in_its_team(org_with_roles, second_admin):
    """A viewer uses no keys: an admin minting one for them would hand out what their role refuses, and no
    departure would ever stop it."""
    users, platform = org_with_roles["users"], org_with_roles["platform"]
    for user, expected in ((users["viewer"], 403), (users["developer"], 200)):
        status, body = _post(second_admin["http"], "/key/generate", {"user_id": user.pk, "team_id": platform.pk})
        assert status == expected, body
    research = org_with_roles["research"]  # the developer is only a viewer there (their organisation role)
    status, body = _post(
        second_admin["http"], "/key/generate", {"user_id": users["developer"].pk, "team_id": research.pk}
    )
    assert status == 403 and body["error"]["param"] == "user_id"
