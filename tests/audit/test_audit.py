import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.orgs.models import Team
from tests.conftest import client_for


def test_dashboard_changes_are_audited_with_actor_and_ip(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    client = client_for(admin)
    client.post(f"/o/{org.slug}/teams/+create/", {"name": "Data"}, REMOTE_ADDR="203.0.113.9")
    client.post(f"/o/{org.slug}/teams/data/rename/", {"name": "Data Science"}, REMOTE_ADDR="203.0.113.9")
    client.post(f"/o/{org.slug}/teams/data/delete/", REMOTE_ADDR="203.0.113.9")
    events = list(
        AuditEvent.objects.filter(organization=org, action__startswith="team.", target_repr__startswith="Data")
    )
    assert [(e.action, e.before, e.after) for e in reversed(events)] == [
        ("team.create", None, {"name": "Data", "slug": "data"}),
        ("team.update", {"name": "Data"}, {"name": "Data Science"}),
        ("team.delete", {"name": "Data Science", "slug": "data"}, None),
    ]
    assert {(e.actor_id, e.actor_email, e.ip) for e in events} == {(admin.pk, admin.email, "203.0.113.9")}
    assert not Team.objects.filter(organization=org, slug="data").exists()


def test_audit_events_are_append_only_in_the_database(org_with_roles):
    event = AuditEvent.objects.filter(organization=org_with_roles["organization"]).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def _event_rows(response) -> str:
    page = response.content.decode()
    return page.split('<table id="audit-events">', 1)[1].split("</table>", 1)[0]


def test_audit_log_page_filters(org_with_roles):
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    client = client_for(admin)
    client.post(f"/o/{org.slug}/teams/+create/", {"name": "Ops"})
    rows = _event_rows(client.get(f"/o/{org.slug}/audit/", {"action": "team.create"}))
    assert "Ops" in rows and "membership.create" not in rows
    rows = _event_rows(client.get(f"/o/{org.slug}/audit/", {"actor": org_with_roles["users"]["viewer"].email}))
    assert "No events match." in rows
    today = timezone.now().date().isoformat()
    rows = _event_rows(client.get(f"/o/{org.slug}/audit/", {"since": today, "until": today, "action": "membership"}))
    assert "membership.create" in rows and "team.create" not in rows
    rows = _event_rows(client.get(f"/o/{org.slug}/audit/", {"until": "2000-01-01"}))
    assert "No events match." in rows
    response = client.get(f"/o/{org.slug}/audit/", {"since": "2030-01-02", "until": "2030-01-01"})
    assert response.status_code == 400
    assert client.get(f"/o/{org.slug}/audit/", {"since": "not-a-date"}).status_code == 400
    assert client.get(f"/o/{org.slug}/audit/", {"until": "9999-12-31"}).status_code == 400


def test_audit_log_shows_only_own_organisation(org_with_roles, second_org):
    client = client_for(org_with_roles["users"]["org_admin"])
    page = client.get(f"/o/{org_with_roles['organization'].slug}/audit/").content.decode()
    assert second_org.name not in page
