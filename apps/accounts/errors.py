from apps.core.errors import HyditeError, PermissionDenied


class EmailNotVerified(PermissionDenied):
    code = "email_not_verified"
    default_message = (
        "This account has not confirmed its email address yet: it must open the confirmation link we mailed "
        "(log in to get a new one) or accept an invitation."
    )


class LoginThrottled(HyditeError):
    status, type, code = 429, "rate_limit_error", "login_throttled"

    def __init__(self, *, wait_s: int) -> None:
        unit = "second" if wait_s == 1 else "seconds"
        super().__init__(f"Too many failed log-ins from your address: try again in {wait_s} {unit}.")
        self.wait_s = wait_s


class LoginUnavailable(LoginThrottled):
    """The throttle's counters cannot be read (Redis is unreachable): no password is checked blind."""

    status, type, code = 503, "api_error", "login_unavailable"

    def __init__(self) -> None:
        HyditeError.__init__(self, "Signing in is unavailable for a moment: try again in a minute.")
        self.wait_s = 60
