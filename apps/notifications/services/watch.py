"""When a holder's spend is worth asking the ledger about: an estimate in Redis that checks correct.

Summing a month of a busy key's ledger rows after every batch would become the consumer's main
cost. Instead each holder with a budget has, per period and per set of limits, a Redis hash:
`est`, a running sum of its batches' costs, and `next`, the lowest threshold not alerted yet. A
batch adds its cost (one script call per holder, one pipeline per batch); only holders whose hash
is unverified (`ver` 0: new, expired, limits changed) or whose estimate reached `next` are checked
against the ledger, so a threshold costs about one ledger sum per period.

`est` is never below the ledger once verified: every committed row is added after its commit
(twice if its stream entry is re-read: an overestimate, which only costs an early check); a check
reads `est`, sums the ledger (which holds every row added before that read), then replaces what it
read by that sum and keeps what was added since, and only if no other check corrected the hash in
between (`ver`, compare-and-set).
"""

from dataclasses import dataclass

import redis

NO_THRESHOLD_LEFT = 2**62
TOTAL_PERIOD_TTL_S = 35 * 86_400  # a "total" budget never resets; an idle holder's hash still goes

# KEYS[1]: the hash; ARGV: micros to add, TTL. Returns est, ver, next (-1: none yet).
ADD_LUA = """
local est = redis.call('HINCRBY', KEYS[1], 'est', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'ver', 'next')
return {est, state[1] or '0', state[2] or '-1'}
"""

# KEYS[1]: the hash; ARGV: ver read, ledger spend minus est read, next threshold, TTL.
SETTLE_LUA = """
local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if ver ~= tonumber(ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'est', ARGV[2])
redis.call('HSET', KEYS[1], 'ver', ver + 1, 'next', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Watched:
    key: str
    est: int
    ver: int
    next: int

    @property
    def needs_check(self) -> bool:
        return self.ver == 0 or self.est >= self.next


def watch_ttl(period_ttl_s: int) -> int:
    return TOTAL_PERIOD_TTL_S if period_ttl_s < 0 else period_ttl_s


def budget_watch_add(*, client: redis.Redis, additions: list[tuple[str, int, int]]) -> list[Watched]:
    """Add each (hash key, micros, TTL) batch cost; the hashes' states, in order."""
    script = client.register_script(ADD_LUA)
    pipe = client.pipeline(transaction=False)
    for key, micros, ttl in additions:
        script(keys=[key], args=[micros, ttl], client=pipe)
    return [
        Watched(key=key, est=int(est), ver=int(ver), next=int(nxt))
        for (key, _, _), (est, ver, nxt) in zip(additions, pipe.execute(), strict=True)
    ]


def budget_watch_settle(*, client: redis.Redis, checked: list[tuple[Watched, int, int, int]]) -> None:
    """After ledger checks: each (state read, ledger spend, next threshold, TTL); a lost race changes nothing."""
    script = client.register_script(SETTLE_LUA)
    pipe = client.pipeline(transaction=False)
    for watched, spent, next_threshold, ttl in checked:
        script(keys=[watched.key], args=[watched.ver, spent - watched.est, next_threshold, ttl], client=pipe)
    pipe.execute()
