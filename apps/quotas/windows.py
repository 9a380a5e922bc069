"""Reading the gateway's sliding windows: requests and tokens per layer in the last 60 seconds.

A window is one 2 KB string (a "ring") that the gateway's admission script writes (RING_LUA in
apps/gateway/quota.py): a header of six 16-digit fields (newest second, requests and tokens in the
window, the second the ring began, requests and tokens of the newest second), then 60 slots of two
fields (requests and tokens of an earlier second s at slot s % 60). This module only reads it, so the
dashboard needs nothing of the gateway's hot path.
"""

WINDOW_S = 60
RING_HEAD, RING_FIELD = 96, 16  # RING_LUA's HEAD and WIDTH


def window_totals(ring: bytes | str | None, *, now_s: int) -> tuple[int, int]:
    """Requests and tokens a ring counts in the window ending at `now_s`."""
    if not ring:
        return 0, 0
    newest, requests, tokens = (int(ring[i * RING_FIELD : (i + 1) * RING_FIELD]) for i in range(3))
    if now_s - newest >= WINDOW_S:
        return 0, 0
    for second in range(newest + 1, now_s + 1):  # seconds that left the window since the ring last moved
        at = RING_HEAD + (second % WINDOW_S) * 2 * RING_FIELD
        requests -= int(ring[at : at + RING_FIELD])
        tokens -= int(ring[at + RING_FIELD : at + 2 * RING_FIELD])
    return requests, tokens
