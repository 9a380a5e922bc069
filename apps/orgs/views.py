from allauth.account.adapter import get_adapter
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import HyditeError
from apps.dashboard.edge import checked, flashed, form_error, form_saved, org_page
from apps.keys.leavers import leaver_key_action_set
from apps.orgs.access import (
    OrgAccess,
    TeamAccess,
    access_invitation_by_id,
    access_membership_by_id,
    access_team_by_slug,
)
from apps.orgs.errors import InvitationInvalid
from apps.orgs.forms import (
    LeaverKeyActionForm,
    OrgInviteForm,
    OrgRoleForm,
    TeamCreateForm,
    TeamInviteForm,
    TeamRenameForm,
    TeamRoleForm,
)
from apps.orgs.models import Membership
from apps.orgs.roles import Action, Role
from apps.orgs.selectors import (
    invitation_list_pending,
    organization_member_list,
    team_list,
    team_member_list,
)
from apps.orgs.services import invitations, memberships, organizations
from apps.quotas.forms import QuotaLimitsForm
from apps.quotas.selectors import quota_usage
from apps.quotas.services import quota_limits_update


def _settings_access_page(
    request: HttpRequest, access: OrgAccess, form: LeaverKeyActionForm | None = None
) -> HttpResponse:
    organization = access.organization
    if form is None and access.can(Action.MANAGE_ORG):
        form = LeaverKeyActionForm(initial={"leaver_key_action": organization.leaver_key_action})
    context = {"organization": organization, "form": form}
    return render(request, "orgs/settings_access.html", context, status=400 if form and form.errors else 200)


@org_page()
def settings_access_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Settings → Access: what happens to the keys of people who leave (org admins change it)."""
    return _settings_access_page(request, access)


@require_POST
@org_page(Action.MANAGE_ORG)  # as leaver_key_action on POST /organization/update
def leaver_key_action_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = LeaverKeyActionForm(request.POST)
    organization = access.organization

    def save() -> None:
        leaver_key_action_set(
            organization=organization, action=form.cleaned_data["leaver_key_action"], actor=access.user
        )

    if form_saved(form, save):
        messages.success(request, "Saved: it applies to whoever leaves from now on.")
        return redirect("orgs:settings_access", org_slug=organization.slug)
    return _settings_access_page(request, access, form)


def invitation_url_base(request: HttpRequest) -> str:
    """Where invitation links point: this instance's host, as the request reached it."""
    return request.build_absolute_uri(reverse("orgs:invitation_accept", kwargs={"token": "x"})).rsplit("/x/", 1)[0]


def _team_list_page(request: HttpRequest, access: OrgAccess, **forms_: forms.Form) -> HttpResponse:
    context = {
        "teams": team_list(organization=access.organization),
        "members": organization_member_list(organization=access.organization),
        "invitations": invitation_list_pending(organization=access.organization).filter(team__isnull=True),
        "create_form": forms_.get("create_form") or TeamCreateForm(),
        "invite_form": forms_.get("invite_form") or OrgInviteForm(),
        "role_form": OrgRoleForm(),
        "can_manage": access.can(Action.MANAGE_ORG),
    }
    status = 400 if forms_ else 200
    return render(request, "orgs/team_list.html", context, status=status)


@org_page()
def team_list_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _team_list_page(request, access)


@require_POST
@org_page(Action.MANAGE_ORG)
def team_create_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = TeamCreateForm(request.POST)
    if form.is_valid():
        try:
            team = organizations.team_create(
                organization=access.organization, name=form.cleaned_data["name"], actor=access.user
            )
        except HyditeError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Team {team.name} created.")
            return redirect("orgs:team_detail", org_slug=access.organization.slug, team_slug=team.slug)
    return _team_list_page(request, access, create_form=form)


@require_POST
@org_page(Action.MANAGE_ORG)
def org_invite_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = OrgInviteForm(request.POST)
    if form.is_valid():
        try:
            invitations.invitation_create(
                organization=access.organization,
                team=None,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=access.user,
                accept_url_base=invitation_url_base(request),
            )
        except HyditeError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("orgs:team_list", org_slug=access.organization.slug)
    return _team_list_page(request, access, invite_form=form)


def _team_detail_page(request: HttpRequest, access: OrgAccess, team_slug: str, **forms_: forms.Form) -> HttpResponse:
    team_access = _team_access(access, team_slug, Action.VIEW)
    team = team_access.team
    may_set_limits = access.can(Action.MANAGE_ORG)  # as POST /team/update
    context = {
        "team": team,
        "usage": quota_usage(holder=team),
        "limits_form": forms_.get("limits_form") or (QuotaLimitsForm(holder=team) if may_set_limits else None),
        "members": team_member_list(team=team_access.team),
        "invitations": invitation_list_pending(organization=access.organization, team=team_access.team),
        "invite_form": forms_.get("invite_form") or TeamInviteForm(),
        "rename_form": forms_.get("rename_form") or TeamRenameForm(initial={"name": team_access.team.name}),
        "role_form": TeamRoleForm(),
        "can_manage_members": team_access.can(Action.MANAGE_MEMBERS),
        "can_manage_org": access.can(Action.MANAGE_ORG),
        "team_role": team_access.role,
    }
    return render(request, "orgs/team_detail.html", context, status=400 if forms_ else 200)


def _team_access(access: OrgAccess, team_slug: str, action: Action) -> TeamAccess:
    return checked(access_team_by_slug, org_access=access, slug=team_slug, action=action)


@org_page()
def team_detail_view(request: HttpRequest, access: OrgAccess, team_slug: str) -> HttpResponse:
    return _team_detail_page(request, access, team_slug)


@require_POST
@org_page()
def team_invite_view(request: HttpRequest, access: OrgAccess, team_slug: str) -> HttpResponse:
    team_access = _team_access(access, team_slug, Action.MANAGE_MEMBERS)
    form = TeamInviteForm(request.POST)
    if form.is_valid():
        try:
            invitations.invitation_create(
                organization=access.organization,
                team=team_access.team,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=access.user,
                accept_url_base=invitation_url_base(request),
            )
        except HyditeError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("orgs:team_detail", org_slug=access.organization.slug, team_slug=team_slug)
    return _team_detail_page(request, access, team_slug, invite_form=form)


@require_POST
@org_page(Action.MANAGE_ORG)
def team_rename_view(request: HttpRequest, access: OrgAccess, team_slug: str) -> HttpResponse:
    team = _team_access(access, team_slug, Action.MANAGE_ORG).team
    form = TeamRenameForm(request.POST)
    rename = organizations.team_rename
    if form_saved(form, lambda: rename(team=team, name=form.cleaned_data["name"], actor=access.user)):
        messages.success(request, "Team renamed.")
        return redirect("orgs:team_detail", org_slug=access.organization.slug, team_slug=team_slug)
    return _team_detail_page(request, access, team_slug, rename_form=form)


@require_POST
@org_page(Action.MANAGE_ORG)
def team_limits_view(request: HttpRequest, access: OrgAccess, team_slug: str) -> HttpResponse:
    """The team page's limits form: org admins only, as POST /team/update."""
    team = _team_access(access, team_slug, Action.MANAGE_ORG).team
    form = QuotaLimitsForm(request.POST, holder=team)
    if form_saved(form, lambda: quota_limits_update(holder=team, actor=access.user, **form.changes())):
        messages.success(request, "Team limits saved.")
        return redirect("orgs:team_detail", org_slug=access.organization.slug, team_slug=team_slug)
    return _team_detail_page(request, access, team_slug, limits_form=form)


@require_POST
@org_page(Action.MANAGE_ORG)
def team_delete_view(request: HttpRequest, access: OrgAccess, team_slug: str) -> HttpResponse:
    team = _team_access(access, team_slug, Action.MANAGE_ORG).team
    deleted = flashed(
        request, lambda: organizations.team_delete(team=team, actor=access.user), f"Team {team.name} deleted."
    )
    if not deleted:
        return redirect("orgs:team_detail", org_slug=access.organization.slug, team_slug=team_slug)
    return redirect("orgs:team_list", org_slug=access.organization.slug)


def _back(request: HttpRequest, access: OrgAccess, team_slug: str | None) -> HttpResponse:
    if team_slug:
        return redirect("orgs:team_detail", org_slug=access.organization.slug, team_slug=team_slug)
    return redirect("orgs:team_list", org_slug=access.organization.slug)


def _membership(access: OrgAccess, membership_id: int) -> Membership:
    return checked(access_membership_by_id, org_access=access, membership_id=membership_id)


@require_POST
@org_page()
def membership_role_view(request: HttpRequest, access: OrgAccess, membership_id: int) -> HttpResponse:
    membership = _membership(access, membership_id)
    team_slug = membership.team.slug if membership.team else None
    form = (OrgRoleForm if membership.team is None else TeamRoleForm)(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return _back(request, access, team_slug)
    role = form.cleaned_data["role"]
    flashed(
        request,
        lambda: memberships.membership_set_role(membership=membership, role=role, actor=access.user),
        f"{membership.user.email} is now {Role(role).label}.",
    )
    return _back(request, access, team_slug)


@require_POST
@org_page()
def membership_remove_view(request: HttpRequest, access: OrgAccess, membership_id: int) -> HttpResponse:
    membership = _membership(access, membership_id)
    team_slug = membership.team.slug if membership.team else None
    flashed(
        request,
        lambda: memberships.membership_remove(membership=membership, actor=access.user),
        f"{membership.user.email} removed.",
    )
    return _back(request, access, team_slug)


@require_POST
@org_page()
def invitation_revoke_view(request: HttpRequest, access: OrgAccess, invitation_id: int) -> HttpResponse:
    invitation = checked(access_invitation_by_id, org_access=access, invitation_id=invitation_id)
    invitations.invitation_revoke(invitation=invitation, actor=access.user)
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return _back(request, access, invitation.team.slug if invitation.team else None)


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitations.invitation_get_valid(token=token)
    except InvitationInvalid as exc:
        return render(request, "orgs/invitation.html", {"error": exc.message}, status=404)
    if not request.user.is_authenticated:
        # Remember the invitation: it opens sign-up on a Dedicated instance, and the link, mailed to the
        # invited address, proves that address for a sign-up with it (allauth's stash).
        request.session[invitations.INVITATION_SESSION_KEY] = token
        get_adapter(request).stash_verified_email(request, invitation.email)
        return render(request, "orgs/invitation.html", {"invitation": invitation, "next": request.path})
    if request.method == "POST":
        try:
            invitations.invitation_accept(token=token, user=request.user)
        except HyditeError as exc:
            return render(
                request, "orgs/invitation.html", {"invitation": invitation, "error": exc.message}, status=exc.status
            )
        request.session.pop(invitations.INVITATION_SESSION_KEY, None)
        messages.success(request, f"Welcome to {invitation.organization.name}.")
        return redirect("dashboard:overview", org_slug=invitation.organization.slug)
    return render(request, "orgs/invitation.html", {"invitation": invitation})
