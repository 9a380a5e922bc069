"""Errors in Anthropic's envelope: `{"type": "error", "error": {"type", "message"}, "request_id"}`.

The gateway's errors are OpenAI error objects (message, type, param, code) with an HTTP status; an Anthropic
client reads the error's `type` from its status, as Anthropic documents them (docs "Errors"). Statuses keep
their value: 529 (Anthropic's "overloaded") stays 529 when an upstream said it, a gateway 503 stays 503.
"""

from collections.abc import Mapping
from typing import Any

import orjson

from apps.core.errors import HyditeError, error_envelope

TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# A stream's error event carries no status: its OpenAI `type` (or `code`) says what it was.
TYPE_FOR_OPENAI_TYPE = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "insufficient_quota": "rate_limit_error",
    "budget_exceeded": "rate_limit_error",
    "overloaded_error": "overloaded_error",
    "overloaded": "overloaded_error",
    "timeout_error": "timeout_error",
    "request_too_large": "request_too_large",
}
MAX_MESSAGE_CHARS = 2000  # an upstream's message is untrusted: it is not relayed at any length


def error_type_for_status(status: int) -> str:
    if status in TYPE_FOR_STATUS:
        return TYPE_FOR_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def _message(error: Mapping[str, Any]) -> str:
    message = error.get("message")
    if isinstance(message, str) and message:
        return message[:MAX_MESSAGE_CHARS]
    return "The request failed."


def _envelope(error_type: str, message: str, request_id: str | None) -> bytes:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return orjson.dumps(body)


def anthropic_error(status: int, error: Mapping[str, Any], *, request_id: str | None = None) -> tuple[int, bytes]:
    """The status and body an Anthropic client gets for an OpenAI error object answered with `status`."""
    return status, _envelope(error_type_for_status(status), _message(error), request_id)


def error_type_for_event(error: Mapping[str, Any], status: int | None = None) -> str:
    """The Anthropic type of an error that arrived without a status (in a stream), or with one."""
    if status is not None:
        return error_type_for_status(status)
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:  # vLLM, SGLang: the status
        return error_type_for_status(code)
    for name in (code, error.get("type")):
        if isinstance(name, str) and name in TYPE_FOR_OPENAI_TYPE:
            return TYPE_FOR_OPENAI_TYPE[name]
    return "api_error"


def anthropic_error_event(error: Mapping[str, Any], *, status: int | None = None) -> bytes:
    """The error as the last event of an Anthropic stream whose 200 is already sent."""
    body = _envelope(error_type_for_event(error, status), _message(error), None)
    return b"event: error\ndata: " + body + b"\n\n"


def hydite_error(exc: HyditeError, *, request_id: str | None = None) -> tuple[int, bytes]:
    """A gateway refusal (raised before or instead of the upstream call) in Anthropic's envelope."""
    return anthropic_error(exc.status, error_envelope(exc)["error"], request_id=request_id)


def hydite_error_event(exc: HyditeError) -> bytes:
    """A gateway refusal during a stream (a quota cut, a broken upstream) as Anthropic's error event."""
    return anthropic_error_event(error_envelope(exc)["error"], status=exc.status)
