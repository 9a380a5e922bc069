from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from apps.accounts.selectors import user_email_verified


class VerifiedEmailMiddleware:
    """A session whose user has not confirmed their address ends at the next request.

    allauth never logs such a user in (ACCOUNT_EMAIL_VERIFICATION is mandatory), but sessions from before
    that, or from /admin/login/, would otherwise go on spending, redeeming and minting keys. Logging in again
    mails a fresh confirmation link.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not user_email_verified(user=user):
            logout(request)
            messages.warning(request, "Confirm your email address first: log in to get a new confirmation link.")
        return self.get_response(request)
