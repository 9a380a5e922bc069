"""The management API (/key/*): LiteLLM-compatible fields, management-key auth, one JSON error shape."""

import hashlib

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.keys.models import KeyStatus, VirtualKey
from apps.keys.services import management_key_create
from tests.conftest import EDGE_HOST, client_for


def _admin_client(org, user) -> tuple[Client, str]:  # type: ignore[no-untyped-def]
    _, secret = management_key_create(organization=org, name="ci", actor=user)
    return Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {secret}"), secret


def _error(response):  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_generate_list_info_update_regenerate_delete(org_with_roles):
    org, platform, admin = (
        org_with_roles["organization"],
        org_with_roles["platform"],
        org_with_roles["users"]["org_admin"],
    )
    http, _ = _admin_client(org, admin)
    created = http.post(
        "/key/generate",
        {
            "key_alias": "script",
            "team_id": platform.pk,
            "models": ["gpt-4o-mini"],
            "max_budget": "12.50",
            "rpm_limit": 60,
            "tpm_limit": 100000,
            "duration": "30d",
            "metadata": {"env": "ci"},
        },
        content_type="application/json",
    )
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["key"].startswith("sk-hydite-") and len(body["key"]) == 42
    key = VirtualKey.objects.get(pk=body["key_id"])
    assert key.key_hash == hashlib.sha256(body["key"].encode()).hexdigest()
    assert (key.max_budget_micros, key.rpm_limit, key.tpm_limit, key.allowed_models) == (
        12_500_000,
        60,
        100000,
        ["gpt-4o-mini"],
    )
    assert key.expires_at is not None and body["max_budget"] == "12.5" and body["metadata"] == {"env": "ci"}
    events = AuditEvent.objects.filter(target_type="keys.virtualkey", target_id=str(key.pk))
    assert [event.action for event in events] == ["key.create"]  # the key and its limits in one step
    assert events.get().after["rpm_limit"] == 60

    listed = http.get("/key/list", {"team_id": platform.pk}).json()
    assert body["key_id"] in [row["key_id"] for row in listed["keys"]] and listed["total_count"] >= 1
    info = http.get("/key/info", {"key": body["key"]}).json()
    assert info["info"]["key_alias"] == "script" and body["key"] not in str(info)
    assert http.get("/key/info", {"key": key.key_hash}).json()["info"]["key_id"] == key.pk

    updated = http.post(
        "/key/update", {"key_id": key.pk, "rpm_limit": 10, "blocked": True}, content_type="application/json"
    )
    assert updated.status_code == 200 and updated.json()["rpm_limit"] == 10 and updated.json()["blocked"] is True
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.PAUSED

    regenerated = http.post("/key/regenerate", {"key": body["key"]}, content_type="application/json").json()
    assert regenerated["key"] != body["key"] and regenerated["key_id"] == key.pk
    deleted = http.post("/key/delete", {"keys": [regenerated["key"]]}, content_type="application/json").json()
    assert deleted == {"deleted_keys": [key.pk]}
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.REVOKED


def test_errors_are_json_with_the_right_status(org_with_roles, second_org):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    http, _ = _admin_client(org, admin)
    response = http.post("/key/generate", {"rpm_limit": -1}, content_type="application/json")
    assert response.status_code == 400 and _error(response)["param"] == "rpm_limit"
    response = http.post("/key/generate", {"duration": "forever"}, content_type="application/json")
    assert response.status_code == 400 and _error(response)["param"] == "duration"
    response = http.post("/key/generate", "{not json", content_type="application/json")
    assert response.status_code == 400 and _error(response)
    assert http.get("/key/info").status_code == 400
    response = http.get("/key/info", {"key_id": 999999})
    assert response.status_code == 404 and _error(response)["type"] == "not_found_error"
    # Another organisation's key, by id and by clear text: not found.
    other_team = second_org.teams.get(is_default=True)
    other_owner = second_org.memberships.first().user
    from apps.keys.services import key_generate

    other_key, other_secret = key_generate(
        organization=second_org, team=other_team, user=other_owner, name="x", actor=other_owner
    )
    assert http.get("/key/info", {"key_id": other_key.pk}).status_code == 404
    assert http.post("/key/delete", {"keys": [other_secret]}, content_type="application/json").status_code == 404
    assert http.get("/key/list", {"organization": second_org.slug}).status_code == 404
    assert VirtualKey.objects.get(pk=other_key.pk).status == KeyStatus.ACTIVE
    response = Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION="Bearer sk-hydite-admin-" + "0" * 32).get("/key/list")
    assert response.status_code == 401 and _error(response)["type"] == "authentication_error"
    response = Client(HTTP_HOST=EDGE_HOST).get("/key/list")
    assert response.status_code == 401 and response["Content-Type"] == "application/json"
    assert http.get("/key/generate").status_code == 405


def test_session_users_keep_their_role(org_with_roles):
    org, users = org_with_roles["organization"], org_with_roles["users"]
    viewer = client_for(users["viewer"])
    response = viewer.post("/key/generate", {"organization": org.slug}, content_type="application/json")
    assert response.status_code == 403 and _error(response)["code"] == "permission_denied"
    developer = client_for(users["developer"])
    response = developer.post(
        "/key/generate",
        {"organization": org.slug, "team_id": org_with_roles["platform"].pk, "user_id": users["viewer"].pk},
        content_type="application/json",
    )
    assert response.status_code == 403 and _error(response)["param"] == "user_id"
    response = developer.post(
        "/key/generate",
        {"organization": org.slug, "team_id": org_with_roles["platform"].pk},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["user_id"] == users["developer"].pk


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_openapi_schema_and_docs_are_published(org_with_roles, path):
    response = client_for(org_with_roles["users"]["org_admin"]).get(path)
    assert response.status_code == 200
    if path == "/api/schema/":
        assert b"/key/generate" in response.content


def test_quota_fields_on_keys_teams_and_the_organisation(org_with_roles, django_capture_on_commit_callbacks):
    from apps.core.redis import redis_client
    from apps.keys.snapshots import key_snapshot_key

    org, platform = org_with_roles["organization"], org_with_roles["platform"]
    http, _ = _admin_client(org, org_with_roles["users"]["org_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        created = http.post(
            "/key/generate",
            {
                "team_id": platform.pk,
                "max_budget": "5",
                "soft_budget": "4",
                "budget_duration": "daily",
                "blocked_models": ["gpt-4o*"],
                "allowed_ips": ["10.0.0.1", "192.168.0.0/16"],
                "expires": "2030-01-01T00:00:00Z",
            },
            content_type="application/json",
        )
    assert created.status_code == 200, created.content
    info = created.json()
    assert (info["max_budget"], info["soft_budget"], info["budget_duration"]) == ("5", "4", "daily")
    assert info["allowed_ips"] == ["10.0.0.1/32", "192.168.0.0/16"] and info["blocked_models"] == ["gpt-4o*"]
    assert info["expires"].startswith("2030-01-01")

    with django_capture_on_commit_callbacks(execute=True):
        team = http.post(
            "/team/update",
            {"team_id": platform.pk, "rpm_limit": 7, "max_budget": "1.25"},
            content_type="application/json",
        )
        organization = http.post("/organization/update", {"tpm_limit": 9000}, content_type="application/json")
    assert team.status_code == 200 and (team.json()["rpm_limit"], team.json()["max_budget"]) == (7, "1.25")
    assert organization.status_code == 200 and organization.json()["tpm_limit"] == 9000
    # the gateway's copy of the key carries every layer's limits
    import orjson

    key = VirtualKey.objects.get(pk=info["key_id"])
    snapshot = orjson.loads(redis_client().get(key_snapshot_key(key_hash=key.key_hash)))
    assert snapshot["limits"]["team"] == {"rpm": 7, "budget": 1_250_000, "period": "monthly"}
    assert snapshot["limits"]["org"] == {"tpm": 9000}
    assert snapshot["limits"]["key"]["budget"] == 5_000_000 and snapshot["limits"]["key"]["period"] == "daily"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/key/generate", {"allowed_ips": ["10.0.0.300"]}, "allowed_ips[0]"),
        ("/key/generate", {"budget_duration": "hourly"}, "budget_duration"),
        ("/key/generate", {"max_budget": "-1"}, "max_budget"),
        ("/team/update", {"rpm_limit": 5}, "team_id"),
        ("/team/update", {"team_id": 999999, "rpm_limit": 5}, None),
        ("/organization/update", {"tpm_limit": -5}, "tpm_limit"),
    ],
)
def test_bad_quota_fields_name_the_field(org_with_roles, path, body, param):
    http, _ = _admin_client(org_with_roles["organization"], org_with_roles["users"]["org_admin"])
    response = http.post(path, body, content_type="application/json")
    assert response.status_code == (404 if param is None else 400)
    assert _error(response)["param"] == param


def test_only_org_admins_change_team_and_org_limits(org_with_roles):
    lead = client_for(org_with_roles["users"]["team_lead"])
    team_id = org_with_roles["platform"].pk
    response = lead.post("/team/update", {"team_id": team_id, "rpm_limit": 1}, content_type="application/json")
    assert response.status_code == 403 and _error(response)["code"] == "permission_denied"
    response = lead.post("/organization/update", {"rpm_limit": 1}, content_type="application/json")
    assert response.status_code == 403


@pytest.mark.django_db
def test_an_instance_wide_key_works_only_while_its_creator_is_staff(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    _, secret = management_key_create(organization=None, name="operators", actor=admin)
    http = Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert http.get("/spend/report", {"organization": org.slug}).status_code == 200
    admin.is_staff = False  # no longer an operator
    admin.save(update_fields=["is_staff"])
    refused = http.get("/spend/report", {"organization": org.slug})
    assert refused.status_code == 401 and "no longer staff" in _error(refused)["message"]
