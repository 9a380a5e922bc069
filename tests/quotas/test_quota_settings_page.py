"""Settings → Quotas: the organisation's limits and usage; the Shared Edge gateway defaults (operators only)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.redis import redis_client
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate, key_update_limits
from apps.keys.snapshots import key_snapshot_key
from apps.orgs.models import Organization
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create
from apps.quotas.models import GatewayDefaultsSetting
from apps.quotas.services import gateway_defaults_reset, quota_limits_update
from apps.spend.models import SpendLog
from tests.conftest import ACME_HOST, client_for, redis_unreachable
from tests.html_forms import form_fields


def _url(organization: Organization, tail: str = "") -> str:
    return f"/o/{organization.slug}/settings/quotas/{tail}"


def _key(organization: Organization) -> VirtualKey:
    owner = organization.memberships.filter(role=Role.ORG_ADMIN).first().user
    team = organization.teams.get(is_default=True)
    return key_generate(organization=organization, team=team, user=owner, name="k", actor=owner)[0]


def _snapshot(key: VirtualKey) -> dict:  # type: ignore[type-arg]
    return orjson.loads(redis_client().get(key_snapshot_key(key_hash=key.key_hash)))


def test_org_admin_sets_the_organisation_s_limits_and_its_keys_follow(
    org_with_roles, django_capture_on_commit_callbacks
):
    org = org_with_roles["organization"]
    key = _key(org)
    client = client_for(org_with_roles["users"]["org_admin"])
    page = client.get(_url(org))
    assert page.status_code == 200 and "coming" not in page.content.decode()
    fields = form_fields(page.content.decode(), "org-limits-form")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url(org, "limits/"), {**fields, "tpm_limit": "90000", "max_budget": "100", "budget_duration": "daily"}
        )
    assert response.status_code == 302 and response["Location"] == _url(org)
    org.refresh_from_db()
    assert (org.tpm_limit, org.max_budget_micros, org.budget_duration) == (90_000, 100_000_000, "daily")
    assert _snapshot(key)["limits"]["org"] == {"tpm": 90_000, "budget": 100_000_000, "period": "daily"}
    assert AuditEvent.objects.filter(organization=org, action="organization.limits_update").exists()


def test_the_page_shows_the_organisation_s_budget_bar(org_with_roles):
    org, users = org_with_roles["organization"], org_with_roles["users"]
    client = client_for(users["org_admin"])
    fields = form_fields(client.get(_url(org)).content.decode(), "org-limits-form")
    client.post(_url(org, "limits/"), {**fields, "max_budget": "0.01"})
    SpendLog.objects.create(
        request_id=f"req_{uuid.uuid4().hex[:8]}",
        organization_id=org.pk,
        cost_micros=2_500,
        created_at=timezone.now(),
        status_code=200,
        model_alias="m",
    )
    page = client_for(users["viewer"]).get(_url(org)).content.decode()
    assert "Organisation budget (monthly): 0.002500 of 0.010000 USD" in page and 'value="25"' in page
    assert 'id="org-limits-form"' not in page and 'id="gateway-defaults-form"' not in page


def test_only_org_admins_change_the_organisation_s_limits(org_with_roles, make_user):
    org, users = org_with_roles["organization"], org_with_roles["users"]
    for role in ("team_lead", "developer", "viewer"):
        assert client_for(users[role]).post(_url(org, "limits/"), {"rpm_limit": "1"}).status_code == 403, role
    assert client_for(make_user()).get(_url(org)).status_code == 404  # not a member
    assert client_for(make_user()).post(_url(org, "limits/"), {"rpm_limit": "1"}).status_code == 404
    org.refresh_from_db()
    assert org.rpm_limit is None


def test_bad_organisation_limits_re_render_with_the_error(org_with_roles):
    org = org_with_roles["organization"]
    client = client_for(org_with_roles["users"]["org_admin"])
    fields = form_fields(client.get(_url(org)).content.decode(), "org-limits-form")
    response = client.post(_url(org, "limits/"), {**fields, "soft_budget": "-0.5", "rpm_limit": "7"})
    assert response.status_code == 400
    assert response.context["limits_form"].errors == {
        "soft_budget": ["Ensure this value is greater than or equal to 0."]
    }
    org.refresh_from_db()
    assert (org.soft_budget_micros, org.rpm_limit) == (None, None)


def _operator(organization: Organization, make_user):  # type: ignore[no-untyped-def]
    """A staff user (an operator of the instance) who is a member of `organization`."""
    user = make_user()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    admin = organization.memberships.filter(role=Role.ORG_ADMIN).first().user
    member_add(organization=organization, team=None, user=user, role=Role.VIEWER, actor=admin)
    return user


@contextmanager
def _reset_afterwards(capture) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Saved defaults reach every key snapshot of the Shared Edge, the live tests' keys too: always undo them."""
    try:
        yield
    finally:
        with capture(execute=True):
            gateway_defaults_reset(actor=None)


def test_an_operator_sets_gateway_defaults_that_every_key_snapshot_carries(
    org_with_roles, make_user, settings, django_capture_on_commit_callbacks
):
    settings.GATEWAY_DEFAULT_RPM, settings.GATEWAY_DEFAULT_TPM = 60, 1_000_000
    org = org_with_roles["organization"]
    operator, key = _operator(org, make_user), _key(org)
    client = client_for(operator)
    page = client.get(_url(org)).content.decode()
    assert "the environment (GATEWAY_DEFAULT_RPM, GATEWAY_DEFAULT_TPM)" in page
    fields = form_fields(page, "gateway-defaults-form")
    assert {name: fields[name] for name in ("key_rpm", "key_tpm", "ip_rpm", "ip_tpm")} == {
        "key_rpm": "60",
        "key_tpm": "1000000",
        "ip_rpm": "60",
        "ip_tpm": "1000000",
    }
    with _reset_afterwards(django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            saved = client.post(_url(org, "gateway/"), {"key_rpm": "2", "key_tpm": "", "ip_rpm": "0", "ip_tpm": "5000"})
        assert saved.status_code == 302
        row = GatewayDefaultsSetting.objects.get()
        assert (row.key_rpm, row.key_tpm, row.ip_rpm, row.ip_tpm) == (2, None, None, 5000)  # 0 and blank: off
        expected = {"key_rpm": 2, "key_tpm": None, "ip_rpm": None, "ip_tpm": 5000}
        assert _snapshot(key)["gateway_defaults"] == expected
        event = AuditEvent.objects.get(action="gateway.defaults_update", actor=operator)
        assert event.organization_id is None and event.after == expected
        assert event.before is None  # nothing was saved before: the environment applied
        page = client.get(_url(org)).content.decode()
        assert 'id="gateway-defaults-reset"' in page and "saved here" in page

        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(_url(org, "gateway/reset/")).status_code == 302
        assert not GatewayDefaultsSetting.objects.exists()
        assert "gateway_defaults" not in _snapshot(key)
        assert AuditEvent.objects.get(action="gateway.defaults_reset", actor=operator).before == expected


def test_gateway_defaults_are_for_operators_only(org_with_roles, django_capture_on_commit_callbacks):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    client = client_for(admin)  # an org admin, not an operator of the instance
    with _reset_afterwards(django_capture_on_commit_callbacks):
        assert 'id="gateway-defaults-form"' not in client.get(_url(org)).content.decode()
        assert client.post(_url(org, "gateway/"), {"key_rpm": "1"}).status_code == 403
        assert client.post(_url(org, "gateway/reset/")).status_code == 403
        assert not GatewayDefaultsSetting.objects.exists()


def test_a_dedicated_instance_has_no_gateway_layer(acme, make_user):
    owner = make_user()
    organization = organization_create(name=f"Acme {uuid.uuid4().hex[:6]}", owner=owner)
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    client = client_for(owner, host=ACME_HOST)
    page = client.get(_url(organization))
    assert page.status_code == 200 and 'id="gateway-defaults-form"' not in page.content.decode()
    assert client.post(_url(organization, "gateway/"), {"key_rpm": "1"}).status_code == 404
    assert not GatewayDefaultsSetting.objects.exists()


@pytest.mark.parametrize(
    ("typed", "message"), [("-1", "Ensure this value is greater than or equal to 0."), ("x", "Enter a whole number.")]
)
def test_bad_gateway_defaults_re_render_with_the_error(org_with_roles, make_user, typed, message):
    org = org_with_roles["organization"]
    client = client_for(_operator(org, make_user))
    response = client.post(_url(org, "gateway/"), {"key_rpm": "5", "ip_rpm": typed})
    assert response.status_code == 400
    assert response.context["defaults_form"].errors == {"ip_rpm": [message]}
    assert not GatewayDefaultsSetting.objects.exists()


def test_pages_say_usage_unavailable_when_redis_is_down(org_with_roles, settings):
    org, users = org_with_roles["organization"], org_with_roles["users"]
    key = _key(org)
    key_update_limits(key=key, actor=users["org_admin"], rpm_limit=10, max_budget_micros=1_000)
    team = key.team
    quota_limits_update(holder=team, actor=users["org_admin"], rpm_limit=5)
    client = client_for(users["viewer"])
    with redis_unreachable(settings):
        for url in (f"/o/{org.slug}/keys/{key.pk}/", f"/o/{org.slug}/teams/{team.slug}/"):
            response = client.get(url)
            html = response.content.decode()
            assert response.status_code == 200, url
            assert "usage unavailable" in html and 'class="rate"' not in html
        assert (
            "Key budget (monthly): 0.000000 of 0.001000 USD"
            in client.get(f"/o/{org.slug}/keys/{key.pk}/").content.decode()
        )
