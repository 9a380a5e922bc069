"""The API Keys page: mint (shown once), pause, resume, regenerate, revoke, with role checks."""

import hashlib
import re

from apps.audit.models import AuditEvent
from apps.keys.models import KeyStatus, VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.quotas.services import quota_limits_update
from tests.conftest import client_for

SECRET = re.compile(r"sk-hydite-[0-9a-f]{32}")


def _mint(client, org, team, name="ci"):  # type: ignore[no-untyped-def]
    channel = org.channels.get(is_default=True)
    return client.post(f"/o/{org.slug}/keys/+create/", {"name": name, "team": team.pk, "channel": channel.pk})


def test_developer_mints_a_key_shown_once_and_stored_as_a_hash(org_with_roles, django_capture_on_commit_callbacks):
    org, platform = org_with_roles["organization"], org_with_roles["platform"]
    client = client_for(org_with_roles["users"]["developer"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _mint(client, org, platform, name="ci runner")
    assert response.status_code == 200
    secret = SECRET.search(response.content.decode()).group(0)
    key = VirtualKey.objects.get(organization=org, name="ci runner")
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(VirtualKey.objects.filter(pk=key.pk).values().first())
    listing = client.get(f"/o/{org.slug}/keys/").content.decode()
    assert secret not in listing and key.display in listing
    assert AuditEvent.objects.filter(organization=org, action="key.create", target_id=str(key.pk)).exists()


def test_viewer_cannot_mint_or_touch_keys(org_with_roles):
    org, platform, users = org_with_roles["organization"], org_with_roles["platform"], org_with_roles["users"]
    key, _ = key_generate(
        organization=org, team=platform, user=users["developer"], name="dev", actor=users["developer"]
    )
    viewer = client_for(users["viewer"])
    assert viewer.get(f"/o/{org.slug}/keys/").status_code == 200
    assert _mint(viewer, org, platform).status_code == 403
    assert viewer.post(f"/o/{org.slug}/keys/{key.pk}/pause/").status_code == 403
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.ACTIVE


def test_only_owner_lead_or_admin_change_a_key(org_with_roles, make_user):
    from apps.orgs.roles import Role
    from apps.orgs.services.joining import member_add

    org, platform, users = org_with_roles["organization"], org_with_roles["platform"], org_with_roles["users"]
    other_dev = make_user()
    member_add(organization=org, team=platform, user=other_dev, role=Role.DEVELOPER, actor=users["org_admin"])
    key, _ = key_generate(
        organization=org, team=platform, user=users["developer"], name="dev", actor=users["developer"]
    )
    assert client_for(other_dev).post(f"/o/{org.slug}/keys/{key.pk}/revoke/").status_code == 403
    assert client_for(users["developer"]).post(f"/o/{org.slug}/keys/{key.pk}/pause/").status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.PAUSED
    assert client_for(users["team_lead"]).post(f"/o/{org.slug}/keys/{key.pk}/resume/").status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.ACTIVE
    response = client_for(users["org_admin"]).post(f"/o/{org.slug}/keys/{key.pk}/regenerate/")
    new_secret = SECRET.search(response.content.decode()).group(0)
    assert VirtualKey.objects.get(pk=key.pk).key_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    assert client_for(users["org_admin"]).post(f"/o/{org.slug}/keys/{key.pk}/revoke/").status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.REVOKED
    # Revoked is final.
    client_for(users["org_admin"]).post(f"/o/{org.slug}/keys/{key.pk}/resume/")
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.REVOKED
    actions = set(
        AuditEvent.objects.filter(target_id=str(key.pk), action__startswith="key.").values_list("action", flat=True)
    )
    assert {"key.create", "key.pause", "key.resume", "key.regenerate", "key.revoke"} <= actions


def test_keys_of_another_org_are_404(org_with_roles, second_org):
    owner = second_org.memberships.first().user
    team = second_org.teams.get(is_default=True)
    key, _ = key_generate(organization=second_org, team=team, user=owner, name="theirs", actor=owner)
    client = client_for(org_with_roles["users"]["org_admin"])
    assert client.post(f"/o/{org_with_roles['organization'].slug}/keys/{key.pk}/revoke/").status_code == 404
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.ACTIVE


def test_key_detail_shows_totals_and_recent_ledger_rows_with_reasons(org_with_roles, second_org):
    from django.utils import timezone

    from apps.spend.models import SpendLog

    org, users = org_with_roles["organization"], org_with_roles["users"]
    developer = users["developer"]
    key, _ = key_generate(organization=org, team=org_with_roles["platform"], user=developer, name="ci", actor=developer)
    key_update_limits(key=key, actor=developer, max_budget_micros=10_000, rpm_limit=5, blocked_models=["gpt-4o"])
    quota_limits_update(holder=org_with_roles["platform"], actor=developer, max_budget_micros=5_000)
    common = {
        "organization_id": org.pk,
        "team_id": org_with_roles["platform"].pk,
        "key_id": key.pk,
        "created_at": timezone.now(),
        "model_alias": "gpt-4o-mini",
    }
    SpendLog.objects.create(
        request_id="req_ok_1", status_code=200, prompt_tokens=10, completion_tokens=5, total_tokens=15,
        cost_micros=1_500, **common,
    )  # fmt: skip
    SpendLog.objects.create(request_id="req_limited_1", status_code=429, error_code="rpm_limit", **common)
    # the same key id in another org's rows must not be counted
    SpendLog.objects.create(request_id="req_other_1", status_code=200, cost_micros=9_999_999, **{
        **common, "organization_id": second_org.pk
    })  # fmt: skip
    page = client_for(users["viewer"]).get(f"/o/{org.slug}/keys/{key.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="key-requests">2<' in html and 'id="key-spend">0.001500<' in html
    assert "req_limited_1" in html and "rpm_limit" in html and "req_other_1" not in html
    # budgets of the key and its team, with this period's spend from the ledger
    assert "Key budget (monthly): 0.001500 of 0.010000 USD" in html and 'value="15"' in html
    assert "Team budget (monthly): 0.001500 of 0.005000 USD" in html and 'value="30"' in html
    assert 'id="capped-by-team"' in html and "blocked: gpt-4o" in html
    assert client_for(second_org.memberships.first().user).get(f"/o/{org.slug}/keys/{key.pk}/").status_code == 404
    assert client_for(users["viewer"]).get(f"/o/{org.slug}/keys/999999/").status_code == 404


def test_the_django_admin_does_not_delete_keys(org_with_roles, make_user, django_capture_on_commit_callbacks):
    """A row deleted there would leave its snapshot in Redis, and /v1 would go on accepting the key: revoke."""
    org, developer = org_with_roles["organization"], org_with_roles["users"]["developer"]
    with django_capture_on_commit_callbacks(execute=True):
        key = key_generate(
            organization=org, team=org_with_roles["platform"], user=developer, name="k", actor=developer
        )[0]
    superuser = make_user()
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    answer = client_for(superuser).post(f"/admin/keys/virtualkey/{key.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 403
    assert VirtualKey.objects.filter(pk=key.pk, status=KeyStatus.ACTIVE).exists()
