"""The wait before another attempt: full jitter within the exponential bound, the provider's Retry-After
when the same deployment is tried again, and none when it asks for longer than the policy allows."""

from apps.channels.router_config import DEFAULT_POLICY, Backoff, RouterPolicy
from apps.gateway.router.attempts import backoff_s
from apps.gateway.router.failures import Failure, FailureKind

POLICY = RouterPolicy(**{**DEFAULT_POLICY, "backoff": Backoff(base_ms=100, max_ms=1000), "retry_after_max_s": 5.0})


def test_full_jitter_stays_within_the_exponential_bound():
    for failures, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (40, 1.0)):
        waits = [backoff_s(POLICY, failures=failures, last=None) for _ in range(2000)]
        assert all(wait is not None and 0 <= wait <= ceiling for wait in waits)
        assert max(w for w in waits if w is not None) > ceiling * 0.9  # jitter spans the range
        assert min(w for w in waits if w is not None) < ceiling * 0.1


def test_retry_after_is_honoured_up_to_the_cap():
    asked = Failure(FailureKind.TRANSIENT, "429", 429, retry_after_s=2.5)
    assert all(backoff_s(POLICY, failures=1, last=asked) == 2.5 for _ in range(100))
    too_long = Failure(FailureKind.TRANSIENT, "429", 429, retry_after_s=30)
    assert backoff_s(POLICY, failures=1, last=too_long) is None
