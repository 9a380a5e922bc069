"""A stream's token allowance: what its admission reserved, extended in blocks while chunks arrive.

A stream may run past what it reserved (no max_tokens, or a provider that ignores it). Before the
gateway forwards a chunk that would take the stream past its allowance, it reserves another block
of tokens and their cost on every layer, atomically, like an admission that counts no request. The
next block is asked for a little ahead, so a stream that may go on rarely waits. When a layer has
nothing left, the stream is cut: the client gets an OpenAI-style error event and `data: [DONE]`,
and the tokens already sent are billed.
"""

import asyncio

from apps.core.errors import HyditeError
from apps.gateway.quota.admission import Admission
from apps.gateway.quota.plans import QuotaPlan
from apps.gateway.quota.quotas import Quotas
from apps.keys.snapshots import KeySnapshot


class StreamCut(Exception):
    """A stream stopped because a quota layer ran out; the wire already says 200, the ledger says why."""

    def __init__(self, refusal: HyditeError, *, sent_tokens: int) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.sent_tokens = sent_tokens


class StreamAllowance:
    def __init__(
        self,
        quotas: Quotas,
        key: KeySnapshot,
        plan: QuotaPlan,
        *,
        request_id: str,
        completion_tokens: int,
        block_tokens: int,
        block_micros: int,
    ) -> None:
        self.quotas, self.key, self.plan, self.request_id = quotas, key, plan, request_id
        self.allowed = completion_tokens  # completion tokens reserved so far
        self.block_tokens, self.block_micros = block_tokens, block_micros
        self.extensions: list[Admission] = []
        self.sent = 0  # completion tokens forwarded to the client
        self._pending: asyncio.Task[None] | None = None
        self._refusal: HyditeError | None = None

    def within(self, seen: int) -> bool:
        """True when a chunk bringing the stream to `seen` completion tokens goes whole and no block is due yet:
        the common case, decided without a coroutine; else `admit` decides."""
        if seen < self.allowed - self.block_tokens // 4:
            self.sent = seen
            return True
        return False

    async def admit(self, seen: int) -> int | None:
        """None when a chunk bringing the stream to `seen` completion tokens may go whole; else the
        completion tokens the stream may reach in all (what is left of the chunk must not go, and
        `cut()` ends the stream)."""
        if seen >= self.allowed - self.block_tokens // 4:
            self._extend_soon()  # ahead of need
        while seen > self.allowed and self._refusal is None:
            self._extend_soon()
            assert self._pending is not None  # noqa: S101
            await asyncio.shield(self._pending)
        if seen > self.allowed:
            self.sent = self.allowed
            return self.allowed
        self.sent = seen
        return None

    def cut(self) -> StreamCut:
        assert self._refusal is not None  # noqa: S101 - only after admit() said the stream must stop
        return StreamCut(self._refusal, sent_tokens=self.sent)

    def _extend_soon(self) -> None:
        if self._pending is None and self._refusal is None:
            self._pending = asyncio.create_task(self._extend())

    async def _extend(self) -> None:
        try:
            admission = await self.quotas.admit(
                self.key,
                self.plan,
                request_id=f"{self.request_id}:x{len(self.extensions) + 1}",
                tokens=self.block_tokens,
                micros=self.block_micros,
                requests=0,
            )
        except HyditeError as refusal:
            self._refusal = refusal
        else:
            self.extensions.append(admission)
            self.allowed += self.block_tokens
        finally:
            self._pending = None

    async def close(self) -> None:
        """Wait for an extension still on its way, so that what it reserved is settled with the rest."""
        if self._pending is not None:
            await asyncio.shield(self._pending)
