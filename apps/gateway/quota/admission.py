"""What an admission holds, and what moves it to the request's real usage once that is known."""

from dataclasses import dataclass, field

from apps.gateway.asgi_io import Headers
from apps.gateway.quota.plans import QuotaPlan


@dataclass
class Admission:
    """What the script granted; settled once the real usage is known."""

    request_id: str
    tokens: int
    micros: int
    requests: int = 1
    headers: Headers = field(default_factory=list)
    second: int = 0
    held: bool = False  # something is reserved in Redis, to be settled
    plan: QuotaPlan | None = None  # set when admitted ahead of Redis: it is charged, then corrected


@dataclass(frozen=True)
class Settlement:
    """A request's real usage, to replace what its admission (of `second`) reserved (the settle script's item)."""

    request_id: str
    second: int
    tokens: int
    micros: int


@dataclass(frozen=True)
class Correction:
    """A request admitted ahead of Redis: its real usage, to correct its plan's charge with (`Quotas.correct`)
    once its spend event is written, so that what it cost is always in the ledger's stream or in a charge."""

    admission: Admission
    tokens: int
    micros: int


def settlement(admission: Admission, *, tokens: int, micros: int) -> Settlement | Correction:
    """What moves the admission's reservation to the real usage: a Settlement to send in batches
    (`settle_call`), or for an admission made ahead of Redis a Correction (`Quotas.correct`). Usage is never
    negative: no settlement moves a counter below what the requests before it spent."""
    tokens, micros = max(0, tokens), max(0, micros)
    if admission.plan is not None:
        return Correction(admission, tokens, micros)
    return Settlement(admission.request_id, admission.second, tokens, micros)
