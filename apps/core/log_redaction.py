"""Secrets never reach a log: a logging filter that redacts keys and tokens in every record.

URLs carry secrets (LiteLLM's `GET /key/info?key=sk-…`, a client's `?api_key=`, an e-mail confirmation link,
an invitation link), and access logs, Django's request warnings and tracebacks print URLs. Access logs print
queries as sent: a secret percent-encoded there (`?k%65y=%73%6B…`, which Django decodes) is found in the
decoded text, and the line is logged decoded with it redacted. The filter sits on every handler of
LOGGING (hydite/settings/__init__.py), which also carries uvicorn's and Celery's loggers; it imports nothing of
Django, so any process can load it before Django is set up.
"""

import logging
import re
from typing import Any
from urllib.parse import unquote

REDACTED = "[redacted]"

_DASH = r"(?:-|%2[dD])"
# sk-hydite-…, sk-hydite-admin-… and other providers' sk-… keys, also with percent-encoded dashes.
_API_KEY = re.compile(rf"(?<![A-Za-z0-9])(sk{_DASH}(?:hydite{_DASH}(?:admin{_DASH})?)?)[A-Za-z0-9_%\-]{{8,}}")
# The value of a query (or form) parameter whose name says it is a secret: key, api_key, token, client_secret…
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;\s])[\w.\-\[\]]*?(?:key|token|secret|password|passwd|signature|sig|auth|authorization"
    r"|credentials?)=)[^&;\s#\"']+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/\-]+=*")
# One-time links: allauth's /accounts/confirm-email/<key>/, /accounts/password/reset/key/<key>/, and
# /invitations/<token>/ (it proves the invited address at sign-up and joins the organisation; the dashboard's
# /o/<org>/invitations/<id>/revoke/ holds a number).
_ONE_TIME_PATH = re.compile(r"(/(?:accounts/(?:confirm-email|password/reset/key)|invitations)/)(?!\d+/)[^/?#\s\"']+")


def _redact_plain(text: str) -> str:
    for pattern in (_API_KEY, _SECRET_PARAMETER, _BEARER, _ONE_TIME_PATH):
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


def redact(text: str) -> str:
    text = _redact_plain(text)
    if "%" in text:
        decoded = unquote(text)
        cleaned = _redact_plain(decoded)
        if cleaned != decoded:  # a secret was written percent-encoded
            return cleaned
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    shown = str(value)
    cleaned = redact(shown)
    return value if cleaned == shown else cleaned


class RedactSecrets(logging.Filter):
    """Redacts the message, its arguments (kept in place: uvicorn's access formatter reads them by position),
    the traceback and the stack of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {name: _redacted(value) for name, value in record.args.items()}
        elif record.args:
            record.args = tuple(_redacted(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
