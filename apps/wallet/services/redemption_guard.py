"""Failed redemptions counted per user and per client IP, checked and counted atomically.

Counting a failure after the code was looked up lets a burst of guesses be evaluated before the first
one is counted. So each attempt first reserves a slot in Redis, in one script call: it is evaluated only
while failures + attempts in flight stay below every limit. A wrong code turns its slot into a failure,
anything else frees it. An attempt that finds the slots full but the limit not reached yet waits (a
bounded time) for the attempts in flight to end, rather than being refused for failures that may not
happen: a correct code is held back only as long as the rules need to know whether it is locked.

A slot is a member of a sorted set scored by its expiry, so a process that dies mid-attempt frees it
after LEASE_MS. Times are Redis's own clock. Without Redis no attempt is evaluated (RedemptionUnavailable);
Redis lost after an attempt was evaluated leaves its slot to expire, and the outcome stands.
"""

import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from apps.accounts.models import User
from apps.core.client_ip import client_network
from apps.core.redis import redis_client, tenant_key
from apps.core.schemas import current_schema
from apps.wallet.errors import RedemptionBusy, RedemptionLocked, RedemptionUnavailable

logger = logging.getLogger(__name__)

LEASE_MS = 30_000  # far longer than one evaluation; only a crashed attempt's slot lives this long
WAIT_S = 5.0  # the longest an attempt waits for slots held by attempts in flight
POLL_S = (0.01, 0.2)  # first and longest pause between two tries while waiting

# KEYS: (failures, in-flight set) per scope; ARGV: token, lease ms, each scope's limit.
# Returns {1} reserved, {0} full (wait), {-1, ms left of the lockout} locked.
RESERVE_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local full = false
for i = 1, #KEYS, 2 do
  local limit = tonumber(ARGV[2 + (i + 1) / 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  local failures = tonumber(redis.call('GET', KEYS[i]) or '0')
  if failures >= limit then return {-1, redis.call('PTTL', KEYS[i])} end
  if failures + redis.call('ZCARD', KEYS[i + 1]) >= limit then full = true end
end
if full then return {0} end
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i + 1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
end
return {1}
"""

# KEYS: as above; ARGV: token, 1 to count a failure (0 to free the slot only), lockout seconds.
SETTLE_LUA = """
for i = 1, #KEYS, 2 do
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
  if ARGV[2] == '1' then
    redis.call('INCR', KEYS[i])
    redis.call('EXPIRE', KEYS[i], ARGV[3], 'NX')
  end
end
return 1
"""


@dataclass(frozen=True)
class Reservation:
    keys: list[str]
    token: str


class RedemptionGuard:
    """Past the limit of failures (per user, per client IP: an IPv6 client's /64) both are locked for
    REDEEM_LOCKOUT_S."""

    def __init__(self, *, user: User, client_ip: str | None) -> None:
        schema = current_schema()
        scopes: list[tuple[str, str | int, int]] = [("user", user.pk, settings.REDEEM_MAX_FAILURES_PER_USER)]
        if client_ip:
            scopes.append(("ip", client_network(client_ip), settings.REDEEM_MAX_FAILURES_PER_IP))
        self.keys: list[str] = []
        self.limits: list[int] = []
        for kind, who, limit in scopes:
            self.keys += [tenant_key(schema, "redeem", state, kind, who) for state in ("failed", "trying")]
            self.limits.append(limit)

    def reserve(self) -> Reservation:
        """A slot for one attempt; RedemptionLocked past the limit, RedemptionBusy if slots stay full."""
        client = redis_client()
        script = client.register_script(RESERVE_LUA)
        token = secrets.token_hex(8)
        deadline, pause = time.monotonic() + WAIT_S, POLL_S[0]
        while True:
            try:
                outcome = script(keys=self.keys, args=[token, LEASE_MS, *self.limits])
            except (RedisError, OSError) as exc:
                logger.warning("code redemption refused: Redis unreachable (%s)", exc)
                raise RedemptionUnavailable() from exc
            if outcome[0] == 1:
                return Reservation(keys=self.keys, token=token)
            if outcome[0] == -1:
                ms_left = int(outcome[1]) if int(outcome[1]) > 0 else settings.REDEEM_LOCKOUT_S * 1000
                minutes = max(1, -(-ms_left // 60_000))
                raise RedemptionLocked(f"Too many failed attempts. Try again in {minutes} minute(s).")
            if time.monotonic() + pause > deadline:
                raise RedemptionBusy()
            time.sleep(pause)
            pause = min(pause * 2, POLL_S[1])

    def settle(self, reservation: Reservation, *, failed: bool) -> None:
        """End an attempt: a failure is counted (the lockout window starts at the first), or the slot is freed."""
        script = redis_client().register_script(SETTLE_LUA)
        try:
            script(keys=reservation.keys, args=[reservation.token, int(failed), settings.REDEEM_LOCKOUT_S])
        except (RedisError, OSError) as exc:  # the slot expires after LEASE_MS; a failure goes uncounted
            logger.warning("code redemption attempt not settled: Redis unreachable (%s)", exc)
