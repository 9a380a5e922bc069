"""Where the gateway keeps what requests in flight reserve, for the gateway's scripts and the counter healing.

The reservations admitted in second s are the hash <HELD_PREFIX><s> (request id, or a process's charge,
-> "second tokens micros plan-record-key[ count]"); a plan record ("rate keys|budget keys", under
PLAN_RECORD_PREFIX) names the counters a reservation holds. <HELD_PREFIX><HELD_SWEPT> is the last second
the sweeper has released.
"""

from apps.core.redis import global_key

HELD_PREFIX = global_key("quota", "held", "")
HELD_SWEPT = "swept"
HELD_TTL_S = 4500  # a reservation hash expires this long after it is first written (the sweeper's work)
PLAN_RECORD_PREFIX = global_key("quota", "plan", "")
PLAN_RECORD_TTL_S = 3600  # a plan record lives this long past its last write


def held_key(second: int) -> str:
    return f"{HELD_PREFIX}{second}"
