"""Errors of the /v1 edge, in OpenAI's envelope."""

import orjson

from apps.core.errors import HyditeError

Headers = list[tuple[bytes, bytes]]


class InvalidApiKey(HyditeError):
    status, type, code = 401, "invalid_request_error", "invalid_api_key"
    default_message = "Incorrect API key provided. Find your keys on the API Keys page."


class KeyPaused(HyditeError):
    status, type, code = 401, "invalid_request_error", "key_paused"
    default_message = "This key is paused. Resume it on the API Keys page."


class ModelNotFound(HyditeError):
    status, type, code = 404, "invalid_request_error", "model_not_found"


class RouteNotFound(HyditeError):
    status, type, code = 404, "invalid_request_error", "unknown_url"


class UnknownHost(HyditeError):
    status, type, code = 404, "invalid_request_error", "unknown_host"


class MethodNotAllowed(HyditeError):
    status, type, code = 405, "invalid_request_error", "method_not_allowed"


class BodyTooLarge(HyditeError):
    status, type, code = 413, "invalid_request_error", "request_too_large"


class ModelNotAllowed(HyditeError):
    status, type, code = 403, "invalid_request_error", "model_not_allowed"


class IpNotAllowed(HyditeError):
    status, type, code = 403, "invalid_request_error", "ip_not_allowed"


class KeyExpired(HyditeError):
    status, type, code = 401, "invalid_request_error", "key_expired"
    default_message = "This key has expired."


class QuotaExceeded(HyditeError):
    """A 429 with the headers clients use to back off."""

    status, type, code = 429, "rate_limit_error", "rate_limit"

    def __init__(self, message: str, *, code: str, type_: str, headers: Headers) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # per instance: rpm_limit, tpm_limit, budget_exceeded
        self.type = type_  # type: ignore[misc]
        self.headers = headers


class InsufficientQuota(HyditeError):
    """A prepaid organisation's balance (and plan quota) cannot cover the request: OpenAI's answer, word for word."""

    status, type, code = 429, "insufficient_quota", "insufficient_quota"
    default_message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "Top up on the Credit Codes page or subscribe on the Plans page."
    )
    headers: Headers = []


class QuotaUnavailable(HyditeError):
    status, type, code = 503, "api_error", "quota_unavailable"
    default_message = "Quota counters are unreachable; the gateway refuses requests it cannot meter. Retry shortly."


class InvalidParameter(HyditeError):
    """A parameter OpenAI would refuse, with OpenAI's own code (invalid_type, decimal_above_max_value, …)."""

    status, type, code = 400, "invalid_request_error", "invalid_value"

    def __init__(self, message: str, *, param: str | None, code: str | None) -> None:
        super().__init__(message, param=param)
        self.code = code or "invalid_value"  # type: ignore[misc]  # per instance, as OpenAI names it


class UpstreamUsageInvalid(HyditeError):
    """The provider reported usage no request could have: the answer is not trusted, the request is billed
    at its reservation."""

    status, type, code = 502, "api_error", "upstream_usage_invalid"
    default_message = "The model provider reported impossible token usage; the answer was withheld."


class UpstreamTimeout(HyditeError):
    status, type, code = 504, "timeout_error", "upstream_timeout"
    default_message = "The model provider did not answer in time."


class UpstreamUnavailable(HyditeError):
    status, type, code = 502, "api_error", "upstream_unavailable"
    default_message = "The model provider could not be reached."


class UpstreamNotAllowed(HyditeError):
    status, type, code = 502, "api_error", "upstream_not_allowed"
    default_message = "The deployment's address is not allowed by the operator."


class UpstreamNotSupported(HyditeError):
    status, type, code = 501, "api_error", "provider_not_supported"


class GatewayServerError(HyditeError):
    status, type, code = 500, "server_error", "internal_error"
    default_message = "The gateway had an error processing your request."


def error_body(exc: HyditeError) -> bytes:
    return orjson.dumps({"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}})
