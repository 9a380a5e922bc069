"""The layout of the gateway's sliding windows, and their reader: requests and tokens per layer in the last 60 s.

A window is one 2 KB string (a "ring") that the gateway's scripts write (apps/gateway/quota/lua/ring.lua,
which is given the constants below when it is loaded): a header of six fields (newest second, requests and
tokens in the window, the second the ring began, requests and tokens of the newest second), then one slot
per second of the window, of two fields (requests and tokens of an earlier second s at slot s % WINDOW_S).
A field is RING_FIELD decimal digits. This module only reads rings, so the dashboard needs nothing of the
gateway's hot path.
"""

WINDOW_S = 60
RING_FIELD = 16  # digits of one field
RING_HEAD = 6 * RING_FIELD  # the header's length
RING_TTL_MS = (WINDOW_S + 1) * 1000  # a ring lives this long past its newest second


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
