"""The team page's limits: budget bars of the team and its organisation, and the form (org admins, as /team/update)."""

import orjson
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.redis import redis_client
from apps.keys.services import key_generate
from apps.keys.snapshots import key_snapshot_key
from apps.orgs.models import Team
from apps.orgs.services.organizations import team_create
from apps.quotas.services import quota_limits_update
from apps.spend.models import SpendLog
from tests.conftest import client_for
from tests.html_forms import form_fields


def _url(team: Team) -> str:
    return f"/o/{team.organization.slug}/teams/{team.slug}/"


def _submit(client, team: Team, **typed: str):  # type: ignore[no-untyped-def]
    page = client.get(_url(team))
    assert page.status_code == 200
    return client.post(f"{_url(team)}limits/", {**form_fields(page.content.decode(), "team-limits-form"), **typed})


def test_org_admin_sets_team_limits_and_every_key_of_the_team_follows(
    org_with_roles, django_capture_on_commit_callbacks
):
    platform, users = org_with_roles["platform"], org_with_roles["users"]
    developer = users["developer"]
    key, _ = key_generate(
        organization=org_with_roles["organization"], team=platform, user=developer, name="k", actor=developer
    )
    client = client_for(users["org_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(client, platform, max_budget="12.345678", rpm_limit="60", blocked_models="gpt-4o\nclaude-*")
    assert response.status_code == 302 and response["Location"] == _url(platform)
    platform.refresh_from_db()
    assert (platform.max_budget_micros, platform.rpm_limit) == (12_345_678, 60)
    assert platform.blocked_models == ["gpt-4o", "claude-*"]
    snapshot = orjson.loads(redis_client().get(key_snapshot_key(key_hash=key.key_hash)))
    assert snapshot["limits"]["team"] == {
        "rpm": 60,
        "budget": 12_345_678,
        "period": "monthly",
        "blocked": ["gpt-4o", "claude-*"],
    }
    assert AuditEvent.objects.filter(action="team.limits_update", target_id=str(platform.pk)).exists()
    page = client.get(_url(platform)).content.decode()
    assert "12.345678 USD, monthly" in page and "Team budget (monthly): 0.000000 of 12.345678 USD" in page


def test_team_page_shows_team_and_organisation_budget_bars_to_every_member(org_with_roles):
    org, platform, users = org_with_roles["organization"], org_with_roles["platform"], org_with_roles["users"]
    quota_limits_update(holder=platform, actor=users["org_admin"], max_budget_micros=4_000)
    quota_limits_update(holder=org, actor=users["org_admin"], max_budget_micros=10_000, budget_duration="total")
    common = {"organization_id": org.pk, "created_at": timezone.now(), "status_code": 200, "model_alias": "m"}
    SpendLog.objects.create(request_id="req_team_1", team_id=platform.pk, cost_micros=1_000, **common)
    SpendLog.objects.create(
        request_id="req_other_team", team_id=org_with_roles["research"].pk, cost_micros=2_000, **common
    )
    page = client_for(users["viewer"]).get(_url(platform)).content.decode()
    assert "Team budget (monthly): 0.001000 of 0.004000 USD" in page and 'value="25"' in page
    assert "Organisation budget (total): 0.003000 of 0.010000 USD" in page and 'value="30"' in page
    assert 'id="team-limits-form"' not in page  # a viewer sees the limits, not the form


def test_only_org_admins_change_team_limits_as_team_update_allows(org_with_roles, second_org):
    org, platform, users = org_with_roles["organization"], org_with_roles["platform"], org_with_roles["users"]
    lead_page = client_for(users["team_lead"]).get(_url(platform)).content.decode()
    assert 'id="team-limits"' in lead_page and 'id="team-limits-form"' not in lead_page
    for role in ("team_lead", "developer", "viewer"):  # a team lead, even of this team: /team/update says 403
        response = client_for(users[role]).post(f"{_url(platform)}limits/", {"budget_duration": "daily"})
        assert response.status_code == 403, role
    theirs = team_create(organization=second_org, name="Elsewhere", actor=second_org.memberships.first().user)
    admin = client_for(users["org_admin"])
    assert admin.post(f"/o/{org.slug}/teams/{theirs.slug}/limits/", {"budget_duration": "daily"}).status_code == 404
    assert (
        admin.post(f"/o/{second_org.slug}/teams/{theirs.slug}/limits/", {"budget_duration": "daily"}).status_code == 404
    )
    assert Team.objects.get(pk=platform.pk).budget_duration == "monthly"
    assert Team.objects.get(pk=theirs.pk).budget_duration == "monthly"
    targets = [str(platform.pk), str(theirs.pk)]
    assert not AuditEvent.objects.filter(action="team.limits_update", target_id__in=targets).exists()


def test_bad_team_limits_re_render_with_the_error_and_change_nothing(org_with_roles):
    platform = org_with_roles["platform"]
    response = _submit(client_for(org_with_roles["users"]["org_admin"]), platform, allowed_ips="::1\n300.1.1.1/8")
    assert response.status_code == 400
    assert response.context["limits_form"].errors == {
        "allowed_ips": ["'300.1.1.1/8' is not an IP address or CIDR block."]
    }
    assert form_fields(response.content.decode(), "team-limits-form")["allowed_ips"] == "::1\n300.1.1.1/8"
    assert Team.objects.get(pk=platform.pk).allowed_ips == []
