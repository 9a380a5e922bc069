"""What one /v1 request did, gathered as it runs and turned into one spend event at the end."""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.gateway.asgi_io import Scope, header
from apps.gateway.errors import UpstreamUsageInvalid
from apps.gateway.quota import Admission
from apps.gateway.usage import ImpossibleUsage, Usage, usage_check
from apps.providers.prices import ModelPrice, override_in_force, price_sheet

logger = logging.getLogger("hydite.gateway.usage")


@dataclass
class RequestRecord:
    request_id: str
    started: float
    key: dict[str, Any] | None = None
    model_alias: str = ""
    deployment: dict[str, Any] | None = None
    stream: bool = False
    usage: Usage | None = None
    status_code: int = 0
    error_code: str = ""
    provider_started: float | None = None
    provider_finished: float | None = None
    admission: Admission | None = None
    extensions: list[Admission] = field(default_factory=list)  # a stream's further reservations
    reserved: Usage | None = None  # the most the request can use: what an impossible report is billed at
    completion_capped: bool = False  # the upstream was told a completion limit (the client's or ours)
    images: int = 0
    created_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    feature_id: str = ""
    provider_request_id: str = ""
    _price: tuple[Any, tuple[ModelPrice | None, str]] | None = field(default=None, repr=False)

    def fail(self, status: int, code: str) -> None:
        # A stream that already started keeps its 200 on the wire; its event records the failure.
        self.status_code = status
        self.error_code = code

    @staticmethod
    def estimate(*, prompt_tokens: int, completion_tokens: int) -> Usage:
        return Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, estimated=True)

    def usage_checked(self, usage: Usage | None) -> Usage | None:
        """`usage` as reported, if a provider could have reported it for this request; ImpossibleUsage if not."""
        if usage is not None and self.reserved is not None:
            usage_check(
                usage,
                prompt_bound=self.reserved.prompt_tokens,
                completion_bound=self.reserved.completion_tokens if self.completion_capped else None,
                images=self.images,
            )
        return usage

    def bill_reservation(self, problem: ImpossibleUsage) -> None:
        """An impossible report is an upstream error billed at the request's reservation, flagged for operators."""
        self.usage = self.reserved or Usage(estimated=True)
        self.fail(UpstreamUsageInvalid.status, UpstreamUsageInvalid.code)
        provider = f"{self.deployment['provider']}/{self.deployment['upstream_model']}" if self.deployment else ""
        logger.warning(
            "impossible usage from %s, billed at the reservation (request_id=%s): %s",
            provider,
            self.request_id,
            problem,
        )

    def price(self) -> tuple[ModelPrice | None, str]:
        """The deployment's price (the sheet in force, or a staff override) and the version to record;
        worked out once per request (admission, stream blocks, settlement and the event all ask)."""
        if self._price is None or self._price[0] is not self.deployment:
            self._price = (self.deployment, deployment_price(self.deployment, at_ms=self.created_at_ms))
        return self._price[1]

    def cost_micros(self) -> int | None:
        """The request's cost (None: the model has no price). A failed request pays no per-request price."""
        price, _ = self.price()
        if price is None:
            return None
        usage = self.usage or Usage()
        return price.cost_micros(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            requests=1 if (self.status_code or 200) < 400 else 0,
        )

    def event(self) -> dict[str, Any]:
        assert self.key is not None  # noqa: S101 - only called for authenticated requests
        finished = time.perf_counter()
        usage = self.usage or Usage()
        upstream_model = self.deployment["upstream_model"] if self.deployment else ""
        _, price_version = self.price()
        cost = self.cost_micros()
        provider_ms = 0.0
        if self.provider_started is not None and self.provider_finished is not None:
            provider_ms = (self.provider_finished - self.provider_started) * 1000
        total_ms = (finished - self.started) * 1000
        return {
            "request_id": self.request_id,
            "created_at_ms": self.created_at_ms,
            "schema": self.key["schema"],
            "organization_id": self.key["organization_id"],
            "team_id": self.key["team_id"],
            "user_id": self.key["user_id"],
            "key_id": self.key["id"],
            "channel_id": self.key["channel_id"],
            "model_alias": self.model_alias,
            "model_resolved": upstream_model,
            "provider": self.deployment["provider"] if self.deployment else "",
            "provider_request_id": self.provider_request_id,
            "feature_id": self.feature_id,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cached_tokens": usage.cached_tokens,
            "usage_estimated": usage.estimated,
            "cost_micros": cost or 0,
            "priced": cost is not None or usage.total_tokens == 0,
            "price_version": price_version,
            "latency_gateway_ms": max(0, round(total_ms - provider_ms)),
            "latency_provider_ms": round(provider_ms),
            "status_code": self.status_code or 200,
            "error_code": self.error_code,
            "stream": self.stream,
            "cache_hit": False,
            "saved_micros": 0,
            "fallback_used": False,
            "fallback_chain": [f"{self.deployment['provider']}/{upstream_model}"] if self.deployment else [],
        }


# The response headers carrying the provider's own id of a request: OpenAI and the OpenAI-compatible
# servers, Anthropic, Azure OpenAI. Finance matches the ledger against provider invoices with it.
PROVIDER_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id")
PROVIDER_REQUEST_ID_MAX = 128
FEATURE_ID_MAX = 100


def provider_request_id(headers: Mapping[str, str]) -> str:
    for name in PROVIDER_REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return _printable(value)[:PROVIDER_REQUEST_ID_MAX]
    return ""


def feature_id(scope: Scope) -> str:
    """The caller's X-Feature-Id (which product surface spent the tokens), cut to what the ledger keeps."""
    raw = header(scope, b"x-feature-id")
    return _printable(raw.decode("latin-1"))[:FEATURE_ID_MAX] if raw else ""


def _printable(value: str) -> str:
    return "".join(char for char in value.strip() if char.isprintable())


def deployment_price(deployment: Mapping[str, Any] | None, *, at_ms: int) -> tuple[ModelPrice | None, str]:
    """A deployment's price at a moment: its upstream model on the sheet in force, or the staff override
    in force for it (carried in the channel snapshot); and the price version a ledger row records."""
    sheet = price_sheet()
    if deployment is None:
        return None, sheet.version
    override = override_in_force(deployment.get("price_overrides"), at_ms=at_ms)
    return sheet.price(deployment["upstream_model"], override), sheet.version_with(override)
