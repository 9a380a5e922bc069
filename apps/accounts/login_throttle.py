"""Password guessing meets growing waits, counted per (account, client address) and per client address.

Every attempt first takes a slot in one Lua script: while the pair or the address is waiting the attempt is
refused and the password is not checked; otherwise the attempt counts as a failure at once, so concurrent
guesses cannot all pass one check. A success then gives the slot back (the pair starts again, the address
drops the one failure). Past LOGIN_THROTTLE_FREE_FAILURES failures of a pair (LOGIN_THROTTLE_IP_FREE_FAILURES
of an address, across accounts) each further failure makes the next attempt wait
LOGIN_THROTTLE_BASE_DELAY_S, doubling up to LOGIN_THROTTLE_MAX_DELAY_S; counts are forgotten
LOGIN_THROTTLE_FORGET_S after the last failure.

Nothing is counted per account alone: whoever guesses from other addresses never refuses the owner's right
password at theirs (a guesser with many addresses is slowed per address; strong passwords are enforced at
sign-up). The account is the typed address, lower-cased, so unknown accounts behave like real ones; the
address is an IPv6 client's whole /64 (apps.core.client_ip.client_network).

Keys are global, not per instance: users live in the public schema and log in on any instance's host, so
moving to another host must not give a guesser a fresh allowance.
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from redis.exceptions import RedisError

from apps.accounts.errors import LoginThrottled, LoginUnavailable
from apps.core.client_ip import client_network
from apps.core.redis import global_key, redis_client

logger = logging.getLogger(__name__)

# KEYS: the pair's hash, the address's hash (fields n = failures, until = epoch ms of the next attempt).
# ARGV: now_ms, free failures of the pair, of the address, base delay ms, max delay ms, forget after s.
# Returns 0 (the attempt may check the password, counted as a failure) or the ms left to wait.
_RESERVE = """
local now = tonumber(ARGV[1])
local wait = 0
for _, key in ipairs(KEYS) do
  local left = tonumber(redis.call('HGET', key, 'until') or '0') - now
  if left > wait then wait = left end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local failures = redis.call('HINCRBY', key, 'n', 1)
  local free = tonumber(ARGV[i + 1])
  if failures >= free then
    local delay = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ (failures - free))
    redis.call('HSET', key, 'until', math.floor(now + delay))
  end
  redis.call('EXPIRE', key, ARGV[6])
end
return 0
"""

# KEYS: the pair's hash, the address's hash. ARGV: free failures of the address.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local failures = redis.call('HINCRBY', KEYS[2], 'n', -1)
  if failures < tonumber(ARGV[1]) then redis.call('HDEL', KEYS[2], 'until') end
end
return 0
"""


def clock_ms() -> int:
    return int(time.time() * 1000)


def _keys(*, account: str, client_ip: str) -> list[str]:
    digest = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
    client = client_network(client_ip)
    return [global_key("login", "pair", digest, client), global_key("login", "ip", client)]


def login_attempt_reserve(*, account: str, client_ip: str) -> None:
    """Take a slot for one password check by `account` from `client_ip`, or raise LoginThrottled (LoginUnavailable
    while Redis cannot count: a guesser must not get unlimited checks from an outage)."""
    try:
        wait_ms = _reserve(account=account, client_ip=client_ip)
    except (RedisError, OSError) as exc:
        logger.warning("log-in refused unchecked: the throttle's counters are unreachable (%s)", exc)
        raise LoginUnavailable() from exc
    if wait_ms > 0:
        logger.warning("log-in refused unchecked: %s from %s waits %d ms", account, client_ip, wait_ms)
        raise LoginThrottled(wait_s=max(1, math.ceil(wait_ms / 1000)))


def _reserve(*, account: str, client_ip: str) -> int:
    return int(
        redis_client().eval(
            _RESERVE,
            2,
            *_keys(account=account, client_ip=client_ip),
            clock_ms(),
            settings.LOGIN_THROTTLE_FREE_FAILURES,
            settings.LOGIN_THROTTLE_IP_FREE_FAILURES,
            int(settings.LOGIN_THROTTLE_BASE_DELAY_S * 1000),
            int(settings.LOGIN_THROTTLE_MAX_DELAY_S * 1000),
            settings.LOGIN_THROTTLE_FORGET_S,
        )
    )


def login_attempt_succeeded(*, account: str, client_ip: str) -> None:
    """The reserved check found the right password: the pair starts again, the address forgets one failure."""
    try:
        redis_client().eval(
            _SUCCEEDED, 2, *_keys(account=account, client_ip=client_ip), settings.LOGIN_THROTTLE_IP_FREE_FAILURES
        )
    except (RedisError, OSError) as exc:  # the log-in stands; the failures counted before are kept a while
        logger.warning("a log-in's success was not recorded by the throttle (%s)", exc)
