from apps.core.errors import HyditeError


class InvalidAmount(HyditeError):
    code = "invalid_amount"


class InvalidBatch(HyditeError):
    code = "invalid_batch"


class RedemptionFailed(HyditeError):
    """A code that cannot be redeemed; `reason` names why, for the audit log and the failure counter."""

    status, code = 400, "code_not_redeemable"
    reason = "unknown"


class CodeUnknown(RedemptionFailed):
    code, reason = "code_unknown", "unknown"
    default_message = "This code does not exist. Check it for typos: codes are 25 letters and digits."


class CodeWrongPage(RedemptionFailed):
    code, reason = "code_wrong_kind", "wrong_kind"


class CodeExpired(RedemptionFailed):
    code, reason = "code_expired", "expired"
    default_message = "This code has expired."


class CodeDisabled(RedemptionFailed):
    code, reason = "code_disabled", "disabled"
    default_message = "This code has been disabled by the issuer."


class CodeUsed(RedemptionFailed):
    code, reason = "code_used", "used"
    default_message = "This code has already been redeemed."


class RedemptionLocked(HyditeError):
    status, type, code = 429, "rate_limit_error", "redemption_locked"
    reason = "locked"


class RedemptionBusy(HyditeError):
    """Earlier attempts still being checked hold every attempt the limits allow; none failed enough to lock."""

    status, type, code = 429, "rate_limit_error", "redemption_busy"
    reason = "busy"
    default_message = "Other attempts to redeem a code are still being checked. Try again in a few seconds."


class RedemptionUnavailable(HyditeError):
    """Redis, which counts the attempts, cannot be reached: no code is looked up uncounted."""

    status, type, code = 503, "api_error", "redemption_unavailable"
    reason = "unavailable"
    default_message = "Codes cannot be redeemed for a moment. Try again in a minute."


class InvalidPlan(HyditeError):
    code = "invalid_plan"


class SubscriptionConflict(HyditeError):
    status, type, code = 409, "conflict_error", "subscription_conflict"
