"""What each attempt of a request did, as its ledger row and response headers tell it."""

from dataclasses import dataclass
from typing import Any

from apps.core.errors import Header


@dataclass(slots=True)
class Attempt:
    deployment_id: int
    alias: str
    provider: str
    model: str
    outcome: str = "ok"  # "ok", or why it failed: "503", "timeout", "connect", "context_length", …
    status: int = 0  # the provider's status (0: no answer)
    ms: int = 0
    billed: bool = False  # the provider answered and then failed: it may have billed what it sent

    def record(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "alias": self.alias,
            "provider": f"{self.provider}/{self.model}",
            "outcome": self.outcome,
            "status": self.status,
            "ms": self.ms,
            "billed": self.billed,
        }


def route_headers(attempts: list[Attempt], aliases_tried: list[str]) -> list[Header]:
    """Where the request went: the model of the deployment that answered (or failed last), and its
    attempt_headers."""
    last = attempts[-1]
    resolved = (b"x-gateway-model-resolved", f"{last.provider}/{last.model}".encode("latin-1", "replace"))
    return [resolved, *attempt_headers(attempts, aliases_tried)]


def attempt_headers(attempts: list[Attempt], aliases_tried: list[str]) -> list[Header]:
    """The deployment that answered (or failed last), how many attempts it took, and the fallback alias when
    it was not the one asked for: what an error the gateway answers after attempts carries too."""
    last = attempts[-1]
    headers = [
        (b"x-hydite-deployment", str(last.deployment_id).encode()),
        (b"x-hydite-attempts", str(len(attempts)).encode()),
    ]
    if last.alias != aliases_tried[0]:  # not when every fallback was skipped (cooling down): the first failed last
        headers.append((b"x-hydite-fallback", last.alias.encode("latin-1", "replace")))
    return headers
