from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction
from django.http import HttpRequest

from apps.accounts.models import User
from apps.orgs.services import invitation_pending_for_session, organization_create_personal
from apps.tenancy.models import InstanceKind


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up rules per instance kind.

    The Shared Edge is open for self-serve sign-up and gives every new user a
    personal organisation. A Dedicated instance admits only people holding an
    invitation to it.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        instance = getattr(request, "tenant", None)
        if instance is None:
            return False
        if instance.kind == InstanceKind.SHARED:
            return True
        return invitation_pending_for_session(session=request.session) is not None

    @transaction.atomic
    def save_user(self, request: HttpRequest, user: User, form: Any, commit: bool = True) -> User:
        # One transaction: a user never exists without the organisation sign-up promised.
        user = super().save_user(request, user, form, commit=commit)
        instance = getattr(request, "tenant", None)
        if commit and instance is not None and instance.kind == InstanceKind.SHARED:
            organization_create_personal(owner=user)
        return user
