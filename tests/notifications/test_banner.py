"""The dashboard banner of open budget alerts, and acknowledging them."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.notifications.models import AlertKind, BudgetAlert
from apps.notifications.services.alerts import BudgetHolder, budget_alert_create
from apps.quotas.limits import budget_period
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

USD = 1_000_000
HEADLINE = "Team Research has used 82 % of its monthly budget ($41.00 of $50.00)"


def _team_alert(world, *, now: dt.datetime | None = None) -> BudgetAlert:  # type: ignore[no-untyped-def]
    team = world["research"]
    holder = BudgetHolder("team", team.pk, world["organization"].pk, team.pk, team.name, None, 50 * USD, "monthly")
    period = budget_period("monthly", now or timezone.now())
    return budget_alert_create(
        holder=holder, kind=AlertKind.HARD_80, period=period, threshold=40 * USD, budget=50 * USD, spent=41 * USD
    )


def _overview(world) -> str:  # type: ignore[no-untyped-def]
    return f"/o/{world['organization'].slug}/"


def test_members_see_the_banner_on_every_page_other_organisations_do_not(org_with_roles, second_org):
    alert = _team_alert(org_with_roles)
    slug = org_with_roles["organization"].slug
    viewer = client_for(org_with_roles["users"]["viewer"])
    for path in (_overview(org_with_roles), f"/o/{slug}/keys/", f"/o/{slug}/teams/", f"/o/{slug}/health/"):
        page = viewer.get(path).content.decode()
        assert HEADLINE in page, path
        assert f"/alerts/{alert.pk}/acknowledge/" not in page  # viewers cannot acknowledge
    outsider = second_org.memberships.get(team__isnull=True).user
    assert HEADLINE not in client_for(outsider).get(f"/o/{second_org.slug}/").content.decode()
    assert client_for(outsider).get(_overview(org_with_roles)).status_code == 404


def test_an_alert_of_a_past_period_is_not_shown(org_with_roles):
    _team_alert(org_with_roles, now=timezone.now() - dt.timedelta(days=40))
    page = client_for(org_with_roles["users"]["org_admin"]).get(_overview(org_with_roles)).content.decode()
    assert "budget-alerts" not in page


def test_acknowledging_hides_the_banner_and_is_audited(org_with_roles):
    alert = _team_alert(org_with_roles)
    admin = client_for(org_with_roles["users"]["org_admin"])
    page = admin.get(_overview(org_with_roles)).content.decode()
    assert HEADLINE in page and f"/alerts/{alert.pk}/acknowledge/" in page
    slug = org_with_roles["organization"].slug
    response = admin.post(f"/o/{slug}/alerts/{alert.pk}/acknowledge/", {"next": f"/o/{slug}/keys/"})
    assert response.status_code == 302 and response["Location"] == f"/o/{slug}/keys/"
    assert HEADLINE not in admin.get(_overview(org_with_roles)).content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by == org_with_roles["users"]["org_admin"] and alert.acknowledged_at is not None
    [event] = AuditEvent.objects.filter(action="budget_alert.acknowledge", target_id=str(alert.pk))
    assert event.organization_id == org_with_roles["organization"].pk
    # an open redirect is not offered
    again = admin.post(f"/o/{slug}/alerts/{alert.pk}/acknowledge/", {"next": "https://evil.example/"})
    assert again["Location"] == f"/o/{slug}/"


def test_who_may_acknowledge(org_with_roles):
    slug = org_with_roles["organization"].slug
    alert = _team_alert(org_with_roles)  # a Research team alert
    users = org_with_roles["users"]
    for role in ("viewer", "developer", "team_lead"):  # the team lead leads Platform, not Research
        assert client_for(users[role]).post(f"/o/{slug}/alerts/{alert.pk}/acknowledge/").status_code == 403
    platform = org_with_roles["platform"]
    holder = BudgetHolder("team", platform.pk, platform.organization_id, platform.pk, "Platform", 1, None, "monthly")
    platform_alert = budget_alert_create(
        holder=holder,
        kind="soft_budget",
        period=budget_period("monthly", timezone.now()),
        threshold=1,
        budget=1,
        spent=2,
    )
    lead = client_for(users["team_lead"])
    assert f"/alerts/{platform_alert.pk}/acknowledge/" in lead.get(f"/o/{slug}/").content.decode()
    assert lead.post(f"/o/{slug}/alerts/{platform_alert.pk}/acknowledge/").status_code == 302
    assert client_for(users["org_admin"]).post(f"/o/{slug}/alerts/{alert.pk}/acknowledge/").status_code == 302
    assert not BudgetAlert.objects.filter(organization=org_with_roles["organization"], acknowledged_at=None).exists()
