"""Code text: 25 Crockford base32 characters (125 random bits), shown in groups of five.

Comparison ignores case, spaces and dashes, and reads O as 0 and I or L as 1, so a code
copied by hand still matches; only its SHA-256 is stored.
"""

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
CODE_LENGTH = 25  # 5 bits each: 125 bits
GROUP = 5
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_IGNORED = str.maketrans("", "", " -_\t")


def code_new() -> str:
    """A fresh code in its display form (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX)."""
    return code_display("".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)))


def code_display(normalised: str) -> str:
    return "-".join(normalised[at : at + GROUP] for at in range(0, len(normalised), GROUP))


def code_normalise(text: str) -> str | None:
    """The code's canonical characters, or None when the text cannot be a code."""
    canonical = text.upper().translate(_IGNORED).translate(_READ_AS)
    if len(canonical) != CODE_LENGTH or any(char not in ALPHABET for char in canonical):
        return None
    return canonical


def code_hash(normalised: str) -> str:
    return hashlib.sha256(normalised.encode()).hexdigest()
