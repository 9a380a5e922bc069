from typing import Any
from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from apps.accounts.errors import LoginThrottled
from apps.accounts.models import User
from apps.accounts.selectors import user_email_verified
from apps.accounts.services import user_password_discard
from apps.audit.context import client_ip
from apps.orgs.services.invitations import invitation_pending_for_session
from apps.orgs.services.organizations import organization_personal_ensure
from apps.tenancy.models import InstanceKind

# In the session that gave an account's password while its address was unconfirmed: that account and a hash
# of that password (Django's session hash), so a password changed since does not count.
PENDING_ACCOUNT_SESSION_KEY = "accounts_pending_account"


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up rules per instance kind, and who an account belongs to once its address is confirmed.

    The Shared Edge is open for self-serve sign-up and gives every new user a personal organisation once
    they confirm their address (never before: an unconfirmed address proves nothing). A Dedicated instance
    admits only people holding an invitation to it. An invitation link proves its address, so signing up
    with the invited address needs no second confirmation.

    Anyone can sign up with someone else's address and a password of their own (a pre-hijack), so a first
    confirmation hands the account to whoever opened the link: it keeps its password only when opened in a
    browser session that gave that password (signing up, or logging in); anywhere else the password is
    discarded, ending every other session, and the person who opened the link is logged in to choose one.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        instance = getattr(request, "tenant", None)
        if instance is None:
            return False
        if instance.kind == InstanceKind.SHARED:
            return True
        return invitation_pending_for_session(session=request.session) is not None

    def respond_email_verification_sent(self, request: HttpRequest, user: User | None) -> HttpResponseBase:
        """allauth halts a sign-up or log-in here, after the password was given; remember which one."""
        if user is not None:  # None: a sign-up with a taken address (allauth's enumeration prevention)
            request.session[PENDING_ACCOUNT_SESSION_KEY] = {"user": user.pk, "hash": user.get_session_auth_hash()}
        return super().respond_email_verification_sent(request, user)

    @transaction.atomic
    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        user = email_address.user
        claimed_elsewhere = not user_email_verified(user=user) and not _password_given_in_session(request, user)
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            if claimed_elsewhere:
                self._hand_to_mailbox_owner(request, user)
            self._personal_organization_ensure(request, user)
        return confirmed

    def _hand_to_mailbox_owner(self, request: HttpRequest, user: User) -> None:
        user_password_discard(user=user)
        if user.is_active:
            self.login(request, user)  # with the new session hash: this session is the one left
            messages.warning(
                request,
                "Your address is confirmed. This account was not signed up in this browser, so its password "
                "no longer works and its other sessions have ended: choose a password now.",
            )

    def get_email_verification_redirect_url(self, email_address: EmailAddress) -> str:
        user = self.request.user
        if user.is_authenticated and user.pk == email_address.user_id and not user.has_usable_password():
            query = urlencode({"next": resolve_url(settings.LOGIN_REDIRECT_URL)})
            return f"{reverse('account_set_password')}?{query}"
        return super().get_email_verification_redirect_url(email_address)

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


def _password_given_in_session(request: HttpRequest, user: User) -> bool:
    given = request.session.get(PENDING_ACCOUNT_SESSION_KEY)
    if not isinstance(given, dict) or given.get("user") != user.pk:
        return False
    del request.session[PENDING_ACCOUNT_SESSION_KEY]
    return user.has_usable_password() and constant_time_compare(str(given.get("hash")), user.get_session_auth_hash())
