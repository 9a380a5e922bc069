"""Spend events leave the gateway through a Redis stream without ever blocking a response.

Events are queued in process memory and written by one background task:
each batch is one stream entry (`events`: the events as JSON lines, see
`apps.spend.stream`), sent in one write with one script call settling the
quota reservations of the same requests (queued with `emit_settlement`;
idempotent, so a retried batch is harmless; a retried stream entry only
repeats events the ledger skips by request_id). Corrections of requests admitted
ahead of Redis are handed to `after_write` once the batch that holds their events
is written: what a request cost is always in a reservation, a charge, the stream
or the ledger, which the counter healing relies on. While Redis is unreachable they wait in a bounded buffer and are
retried; if the buffer overflows, the oldest entries are dropped, counted in
`dropped` and logged, never silently.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from apps.gateway.quota import Correction, Settlement, run_scripts, settle_call
from apps.gateway.redis_wire import RedisWire, resp_command
from apps.spend.stream import SPEND_STREAM, spend_stream_entry

logger = logging.getLogger("hydite.gateway.spend")

MAX_BUFFERED = 50_000
BATCH = 500
GATHER_S = 0.01
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)


Entry = bytes | Settlement | Correction  # a spend event (JSON), a quota settlement, or a charge's correction


class SpendEmitter:
    def __init__(
        self, wire: RedisWire, *, after_write: Callable[[Correction], None], max_buffered: int = MAX_BUFFERED
    ) -> None:
        self.wire = wire
        self.after_write = after_write
        self.buffer: deque[Entry] = deque()
        self.max_buffered = max_buffered
        self.dropped = 0
        self.written = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def emit(self, event: dict[str, Any]) -> None:
        self._append(orjson.dumps(event))

    def emit_settlement(self, settlement: Settlement | Correction) -> None:
        """Settle a quota reservation with the next batch (no round trip of its own), or correct a charge after it."""
        self._append(settlement)

    def _append(self, entry: Entry) -> None:
        if len(self.buffer) >= self.max_buffered:
            self.buffer.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.error("spend buffer full: %d entries dropped so far", self.dropped)
        self.buffer.append(entry)
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self.buffer:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if not self._closing:
                    # Let a few more events gather: one pipeline per few ms, not one per request.
                    await asyncio.sleep(GATHER_S)
                continue
            batch = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
            try:
                events = [entry for entry in batch if isinstance(entry, bytes)]
                settlements = [entry for entry in batch if isinstance(entry, Settlement)]
                # One stream entry and one settling script call for the whole batch, in one write.
                xadd = [resp_command(b"XADD", SPEND_STREAM, b"*", *spend_stream_entry(events))] if events else []
                await run_scripts(self.wire, [settle_call(settlements)] if settlements else [], before=xadd)
            except (RedisError, OSError) as exc:
                delay = RETRY_DELAYS_S[min(failures, len(RETRY_DELAYS_S) - 1)]
                failures += 1
                if failures == 1 or failures % 50 == 0:
                    logger.warning("spend events not written (%s); %d buffered, retrying", exc, len(self.buffer))
                if self._closing and failures > len(RETRY_DELAYS_S):
                    logger.error("shutting down with %d spend events unwritten", len(self.buffer))
                    return
                await asyncio.sleep(delay)
                continue
            failures = 0
            for entry in batch:
                # An overflow may have dropped some of this batch from the front meanwhile.
                if self.buffer and self.buffer[0] is entry:
                    self.buffer.popleft()
                if isinstance(entry, Correction):
                    self.after_write(entry)
            self.written += sum(isinstance(entry, bytes) for entry in batch)
            if len(self.buffer) < BATCH and not self._closing:
                # Under steady traffic too: gather for a few ms, not a round trip per request that came meanwhile.
                await asyncio.sleep(GATHER_S)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Flush what is buffered (bounded in time), then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                logger.error("spend flush timed out with %d events unwritten", len(self.buffer))
                self._task.cancel()
