"""The one error type every service raises; each edge maps it once.

Subclasses set ``status``, ``type`` and ``code`` at class level, the way
OpenAI's error envelope names them, so the /v1 edge and the dashboard edge
translate the same exception without a lookup table.
"""

from typing import ClassVar


class HyditeError(Exception):
    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "invalid_request"
    default_message: ClassVar[str] = "The request is invalid."

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        self.param = param
        super().__init__(self.message)


class NotFound(HyditeError):
    status, type, code = 404, "not_found_error", "not_found"
    default_message = "Not found."


class PermissionDenied(HyditeError):
    status, type, code = 403, "permission_error", "permission_denied"
    default_message = "You do not have permission to do this."


class Conflict(HyditeError):
    status, type, code = 409, "conflict_error", "conflict"
    default_message = "This conflicts with the current state."
