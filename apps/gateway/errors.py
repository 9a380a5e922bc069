"""Errors of the /v1 edge, in OpenAI's envelope."""

import orjson

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


class MethodNotAllowed(HyditeError):
    status, type, code = 405, "invalid_request_error", "method_not_allowed"


class BodyTooLarge(HyditeError):
    status, type, code = 413, "invalid_request_error", "request_too_large"


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
