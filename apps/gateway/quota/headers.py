"""What a request is told about its limits: x-ratelimit headers when admitted, the refusal when not."""

import functools
import math
from typing import NamedTuple

from apps.core.errors import HyditeError
from apps.gateway.asgi_io import Headers
from apps.gateway.errors import BudgetExceeded, InsufficientQuota, RpmLimitExceeded, TpmLimitExceeded
from apps.gateway.quota.layers import LAYER_LABEL, Dimension, Layer


class RateValues(NamedTuple):
    """The x-ratelimit values of an admission: of the layer with the fewest requests and tokens left (-1: none)."""

    requests_limit: int
    requests_remaining: int
    requests_reset_ms: int
    tokens_limit: int
    tokens_remaining: int
    tokens_reset_ms: int


@functools.lru_cache(maxsize=4096)
def reset_text(ms: int) -> str:
    """OpenAI's duration format: 20ms, 1s, 6m0s."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


def _names(kind: str) -> tuple[bytes, bytes, bytes]:
    return (
        f"x-ratelimit-limit-{kind}".encode(),
        f"x-ratelimit-remaining-{kind}".encode(),
        f"x-ratelimit-reset-{kind}".encode(),
    )


REQUESTS_HEADERS = _names("requests")
TOKENS_HEADERS = _names("tokens")


def _rate_part(names: tuple[bytes, bytes, bytes], limit: int, remaining: int, reset_ms: int) -> Headers:
    limit_name, remaining_name, reset_name = names
    return [
        (limit_name, b"%d" % limit),
        (remaining_name, b"%d" % max(remaining, 0)),
        (reset_name, reset_text(reset_ms).encode()),
    ]


def rate_headers(
    requests_limit: int,
    requests_remaining: int,
    requests_reset_ms: int,
    tokens_limit: int,
    tokens_remaining: int,
    tokens_reset_ms: int,
) -> Headers:
    """The x-ratelimit headers of RateValues (given as its six values: no tuple on the hot path)."""
    headers: Headers = []
    if requests_limit >= 0:
        headers += _rate_part(REQUESTS_HEADERS, requests_limit, requests_remaining, requests_reset_ms)
    if tokens_limit >= 0:
        headers += _rate_part(TOKENS_HEADERS, tokens_limit, tokens_remaining, tokens_reset_ms)
    return headers


def refusal(layer: Layer, dimension: Dimension, *, limit: int, reset_ms: int) -> HyditeError:
    """The error a request gets when `layer` has no room left in `dimension`."""
    if dimension is Dimension.BUDGET:
        if layer.name == "wallet":
            return InsufficientQuota()
        label = LAYER_LABEL[layer.name]
        return BudgetExceeded(f"The {label}'s budget of ${limit / 1_000_000:.2f} is used up for this period.")
    limit_name, remaining_name, reset_name = REQUESTS_HEADERS if dimension is Dimension.RPM else TOKENS_HEADERS
    headers: Headers = [
        (b"retry-after", str(max(1, math.ceil(reset_ms / 1000))).encode()),
        (limit_name, str(limit).encode()),
        (remaining_name, b"0"),
        (reset_name, reset_text(reset_ms).encode()),
        (b"x-ratelimit-layer", layer.name.encode()),
    ]
    refused = RpmLimitExceeded if dimension is Dimension.RPM else TpmLimitExceeded
    return refused(headers=headers)
