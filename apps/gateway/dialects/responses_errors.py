"""Errors of the Responses dialect.

A refusal before the stream is the gateway's own OpenAI envelope (the Responses API uses the same one):
`apps.core.errors.error_json`. What this module adds: the errors of stored responses (a `previous_response_id`
or a `GET /v1/responses/{id}` naming none the gateway holds, as OpenAI words them), and the `error` object of a
`response.failed` Response, for an error that arrives once the stream has started.
"""

from collections.abc import Mapping
from typing import Any

from apps.core.errors import HyditeError

MAX_MESSAGE_CHARS = 2000  # an upstream's message is untrusted: it is not relayed at any length
UPSTREAM_ERROR = "The model provider's stream reported an error."
RATE_LIMITED = "rate_limit_exceeded"
SERVER_ERROR = "server_error"


class PreviousResponseNotFound(HyditeError):
    status, type, code = 404, "invalid_request_error", "previous_response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(f"Previous response with id '{response_id[:100]}' not found.", param="previous_response_id")


class ResponseNotFound(HyditeError):
    """GET, DELETE or input_items of a response the gateway does not hold (or the key may not see)."""

    status, type, code = 404, "invalid_request_error", "not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(f"Response with id '{response_id[:100]}' not found.")


def _is_rate_limit(error: Mapping[str, Any]) -> bool:
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):  # vLLM, SGLang: the HTTP status
        return code == 429
    names = [name for name in (code, error.get("type")) if isinstance(name, str)]
    return any("rate_limit" in name for name in names)


def response_error(error: Any) -> dict[str, str]:
    """The `error` of a failed Response for an OpenAI error object (or a provider's stray error value).

    Its code is one of those the Responses API documents for a failed response: `rate_limit_exceeded` for
    a rate limit (clients such as Codex wait and retry), `server_error` for anything else."""
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, Mapping):
        error = {}
    message = error.get("message")
    text = message[:MAX_MESSAGE_CHARS] if isinstance(message, str) and message else UPSTREAM_ERROR
    return {"code": RATE_LIMITED if _is_rate_limit(error) else SERVER_ERROR, "message": text}
