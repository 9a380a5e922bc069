"""People who leave lose access: their keys follow the organisation's leaver_key_action at once (in the
transaction of the removal, published to the gateway on commit, audited), whatever way they leave."""

import re
import threading
import uuid

import orjson
import pytest
from django.db.models import Q
from django.test import Client
from django_tenants.utils import schema_context

from apps.accounts.services import user_create
from apps.audit.models import AuditEvent
from apps.core.errors import HyditeError, PermissionDenied
from apps.core.redis import redis_client
from apps.keys.models import KeyStatus, ManagementKey, VirtualKey
from apps.keys.services import key_generate, key_regenerate, key_set_status, management_key_create
from apps.keys.snapshots import key_snapshot_key
from apps.orgs.errors import InvitationInvalid
from apps.orgs.models import LeaverKeyAction, Membership, Organization, Team
from apps.orgs.roles import Role
from apps.orgs.services import memberships
from apps.orgs.services.invitations import invitation_accept, invitation_create
from apps.orgs.services.joining import member_add
from apps.orgs.services.memberships import membership_remove, membership_set_role
from apps.orgs.services.organizations import organization_create, team_create
from tests.conftest import EDGE_HOST, client_for
from tests.html_forms import form_fields

pytestmark = pytest.mark.django_db


def _keys(org_with_roles, user, team=None) -> list[VirtualKey]:  # type: ignore[no-untyped-def]
    """An active, a paused and a revoked key of `user` (in Platform unless `team` is given)."""
    organization, team = org_with_roles["organization"], team or org_with_roles["platform"]
    keys = [
        key_generate(organization=organization, team=team, user=user, name=f"k{n}", actor=user)[0] for n in range(3)
    ]
    key_set_status(key=keys[1], status=KeyStatus.PAUSED, actor=user)
    key_set_status(key=keys[2], status=KeyStatus.REVOKED, actor=user)
    return keys


def _published(key: VirtualKey) -> dict:  # type: ignore[type-arg]
    return orjson.loads(redis_client().get(key_snapshot_key(key_hash=key.key_hash)))  # type: ignore[no-any-return]


def _org_row(organization: Organization, user) -> Membership:  # type: ignore[no-untyped-def]
    return Membership.objects.get(organization=organization, user=user, team__isnull=True)


def _admin_unticks(make_user, user, field: str):  # type: ignore[no-untyped-def]
    """A superuser saves `user` in the Django admin with `field` (is_active, is_staff) unticked; returns them."""
    superuser = make_user()
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    http = client_for(superuser)
    url = f"/admin/accounts/user/{user.pk}/change/"
    fields = form_fields(http.get(url).content.decode(), "user_form")
    fields.pop(field)
    assert http.post(url, {**fields, "_save": "Save"}).status_code == 302
    return superuser


@pytest.mark.parametrize(
    ("action", "statuses", "owners_kept", "audited"),
    [
        (LeaverKeyAction.PAUSE, ["paused", "paused", "revoked"], [True, True, True], ["key.pause"]),
        (LeaverKeyAction.REVOKE, ["revoked", "revoked", "revoked"], [True, True, True], ["key.revoke"] * 2),
        (LeaverKeyAction.KEEP, ["active", "paused", "revoked"], [False, False, True], ["key.owner_release"] * 2),
    ],
)
def test_a_removed_members_keys_follow_the_setting_at_once_published_and_audited(
    org_with_roles, django_capture_on_commit_callbacks, action, statuses, owners_kept, audited
):
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    developer = org_with_roles["users"]["developer"]
    organization.leaver_key_action = action
    organization.save(update_fields=["leaver_key_action"])
    keys = _keys(org_with_roles, developer)  # active, paused, revoked
    bystander = _keys(org_with_roles, org_with_roles["users"]["team_lead"])[0]
    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(membership=_org_row(organization, developer), actor=admin)
    for key in keys:
        key.refresh_from_db()
    assert [key.status for key in keys] == statuses
    assert [key.user_id == developer.pk for key in keys] == owners_kept
    published = _published(keys[0])  # what the gateway reads, once the removal committed
    assert (published["status"], published["user_id"]) == (keys[0].status, keys[0].user_id)
    assert VirtualKey.objects.get(pk=bystander.pk).status == KeyStatus.ACTIVE
    events = AuditEvent.objects.filter(target_type="keys.virtualkey", target_id__in=[str(k.pk) for k in keys])
    leaving = events.filter(actor=admin).order_by("pk")
    assert [event.action for event in leaving] == audited
    assert all(event.after["reason"] == "owner_left" for event in leaving)


def test_leaving_a_team_or_becoming_a_viewer_there_is_leaving_its_keys(org_with_roles, make_user):
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    developer = org_with_roles["users"]["developer"]  # developer in Platform, viewer in the organisation
    platform_key = _keys(org_with_roles, developer)[0]
    research_row = member_add(
        organization=organization, team=org_with_roles["research"], user=developer, role=Role.DEVELOPER, actor=admin
    )[0]
    research_key = _keys(org_with_roles, developer, team=org_with_roles["research"])[0]
    platform_row = Membership.objects.get(team=org_with_roles["platform"], user=developer)
    membership_remove(membership=platform_row, actor=admin)
    assert VirtualKey.objects.get(pk=platform_key.pk).status == KeyStatus.PAUSED
    assert VirtualKey.objects.get(pk=research_key.pk).status == KeyStatus.ACTIVE  # still a developer there
    membership_set_role(membership=research_row, role=Role.VIEWER, actor=admin)
    assert VirtualKey.objects.get(pk=research_key.pk).status == KeyStatus.PAUSED

    # an org admin demoted to viewer still leads the Default team: the keys there keep working
    founder = org_with_roles["users"]["org_admin"]
    default = Team.objects.get(organization=organization, is_default=True)
    kept = key_generate(organization=organization, team=default, user=founder, name="prod", actor=founder)[0]
    other_admin = make_user()
    member_add(organization=organization, team=None, user=other_admin, role=Role.ORG_ADMIN, actor=founder)
    membership_set_role(membership=_org_row(organization, founder), role=Role.VIEWER, actor=other_admin)
    assert VirtualKey.objects.get(pk=kept.pk).status == KeyStatus.ACTIVE


def test_resuming_a_leavers_paused_key_makes_it_the_teams(org_with_roles):
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    developer = org_with_roles["users"]["developer"]
    key = _keys(org_with_roles, developer)[0]
    membership_remove(membership=_org_row(organization, developer), actor=admin)
    key.refresh_from_db()
    key_set_status(key=key, status=KeyStatus.ACTIVE, actor=admin)
    key.refresh_from_db()
    assert key.status == KeyStatus.ACTIVE and key.user_id is None
    actions = AuditEvent.objects.filter(target_type="keys.virtualkey", target_id=str(key.pk), actor=admin).order_by(
        "pk"
    )
    assert [event.action for event in actions] == ["key.pause", "key.owner_release", "key.resume"]
    page = client_for(admin).get(f"/o/{organization.slug}/keys/{key.pk}/")
    assert "the team (a service-account key, no owner)" in page.content.decode()


def test_removal_on_the_teams_page_applies_the_setting_and_ends_the_dashboard_session(org_with_roles):
    organization, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    developer = org_with_roles["users"]["developer"]
    key = _keys(org_with_roles, developer)[0]
    as_developer = client_for(developer)
    pages = [f"/o/{organization.slug}/", f"/o/{organization.slug}/keys/", f"/o/{organization.slug}/keys/{key.pk}/"]
    assert [as_developer.get(page).status_code for page in pages] == [200, 200, 200]
    row = _org_row(organization, developer)
    assert client_for(admin).post(f"/o/{organization.slug}/members/{row.pk}/remove/").status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).status == KeyStatus.PAUSED
    assert [as_developer.get(page).status_code for page in pages] == [404, 404, 404]
    assert as_developer.post(f"/o/{organization.slug}/keys/{key.pk}/resume/").status_code == 404


def test_deactivating_an_account_in_the_admin_applies_every_organisations_setting(org_with_roles, make_user):
    organization = org_with_roles["organization"]
    developer = org_with_roles["users"]["developer"]
    edge_key = _keys(org_with_roles, developer)[0]
    edge_management = management_key_create(organization=organization, name="ci", actor=developer)[0]
    with schema_context("acme"):
        owner = make_user()
        dedicated = organization_create(name=f"Dedicated {uuid.uuid4().hex[:6]}", owner=owner)
        dedicated.leaver_key_action = LeaverKeyAction.REVOKE
        dedicated.save(update_fields=["leaver_key_action"])
        default = Team.objects.get(organization=dedicated, is_default=True)
        member_add(organization=dedicated, team=default, user=developer, role=Role.DEVELOPER, actor=owner)
        acme_key = key_generate(organization=dedicated, team=default, user=developer, name="k", actor=developer)[0]
    staff = _admin_unticks(make_user, developer, "is_active")
    developer.refresh_from_db()
    assert developer.is_active is False
    assert VirtualKey.objects.get(pk=edge_key.pk).status == KeyStatus.PAUSED  # the Shared Edge organisation: pause
    assert ManagementKey.objects.get(pk=edge_management.pk).revoked_at is not None
    with schema_context("acme"):
        assert VirtualKey.objects.get(pk=acme_key.pk).status == KeyStatus.REVOKED  # the Dedicated one: revoke
        assert AuditEvent.objects.filter(target_id=str(acme_key.pk), action="key.revoke", actor=staff).exists()
    assert Membership.objects.filter(user=developer).exists()  # reactivating gives the pages back, not the keys


def test_memberships_and_users_change_only_through_services(edge, make_user):
    staff = make_user()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    http = client_for(staff)
    owner = make_user()
    organization = organization_create(name=f"Admin {uuid.uuid4().hex[:6]}", owner=owner)
    row = _org_row(organization, owner)
    assert http.get(f"/admin/orgs/membership/{row.pk}/delete/").status_code == 403
    assert http.post(f"/admin/orgs/membership/{row.pk}/change/", {"role": "viewer"}).status_code == 403
    assert http.get(f"/admin/accounts/user/{owner.pk}/delete/").status_code == 403  # deactivate instead


def test_the_access_settings_page_shows_the_setting_and_org_admins_change_it(org_with_roles):
    organization, users = org_with_roles["organization"], org_with_roles["users"]
    url = f"/o/{organization.slug}/settings/access/"
    admin = client_for(users["org_admin"])
    page = admin.get(url).content.decode()
    assert 'id="leaver-key-action-form"' in page and "Pause them" in page
    saved = admin.post(f"{url}leavers/", {"leaver_key_action": "keep"}, follow=True)
    assert saved.status_code == 200 and "Keep them working" in saved.content.decode()
    organization.refresh_from_db()
    assert organization.leaver_key_action == LeaverKeyAction.KEEP
    assert admin.post(f"{url}leavers/", {"leaver_key_action": "nope"}).status_code == 400
    teams_page = admin.get(f"/o/{organization.slug}/teams/").content.decode()
    assert "When someone leaves, their keys: keep them working" in teams_page
    viewer = client_for(users["viewer"])
    shown = viewer.get(url).content.decode()
    assert "Keep them working" in shown and "leaver-key-action-form" not in shown
    assert viewer.post(f"{url}leavers/", {"leaver_key_action": "revoke"}).status_code == 403
    organization.refresh_from_db()
    assert organization.leaver_key_action == LeaverKeyAction.KEEP
    event = AuditEvent.objects.get(action="organization.update", organization_id=organization.pk)
    assert event.actor == users["org_admin"] and event.after == {"leaver_key_action": "keep"}


def test_keys_whose_secret_a_leaver_was_shown_follow_the_setting_though_someone_else_owns_them(
    org_with_roles, make_user
):
    """An org admin mints a key for a developer (/key/generate user_id), a team lead regenerates a developer's
    key on the dashboard: each saw the secret, and keeps it when they leave."""
    organization, owner = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    developer, lead = org_with_roles["users"]["developer"], org_with_roles["users"]["team_lead"]
    admin = make_user()
    member_add(organization=organization, team=None, user=admin, role=Role.ORG_ADMIN, actor=owner)
    _, secret = management_key_create(organization=organization, name="ci", actor=admin)
    minted = Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/key/generate",
        {"user_id": developer.pk, "team_id": org_with_roles["platform"].pk},
        content_type="application/json",
    )
    for_developer = VirtualKey.objects.get(pk=minted.json()["key_id"])
    regenerated, untouched = _keys(org_with_roles, developer)[0], _keys(org_with_roles, developer)[0]
    assert client_for(lead).post(f"/o/{organization.slug}/keys/{regenerated.pk}/regenerate/").status_code == 200

    membership_remove(membership=_org_row(organization, admin), actor=owner)
    membership_remove(membership=_org_row(organization, lead), actor=owner)
    statuses = VirtualKey.objects.in_bulk([for_developer.pk, regenerated.pk, untouched.pk])
    assert statuses[for_developer.pk].status == KeyStatus.PAUSED
    assert statuses[regenerated.pk].status == KeyStatus.PAUSED
    assert statuses[untouched.pk].status == KeyStatus.ACTIVE  # only the developer saw this one
    assert all(key.user_id == developer.pk for key in statuses.values())
    reasons = AuditEvent.objects.filter(action="key.pause", target_id__in=[str(for_developer.pk), str(regenerated.pk)])
    assert sorted(reasons.values_list("after__reason", flat=True)) == ["shown_to_leaver"] * 2


@pytest.mark.parametrize("change", ["deactivated", "no longer staff"])
def test_keys_staff_minted_in_organisations_they_are_not_in_follow_their_departure(org_with_roles, make_user, change):
    organization, developer = org_with_roles["organization"], org_with_roles["users"]["developer"]
    operator = make_user()
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    instance_key, secret = management_key_create(organization=None, name="automation", actor=operator)
    http = Client(HTTP_HOST=EDGE_HOST, HTTP_AUTHORIZATION=f"Bearer {secret}")
    minted = [
        http.post("/key/generate", {"organization": organization.slug, **extra}, content_type="application/json")
        for extra in ({}, {"user_id": developer.pk, "team_id": org_with_roles["platform"].pk})
    ]
    keys = [VirtualKey.objects.get(pk=answer.json()["key_id"]) for answer in minted]
    assert [key.user_id for key in keys] == [operator.pk, developer.pk]

    _admin_unticks(make_user, operator, "is_active" if change == "deactivated" else "is_staff")
    assert [VirtualKey.objects.get(pk=key.pk).status for key in keys] == [KeyStatus.PAUSED] * 2
    assert ManagementKey.objects.get(pk=instance_key.pk).revoked_at is not None
    assert http.get("/key/list", {"organization": organization.slug}).status_code == 401


def test_a_removed_member_does_not_come_back_through_an_invitation_still_pending(
    org_with_roles, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    """Pending invitations to the leaver's address, and those the leaver sent (perhaps to an address of their
    own), are revoked with the removal, audited."""
    organization, owner = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    developer, research = org_with_roles["users"]["developer"], org_with_roles["research"]
    admin, alt = make_user(), make_user()
    member_add(organization=organization, team=None, user=admin, role=Role.ORG_ADMIN, actor=owner)
    tokens = {}
    for invited, team, role, actor in (
        (developer, research, Role.TEAM_LEAD, owner),
        (alt, None, Role.ORG_ADMIN, admin),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_create(
                organization=organization,
                team=team,
                email=invited.email,
                role=role,
                actor=actor,
                accept_url_base="http://testserver/invitations",
            )
        tokens[invited.pk] = re.search(r"/invitations/([^/]+)/", mailoutbox[-1].body).group(1)
    membership_remove(membership=_org_row(organization, developer), actor=owner)
    membership_remove(membership=_org_row(organization, admin), actor=owner)
    for user in (developer, alt):
        with pytest.raises(InvitationInvalid):
            invitation_accept(token=tokens[user.pk], user=user)
    assert not Membership.objects.filter(organization=organization, user__in=[developer, alt]).exists()
    revoked = AuditEvent.objects.filter(action="invitation.revoke", organization_id=organization.pk, actor=owner)
    assert sorted(revoked.values_list("before__email", flat=True)) == sorted([developer.email, alt.email])


def _during_removal(committed, monkeypatch, organization, owner, leaver, change):  # type: ignore[no-untyped-def]
    """Run `change` (it passed its access check already) while the removal of `leaver` has looked for their keys
    and invitations but not committed; each side on its own connection. Returns its outcome or refusal."""
    scanned, proceed, outcome = threading.Event(), threading.Event(), {}
    revoke = memberships.invitations_revoke_for_leaver

    def revoke_then_wait(**kwargs):  # type: ignore[no-untyped-def]
        revoke(**kwargs)
        scanned.set()
        proceed.wait(10)

    monkeypatch.setattr(memberships, "invitations_revoke_for_leaver", revoke_then_wait)

    def run() -> None:
        try:
            outcome["done"] = change()
        except HyditeError as exc:
            outcome["refused"] = exc

    removal = threading.Thread(
        target=committed, args=(lambda: membership_remove(membership=_org_row(organization, leaver), actor=owner),)
    )
    removal.start()
    assert scanned.wait(10)
    changing = threading.Thread(target=committed, args=(run,))
    changing.start()
    changing.join(1)  # with nothing to wait for, the change commits now
    proceed.set()
    removal.join(10)
    changing.join(10)
    return outcome


def _racing_organization():  # type: ignore[no-untyped-def]
    owner, leaver, colleague = (
        user_create(email=f"{who}-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
        for who in ("owner", "leaver", "colleague")
    )
    organization = organization_create(name=f"Race {uuid.uuid4().hex[:6]}", owner=owner)
    for user in (leaver, colleague):
        member_add(organization=organization, team=None, user=user, role=Role.DEVELOPER, actor=owner)
    return organization, owner, leaver, colleague


@pytest.mark.parametrize("change", ["mint", "regenerate another's key", "resume their paused key"])
def test_a_secret_given_out_while_a_member_is_being_removed_does_not_outlive_the_removal(
    committed, monkeypatch, change
):
    """Real PostgreSQL: the change waits for the removal, then is refused (it committed an active key the
    leaver holds, after the removal had looked for their keys)."""

    def setup():  # type: ignore[no-untyped-def]
        organization, owner, leaver, colleague = _racing_organization()
        default = Team.objects.get(organization=organization, is_default=True)
        theirs = key_generate(organization=organization, team=default, user=colleague, name="c", actor=colleague)[0]
        paused = key_generate(organization=organization, team=default, user=leaver, name="p", actor=leaver)[0]
        key_set_status(key=paused, status=KeyStatus.PAUSED, actor=leaver)
        return organization, default, owner, leaver, theirs, paused

    organization, default, owner, leaver, theirs, paused = committed(setup)
    changes = {
        "mint": lambda: key_generate(organization=organization, team=default, user=leaver, name="k", actor=leaver),
        "regenerate another's key": lambda: key_regenerate(key=theirs, actor=leaver),
        "resume their paused key": lambda: key_set_status(key=paused, status=KeyStatus.ACTIVE, actor=leaver),
    }
    outcome = _during_removal(committed, monkeypatch, organization, owner, leaver, changes[change])
    held = Q(user=leaver) | Q(secret_shown_to=leaver)
    active = committed(lambda: VirtualKey.objects.filter(held, organization=organization, status="active").count())
    assert active == 0 and isinstance(outcome.get("refused"), PermissionDenied)


def test_an_invitation_accepted_while_its_invitee_is_being_removed_does_not_bring_them_back(
    committed, monkeypatch, mailoutbox
):
    def setup():  # type: ignore[no-untyped-def]
        organization, owner, leaver, _ = _racing_organization()
        research = team_create(organization=organization, name="Research", actor=owner)
        invitation_create(
            organization=organization,
            team=research,
            email=leaver.email,
            role=Role.DEVELOPER,
            actor=owner,
            accept_url_base="http://testserver/invitations",
        )
        return organization, owner, leaver

    organization, owner, leaver = committed(setup)
    token = re.search(r"/invitations/([^/]+)/", mailoutbox[-1].body).group(1)
    outcome = _during_removal(
        committed, monkeypatch, organization, owner, leaver, lambda: invitation_accept(token=token, user=leaver)
    )
    assert isinstance(outcome.get("refused"), InvitationInvalid)
    assert not committed(lambda: Membership.objects.filter(organization=organization, user=leaver).exists())
