"""Spend events leave the gateway through a Redis stream without ever blocking a response.

Events are queued in process memory and written by one background task in
pipelined batches, together with the quota settlements of the same requests
(scripts queued with `emit_script`, idempotent, so a retried batch is
harmless). While Redis is unreachable they wait in a bounded buffer and are
retried; if the buffer overflows, the oldest entries are dropped, counted in
`dropped` and logged, never silently.
"""

import asyncio
import logging
from collections import deque
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from apps.gateway.quota import RedisKey, ScriptCall, run_scripts
from apps.spend.stream import SPEND_STREAM

logger = logging.getLogger("hydite.gateway.spend")

MAX_BUFFERED = 50_000
BATCH = 500
GATHER_S = 0.005
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class SpendEmitter:
    def __init__(self, redis: aioredis.Redis, *, max_buffered: int = MAX_BUFFERED) -> None:
        self.redis = redis
        # a spend event (bytes), or an idempotent script call: (script, keys, args)
        self.buffer: deque[bytes | ScriptCall] = deque()
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

    def emit_script(self, script: AsyncScript, keys: list[RedisKey], args: list[Any]) -> None:
        """Run an idempotent script in the next batch (a quota settlement: no round trip of its own)."""
        self._append((script, keys, args))

    def _append(self, entry: bytes | ScriptCall) -> None:
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
                pipe = self.redis.pipeline(transaction=False)
                for entry in batch:
                    if isinstance(entry, bytes):
                        pipe.xadd(SPEND_STREAM, {"e": entry})
                await pipe.execute()
                scripts = [entry for entry in batch if not isinstance(entry, bytes)]
                if scripts:
                    await run_scripts(self.redis, scripts)
            except (aioredis.RedisError, OSError) as exc:
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
            self.written += sum(isinstance(entry, bytes) for entry in batch)

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
