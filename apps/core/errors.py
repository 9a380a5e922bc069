"""The one error type every service raises; each edge maps it once.

Subclasses set ``status``, ``type`` and ``code`` at class level, the way
OpenAI's error envelope names them, so the /v1 edge, the management API and
the dashboard translate the same exception without a lookup table. One
refusal, one class: nothing is overwritten per instance.
"""

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

Header = tuple[bytes, bytes]


class HyditeError(Exception):
    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "invalid_request"
    default_message: ClassVar[str] = "The request is invalid."

    def __init__(self, message: str | None = None, *, param: str | None = None, headers: Sequence[Header] = ()) -> None:
        self.message = message or self.default_message
        self.param = param
        self.headers: tuple[Header, ...] = tuple(headers)  # e.g. retry-after and x-ratelimit-* of a 429
        super().__init__(self.message)


def envelope(message: str, error_type: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """The one error shape of every JSON surface: OpenAI's {"error": {message, type, param, code}}."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_envelope(exc: HyditeError) -> dict[str, Any]:
    return envelope(exc.message, exc.type, exc.code, exc.param)


def error_json(exc: HyditeError) -> bytes:
    return orjson.dumps(error_envelope(exc))


def error_sse_event(exc: HyditeError) -> bytes:
    """The same error as the last events of a stream whose 200 is already sent."""
    return b"data: " + error_json(exc) + b"\n\ndata: [DONE]\n\n"


class NotFound(HyditeError):
    status, type, code = 404, "not_found_error", "not_found"
    default_message = "Not found."


class PermissionDenied(HyditeError):
    status, type, code = 403, "permission_error", "permission_denied"
    default_message = "You do not have permission to do this."


class Conflict(HyditeError):
    status, type, code = 409, "conflict_error", "conflict"
    default_message = "This conflicts with the current state."
