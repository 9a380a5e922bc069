"""A channel's router, as the gateway reads it from the channel's snapshot: per alias, the resolved policy
(strategy, retries, backoff, cooldown) and its fallback chains; per deployment, its tags, caps and timeouts.

Written by the Channels page and the routing YAML's `router:` block (validated in apps.channels.routing_yaml),
resolved here into plain values so the gateway merges nothing on a request.
"""

from typing import Literal, TypedDict

Strategy = Literal["weighted", "latency", "cost", "least-busy", "usage", "sticky"]
STRATEGIES: tuple[Strategy, ...] = ("weighted", "latency", "cost", "least-busy", "usage", "sticky")


class Timeouts(TypedDict):
    """Seconds: to connect, to the first byte of the answer, between two chunks of a stream, in all
    (None: the process's GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S / GATEWAY_UPSTREAM_TIMEOUT_S)."""

    connect_s: float | None
    first_byte_s: float | None
    idle_s: float | None
    total_s: float | None


TIMEOUT_NAMES = ("connect_s", "first_byte_s", "idle_s", "total_s")  # Timeouts' keys, in order


class Backoff(TypedDict):
    """Full jitter: attempt n waits a random time in [0, min(max_ms, base_ms * 2**n))."""

    base_ms: int
    max_ms: int


class Cooldown(TypedDict):
    """A deployment failing `failures` times within `window_s` (or answering 429) rests `seconds`, then
    one probe request decides whether traffic returns."""

    failures: int
    window_s: int
    seconds: int


class RouterPolicy(TypedDict):
    strategy: Strategy
    retries: int  # further attempts after the first, across the alias's deployments and its fallbacks
    backoff: Backoff
    retry_after_max_s: float  # a provider's Retry-After is honoured up to this; longer: the next deployment
    cooldown: Cooldown


class HeaderRule(TypedDict):
    """A request whose `header` equals `equals` (case-insensitive) goes to deployments tagged with any of `tags`."""

    header: str
    equals: str
    tags: list[str]


class RouterSnapshot(TypedDict):
    default: RouterPolicy  # aliases without a policy of their own
    aliases: dict[str, RouterPolicy]  # resolved: the default with the alias's own settings over it
    fallbacks: dict[str, list[str]]  # alias -> aliases tried in order when every deployment failed
    context_window_fallbacks: dict[str, list[str]]  # on a context-length error
    content_policy_fallbacks: dict[str, list[str]]  # on a content-policy refusal
    tags: list[str]  # the channel's requested tags: its requests go to deployments with any of them
    rules: list[HeaderRule]


NO_TIMEOUTS = Timeouts(connect_s=None, first_byte_s=None, idle_s=None, total_s=None)
DEFAULT_POLICY = RouterPolicy(
    strategy="weighted",
    retries=2,
    backoff=Backoff(base_ms=200, max_ms=5_000),
    retry_after_max_s=20.0,
    cooldown=Cooldown(failures=3, window_s=60, seconds=30),
)


def default_router() -> RouterSnapshot:
    return RouterSnapshot(
        default=DEFAULT_POLICY,
        aliases={},
        fallbacks={},
        context_window_fallbacks={},
        content_policy_fallbacks={},
        tags=[],
        rules=[],
    )
