from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from apps.accounts.errors import LoginThrottled
from apps.accounts.models import User
from apps.accounts.selectors import user_email_verified
from apps.audit.context import client_ip
from apps.orgs.services import invitation_pending_for_session, organization_personal_ensure
from apps.tenancy.models import InstanceKind


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up rules per instance kind.

    The Shared Edge is open for self-serve sign-up and gives every new user a personal organisation once
    they confirm their address (never before: an unconfirmed address proves nothing). A Dedicated instance
    admits only people holding an invitation to it. An invitation link proves its address, so signing up
    with the invited address needs no second confirmation.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        instance = getattr(request, "tenant", None)
        if instance is None:
            return False
        if instance.kind == InstanceKind.SHARED:
            return True
        return invitation_pending_for_session(session=request.session) is not None

    @transaction.atomic
    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            self._personal_organization_ensure(request, email_address.user)
        return confirmed

    def post_login(self, request: HttpRequest, user: User, *, signup: bool, **kwargs: Any) -> HttpResponse:
        if signup and user_email_verified(user=user):  # signed up with an invitation's address
            self._personal_organization_ensure(request, user)
        return super().post_login(request, user, signup=signup, **kwargs)

    def _personal_organization_ensure(self, request: HttpRequest, user: User) -> None:
        instance = getattr(request, "tenant", None)
        if instance is not None and instance.kind == InstanceKind.SHARED:
            organization_personal_ensure(owner=user)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> User | None:
        try:
            return super().authenticate(request, **credentials)
        except LoginThrottled as exc:
            raise ValidationError(exc.message, code=exc.code) from exc

    def get_client_ip(self, request: HttpRequest) -> str:
        """allauth's own limits (sign-ups, mails) see the address our rule gives, not a proxy's."""
        return client_ip() or super().get_client_ip(request)
