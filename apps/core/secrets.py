"""Secrets at rest: Fernet encryption with rotation (MultiFernet over HYDITE_FERNET_KEYS)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.HYDITE_FERNET_KEYS])


def secret_encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured HYDITE_FERNET_KEYS") from exc


def secret_rotate(token: str) -> str:
    """Re-encrypt under the first (newest) key."""
    return _fernet().rotate(token.encode()).decode()


def secret_hint(plaintext: str) -> str:
    """What may be shown back: the last four characters."""
    return f"…{plaintext[-4:]}" if len(plaintext) > 8 else "…"
