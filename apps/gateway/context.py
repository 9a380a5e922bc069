"""What one /v1 request carries from step to step (see pipeline.py): each step fills in its own fields."""

import time
from dataclasses import dataclass, field
from typing import Any

from apps.channels.snapshots import ChannelSnapshot, DeploymentSnapshot
from apps.gateway.asgi_io import Headers, Scope
from apps.gateway.dialects.base import Dialect
from apps.gateway.quota import Admission, QuotaPlan, StreamAllowance
from apps.gateway.request_shape import RequestShape
from apps.gateway.router.outcome import Attempt
from apps.gateway.router.plan import RoutePlan
from apps.gateway.upstreams.base import ProviderAdapter, UpstreamRequest
from apps.gateway.usage import Usage
from apps.keys.snapshots import KeySnapshot
from apps.providers.prices import ModelPrice


@dataclass(slots=True)
class RequestContext:
    request_id: str
    started: float  # perf_counter at arrival
    scope: Scope
    created_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    headers: Headers = field(default_factory=list)  # what the response carries besides its content type
    client_ip: str = ""
    # authenticate
    key: KeySnapshot | None = None  # from here on, the request is in the key's ledger
    channel: ChannelSnapshot | None = None
    # parse
    dialect: Dialect | None = None  # the client's API when it is not OpenAI's (see dialects/)
    dialect_body: dict[str, Any] | None = None  # the client's body in its dialect; `body` is its OpenAI form
    path: str = ""  # the OpenAI path after /v1, e.g. "/chat/completions"
    body: dict[str, Any] = field(default_factory=dict)
    model_alias: str = ""
    stream: bool = False
    feature_id: str = ""
    # resolve
    shape: RequestShape | None = None
    route_plan: RoutePlan | None = None
    deployment: DeploymentSnapshot | None = None  # the attempt's: in the end, the one that answered
    # price
    price: ModelPrice | None = None  # the reservation's (the dearest); then the answering deployment's
    price_version: str = ""
    priced_for: int = 0  # the deployment whose price `price` is
    reserved: Usage | None = None  # the most the request can use: what an impossible report is billed at
    completion_capped: bool = False  # the upstream is told a completion limit (the client's or ours)
    completion_cap: int | None = None  # ours, when the request spends a budget and sets none
    # admit
    plan: QuotaPlan | None = None
    admission: Admission | None = None
    allowance: StreamAllowance | None = None
    extensions: list[Admission] = field(default_factory=list)  # a stream's further reservations
    # forward and relay
    attempts: list[Attempt] = field(default_factory=list)
    aliases_tried: list[str] = field(default_factory=list)  # the alias asked for, then the fallbacks tried
    adapter: ProviderAdapter | None = None
    upstream: UpstreamRequest | None = None
    passthrough: bool = False  # the attempt's deployment got the dialect's request untouched
    client_wants_usage: bool = True
    provider_started: float | None = None
    provider_finished: float | None = None
    provider_request_id: str = ""
    status_code: int = 0
    # settle and meter
    usage: Usage | None = None
    error_code: str = ""

    def fail(self, status: int, code: str) -> None:
        # A stream that already started keeps its 200 on the wire; its event records the failure.
        self.status_code = status
        self.error_code = code

    def cost_micros(self) -> int | None:
        """The request's cost (None: the model has no price). A failed request pays no per-request price."""
        if self.price is None:
            return None
        usage = self.usage or Usage()
        return self.price.cost_micros(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            requests=1 if (self.status_code or 200) < 400 else 0,
        )
