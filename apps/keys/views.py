from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import HyditeError
from apps.dashboard.edge import checked, form_saved, org_page
from apps.keys import services
from apps.keys.access import access_key_by_id, key_change_allowed, teams_where_user_may_mint
from apps.keys.forms import KeyCreateForm, KeyLimitsForm, KeyRenameForm, key_create_form
from apps.keys.models import KeyStatus, VirtualKey
from apps.keys.selectors import key_activity, key_list_with_spend
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action
from apps.quotas.selectors import quota_usage


def _page(
    request: HttpRequest,
    access: OrgAccess,
    *,
    form: KeyCreateForm | None = None,
    new_secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "rows": key_list_with_spend(organization=access.organization),
        "form": form or key_create_form(access),
        "new_secret": new_secret,
        "can_mint": bool(teams_where_user_may_mint(org_access=access)),
        "rename_form": KeyRenameForm(),
    }
    response = render(request, "keys/key_list.html", context, status=status)
    if new_secret:
        response["Cache-Control"] = "no-store"  # the one page that shows a key in clear
    return response


@org_page()
def key_list_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _page(request, access)


def _detail_page(
    request: HttpRequest, access: OrgAccess, key: VirtualKey, *, limits_form: KeyLimitsForm | None = None
) -> HttpResponse:
    team_budget = key.team.max_budget_micros
    may_change = key.status != KeyStatus.REVOKED and key_change_allowed(org_access=access, key=key)
    context = {
        "key": key,
        "activity": key_activity(key=key),
        "usage": quota_usage(holder=key),
        "capped_by_team": key.max_budget_micros is not None
        and team_budget is not None
        and key.max_budget_micros > team_budget,
        "limits_form": limits_form or (KeyLimitsForm(holder=key) if may_change else None),
    }
    return render(request, "keys/key_detail.html", context, status=400 if limits_form else 200)


@org_page()
def key_detail_view(request: HttpRequest, access: OrgAccess, key_id: int) -> HttpResponse:
    return _detail_page(request, access, checked(access_key_by_id, org_access=access, key_id=key_id))


@require_POST
@org_page()
def key_limits_view(request: HttpRequest, access: OrgAccess, key_id: int) -> HttpResponse:
    """The limits form of the key page; the same permission and validation as POST /key/update."""
    key = checked(access_key_by_id, org_access=access, key_id=key_id, action=Action.USE)
    form = KeyLimitsForm(request.POST, holder=key)
    if form_saved(form, lambda: services.key_update_limits(key=key, actor=access.user, **form.changes())):
        messages.success(request, "Limits saved.")
        return redirect("keys:key_detail", org_slug=access.organization.slug, key_id=key.pk)
    return _detail_page(request, access, key, limits_form=form)


@require_POST
@org_page()
def key_create_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    if not teams_where_user_may_mint(org_access=access):
        raise DjangoPermissionDenied("Minting a key needs the developer role in a team.")
    form = key_create_form(access, request.POST)
    if not form.is_valid():
        return _page(request, access, form=form, status=400)
    try:
        _, secret = services.key_generate(
            organization=access.organization,
            team=form.cleaned_data["team"],
            user=access.user,
            channel=form.cleaned_data["channel"],
            name=form.cleaned_data["name"],
            actor=access.user,
        )
    except HyditeError as exc:
        form.add_error(None, exc.message)
        return _page(request, access, form=form, status=400)
    # The clear text is rendered in this response only; it is stored nowhere.
    return _page(request, access, new_secret=secret)


def _key_action(request: HttpRequest, access: OrgAccess, key_id: int, operation: str) -> HttpResponse:
    key = checked(access_key_by_id, org_access=access, key_id=key_id, action=Action.USE)
    try:
        if operation == "regenerate":
            _, secret = services.key_regenerate(key=key, actor=access.user)
            return _page(request, access, new_secret=secret)
        if operation == "rename":
            form = KeyRenameForm(request.POST)
            if not form.is_valid():
                messages.error(request, "A key needs a name of at most 100 characters.")
                return redirect("keys:key_list", org_slug=access.organization.slug)
            services.key_rename(key=key, name=form.cleaned_data["name"], actor=access.user)
        else:
            status = {"pause": KeyStatus.PAUSED, "resume": KeyStatus.ACTIVE, "revoke": KeyStatus.REVOKED}[operation]
            services.key_set_status(key=key, status=status, actor=access.user)
    except HyditeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Key {key.name}: {operation} done.")
    return redirect("keys:key_list", org_slug=access.organization.slug)


def key_action_view(operation: str) -> Callable[..., HttpResponseBase]:
    @require_POST
    @org_page()
    def view(request: HttpRequest, access: OrgAccess, key_id: int) -> HttpResponse:
        return _key_action(request, access, key_id, operation)

    view.__name__ = f"key_{operation}_view"
    return view
