from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.http import HttpRequest

from apps.accounts.login_throttle import login_attempt_reserve, login_attempt_succeeded
from apps.accounts.models import User
from apps.audit.context import client_ip


class ThrottledAuthenticationBackend(AuthenticationBackend):
    """allauth's backend (email, any case), with every password check behind the login throttle.

    The one backend, so both login pages (allauth's and the Django admin's) and re-authentication go through
    it. A waiting (account, address) raises LoginThrottled out of `authenticate()`; each login form turns it
    into its error message.
    """

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> User | None:
        account = credentials.get("email") or credentials.get("username") or ""
        if not account or not credentials.get("password"):
            return None
        address = client_ip() or "unknown"  # the audit middleware's rule: trusted proxies only
        login_attempt_reserve(account=account, client_ip=address)
        user = super().authenticate(request, **credentials)
        if user is not None:
            login_attempt_succeeded(account=account, client_ip=address)
        return user
