"""Errors of the /v1 edge, in OpenAI's envelope."""

from apps.core.errors import HyditeError


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


class RateLimitExceeded(HyditeError):
    """A 429 of a rate window; its headers say when to retry (retry-after, x-ratelimit-*)."""

    status, type, code = 429, "rate_limit_error", "rate_limit"
    default_message = "Rate limit exceeded"


class RpmLimitExceeded(RateLimitExceeded):
    code = "rpm_limit"


class TpmLimitExceeded(RateLimitExceeded):
    code = "tpm_limit"


class BudgetExceeded(HyditeError):
    status, type, code = 429, "budget_exceeded", "budget_exceeded"
    default_message = "The budget is used up for this period."


class InsufficientQuota(HyditeError):
    """A prepaid organisation's balance (and plan quota) cannot cover the request: OpenAI's answer, word for word."""

    status, type, code = 429, "insufficient_quota", "insufficient_quota"
    default_message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "Top up on the Credit Codes page or subscribe on the Plans page."
    )


class QuotaUnavailable(HyditeError):
    status, type, code = 503, "api_error", "quota_unavailable"
    default_message = "Quota counters are unreachable; the gateway refuses requests it cannot meter. Retry shortly."


class InvalidParameter(HyditeError):
    """A parameter OpenAI would refuse; each subclass carries OpenAI's own code for it."""

    status, type, code = 400, "invalid_request_error", "invalid_value"


class InvalidParameterType(InvalidParameter):
    code = "invalid_type"


class MissingParameter(InvalidParameter):
    code = "missing_required_parameter"


class EmptyArray(InvalidParameter):
    code = "empty_array"


class ArrayAboveMaxLength(InvalidParameter):
    code = "array_above_max_length"


class IntegerBelowMin(InvalidParameter):
    code = "integer_below_min_value"


class IntegerAboveMax(InvalidParameter):
    code = "integer_above_max_value"


class DecimalBelowMin(InvalidParameter):
    code = "decimal_below_min_value"


class DecimalAboveMax(InvalidParameter):
    code = "decimal_above_max_value"


class InvalidRequest(HyditeError):
    """A /v1 body the gateway cannot take: not JSON, not an object, no model, or not sendable to the provider."""

    status, type, code = 400, "invalid_request_error", "invalid_request"


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


class UpstreamStreamBroken(HyditeError):
    status, type, code = 502, "api_error", "upstream_stream_error"
    default_message = "The model provider's stream broke."


class NoDeploymentForTags(HyditeError):
    status, type, code = 400, "invalid_request_error", "no_deployment_for_tags"


class DeploymentsUnavailable(HyditeError):
    """Every deployment the request could go to is cooling down or at its provider caps."""

    status, type, code = 503, "api_error", "deployments_unavailable"
