"""The key page's limits form: what it saves, what the gateway's snapshot then says, who may use it."""

import datetime as dt

import orjson
import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.core.redis import redis_client
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_set_status
from apps.keys.snapshots import key_snapshot_key
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.quotas.services import quota_limits_update
from tests.conftest import client_for
from tests.html_forms import form_fields


def _developer_key(org_with_roles, team: str = "platform") -> VirtualKey:  # type: ignore[no-untyped-def]
    developer = org_with_roles["users"]["developer"]
    organization = org_with_roles["organization"]
    return key_generate(
        organization=organization, team=org_with_roles[team], user=developer, name="ci", actor=developer
    )[0]


def _url(key: VirtualKey) -> str:
    return f"/o/{key.organization.slug}/keys/{key.pk}/"


def _submit(client: Client, key: VirtualKey, **typed: str):  # type: ignore[no-untyped-def]
    """Fill the rendered form like a person: the page's values, with `typed` changed."""
    page = client.get(_url(key))
    assert page.status_code == 200
    fields = {**form_fields(page.content.decode(), "key-limits-form"), **typed}
    return client.post(f"{_url(key)}limits/", fields)


def _snapshot(key: VirtualKey) -> dict:  # type: ignore[type-arg]
    return orjson.loads(redis_client().get(key_snapshot_key(key_hash=key.key_hash)))


def test_owner_sets_every_limit_and_the_snapshot_follows(org_with_roles, django_capture_on_commit_callbacks):
    key = _developer_key(org_with_roles)
    client = client_for(org_with_roles["users"]["developer"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(
            client,
            key,
            max_budget="2.5",
            soft_budget="1.000001",
            budget_duration="weekly",
            rpm_limit="30",
            tpm_limit="1000",
            models="gpt-4o*\r\ntext-*",
            blocked_models="*-preview",
            allowed_ips="10.0.0.1\n 192.168.0.0/16 \n",
            expires="2030-01-02T03:04",
        )
    assert response.status_code == 302 and response["Location"] == _url(key)
    key.refresh_from_db()
    assert (key.max_budget_micros, key.soft_budget_micros, key.budget_duration) == (2_500_000, 1_000_001, "weekly")
    assert (key.rpm_limit, key.tpm_limit) == (30, 1000)
    assert (key.allowed_models, key.blocked_models) == (["gpt-4o*", "text-*"], ["*-preview"])
    assert key.allowed_ips == ["10.0.0.1/32", "192.168.0.0/16"]
    assert key.expires_at == dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
    snapshot = _snapshot(key)
    assert snapshot["limits"]["key"] == {
        "rpm": 30,
        "tpm": 1000,
        "budget": 2_500_000,
        "soft_budget": 1_000_001,
        "period": "weekly",
        "models": ["gpt-4o*", "text-*"],
        "blocked": ["*-preview"],
        "ips": ["10.0.0.1/32", "192.168.0.0/16"],
    }
    assert snapshot["expires_at_ms"] == int(key.expires_at.timestamp() * 1000)
    event = AuditEvent.objects.get(action="key.update", target_id=str(key.pk))
    assert event.after["rpm_limit"] == 30 and event.before["rpm_limit"] is None

    page = client.get(_url(key)).content.decode()
    assert "blocked: *-preview" in page and "10.0.0.1/32, 192.168.0.0/16" in page
    fields = form_fields(page, "key-limits-form")  # the form shows what is stored
    assert (fields["max_budget"], fields["rpm_limit"], fields["expires"]) == ("2.5", "30", "2030-01-02T03:04:00")
    assert fields["allowed_ips"] == "10.0.0.1/32\n192.168.0.0/16"


def test_blank_means_no_limit_and_unchanged_fields_are_not_written(org_with_roles, django_capture_on_commit_callbacks):
    key = _developer_key(org_with_roles)
    client = client_for(org_with_roles["users"]["developer"])
    with django_capture_on_commit_callbacks(execute=True):
        _submit(client, key, rpm_limit="5", max_budget="3", allowed_ips="10.0.0.0/8")
        response = _submit(client, key, rpm_limit="", allowed_ips="")
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.rpm_limit, key.allowed_ips, key.max_budget_micros) == (None, [], 3_000_000)
    assert _snapshot(key)["limits"]["key"] == {"budget": 3_000_000, "period": "monthly"}
    last = AuditEvent.objects.filter(action="key.update", target_id=str(key.pk)).order_by("-id").first()
    assert set(last.after) == {"rpm_limit", "allowed_ips"}  # only what was changed


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("allowed_ips", "10.0.0.1\n10.0.0.300", "'10.0.0.300' is not an IP address or CIDR block."),
        ("max_budget", "-1", "Ensure this value is greater than or equal to 0."),
        ("max_budget", "ten", "A valid number is required."),
        ("soft_budget", "0.0000001", "Ensure that there are no more than 6 decimal places."),
        ("rpm_limit", "12abc", "A valid integer is required."),
        ("tpm_limit", "-3", "Ensure this value is greater than or equal to 0."),
        ("budget_duration", "hourly", '"hourly" is not a valid choice.'),
        ("expires", "next tuesday", "Datetime has wrong format."),
        ("models", "x" * 201, "Line 1: Ensure this field has no more than 200 characters."),
    ],
)
def test_bad_input_re_renders_the_form_with_the_error_and_changes_nothing(org_with_roles, field, typed, message):
    key = _developer_key(org_with_roles)
    before = VirtualKey.objects.filter(pk=key.pk).values().get()
    response = _submit(client_for(org_with_roles["users"]["developer"]), key, **{"rpm_limit": "9", field: typed})
    assert response.status_code == 400
    errors = response.context["limits_form"].errors
    assert list(errors) == [field] and errors[field][0].startswith(message)
    html = response.content.decode()
    assert 'class="field invalid"' in html
    if field != "budget_duration":  # a select shows no option it does not have
        assert form_fields(html, "key-limits-form")[field] == typed  # what was typed stays
    assert VirtualKey.objects.filter(pk=key.pk).values().get() == before
    assert not AuditEvent.objects.filter(action="key.update", target_id=str(key.pk)).exists()


def test_who_may_change_a_key_s_limits_matches_key_update(org_with_roles, make_user, second_org):
    org, users = org_with_roles["organization"], org_with_roles["users"]
    key = _developer_key(org_with_roles)
    admin = users["org_admin"]  # the developer is only a viewer in Research: the key there is the admin's
    research_key = key_generate(organization=org, team=org_with_roles["research"], user=admin, name="r", actor=admin)[0]
    other_developer = make_user()
    member_add(
        organization=org,
        team=org_with_roles["platform"],
        user=other_developer,
        role=Role.DEVELOPER,
        actor=users["org_admin"],
    )

    def post(user, target: VirtualKey, rpm: str) -> int:  # type: ignore[no-untyped-def]
        return (
            client_for(user)
            .post(f"{_url(target)}limits/", {"budget_duration": "monthly", "rpm_limit": rpm})
            .status_code
        )

    viewer_page = client_for(users["viewer"]).get(_url(key)).content.decode()
    assert 'id="key-limits"' in viewer_page and 'id="key-limits-form"' not in viewer_page
    assert post(users["viewer"], key, "1") == 403
    assert post(other_developer, key, "1") == 403  # a developer, but not the key's owner
    assert post(users["team_lead"], research_key, "1") == 403  # leads Platform, not Research
    assert post(users["team_lead"], key, "2") == 302
    assert post(users["org_admin"], research_key, "3") == 302
    assert VirtualKey.objects.get(pk=key.pk).rpm_limit == 2
    assert VirtualKey.objects.get(pk=research_key.pk).rpm_limit == 3

    owner = second_org.memberships.first().user
    theirs = key_generate(
        organization=second_org, team=second_org.teams.get(is_default=True), user=owner, name="x", actor=owner
    )[0]
    admin = client_for(users["org_admin"])
    assert admin.post(f"/o/{org.slug}/keys/{theirs.pk}/limits/", {"rpm_limit": "1"}).status_code == 404
    assert admin.post(f"/o/{second_org.slug}/keys/{theirs.pk}/limits/", {"rpm_limit": "1"}).status_code == 404
    assert VirtualKey.objects.get(pk=theirs.pk).rpm_limit is None


def test_a_revoked_key_shows_no_form_and_refuses_changes(org_with_roles):
    key = _developer_key(org_with_roles)
    admin = org_with_roles["users"]["org_admin"]
    key_set_status(key=key, status="revoked", actor=admin)
    client = client_for(admin)
    assert 'id="key-limits-form"' not in client.get(_url(key)).content.decode()
    response = client.post(f"{_url(key)}limits/", {"budget_duration": "monthly", "rpm_limit": "4"})
    assert response.status_code == 400
    assert "This key is revoked" in response.context["limits_form"].non_field_errors()[0]
    assert VirtualKey.objects.get(pk=key.pk).rpm_limit is None


def test_a_key_budget_above_its_team_s_is_saved_and_the_page_says_the_team_caps_it(org_with_roles):
    key = _developer_key(org_with_roles)
    admin = org_with_roles["users"]["org_admin"]
    quota_limits_update(holder=org_with_roles["platform"], actor=admin, max_budget_micros=5_000_000)
    client = client_for(admin)
    assert _submit(client, key, max_budget="10").status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).max_budget_micros == 10_000_000
    page = client.get(_url(key)).content.decode()
    assert 'id="capped-by-team"' in page
    assert "Key budget (monthly): 0.000000 of 10.000000 USD" in page
    assert "Team budget (monthly): 0.000000 of 5.000000 USD" in page
