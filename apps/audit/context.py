"""Who is acting and from where, for the duration of one request.

Services record audit events without every signature growing an ``ip``
argument: the audit middleware sets the client address for the request and
audit_record reads it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_client_ip: ContextVar[str | None] = ContextVar("audit_client_ip", default=None)


def client_ip() -> str | None:
    return _client_ip.get()


@contextmanager
def audit_client_ip(ip: str | None) -> Iterator[None]:
    token = _client_ip.set(ip)
    try:
        yield
    finally:
        _client_ip.reset(token)
