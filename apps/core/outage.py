"""Redis outages are logged, but at most once per interval per place (a request flood must not flood logs)."""

import logging
import time

logger = logging.getLogger("hydite.gateway")

INTERVAL_S = 10.0
_last_logged: dict[str, float] = {}


def redis_outage_log(where: str, exc: BaseException, consequence: str) -> None:
    now = time.monotonic()
    if now - _last_logged.get(where, -INTERVAL_S) >= INTERVAL_S:
        _last_logged[where] = now
        logger.warning("Redis unreachable in %s (%s): %s", where, exc, consequence)
