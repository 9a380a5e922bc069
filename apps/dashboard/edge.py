"""How dashboard views reach an organisation and turn service errors into pages."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from apps.core.errors import HyditeError, NotFound, PermissionDenied
from apps.orgs.access import OrgAccess, access_organization_by_slug
from apps.orgs.roles import Action

OrgView = Callable[..., HttpResponseBase]  # a page, or a file download
T = TypeVar("T")


def checked(access_check: Callable[..., T], **kwargs: Any) -> T:
    """Run an access_* check, turning its errors into Django's 404 and 403."""
    try:
        return access_check(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc


def org_page(action: Action = Action.VIEW) -> Callable[[OrgView], Callable[..., HttpResponseBase]]:
    """Log-in required; resolves /o/<org_slug>/ through the permission layer.

    The view receives the OrgAccess; a non-member gets 404, a member whose
    role is too low gets 403.
    """

    def decorator(view: OrgView) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, org_slug: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            access = checked(access_organization_by_slug, user=request.user, slug=org_slug, action=action)
            request.org_access = access  # type: ignore[attr-defined]  # read by the navigation
            return view(request, access, *args, **kwargs)

        return wrapper

    return decorator


def current_org_access(request: HttpRequest) -> OrgAccess | None:
    return getattr(request, "org_access", None)


def form_error(form: forms.Form, exc: HyditeError) -> None:
    """Show a service error on the form field it names (its `param`), or on the whole form."""
    field = exc.param if exc.param in form.fields else None
    form.add_error(field, exc.message)


def form_saved(form: forms.Form, save: Callable[[], object]) -> bool:
    """Validate `form`, then run `save` (one service call); a service error lands on the form. True if saved."""
    if not form.is_valid():
        return False
    try:
        save()
    except HyditeError as exc:
        form_error(form, exc)
        return False
    return True


def flashed(request: HttpRequest, run: Callable[[], object], success: str) -> bool:
    """Run one service call for a button; its error, or `success`, shows on the next page. True if it ran."""
    try:
        run()
    except HyditeError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True
