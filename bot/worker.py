"""The stream consumer: read a batch, decide it, commit, then XACK.

Acknowledging only after the commit means a worker that dies at any point leaves
its entries pending; another worker takes them over with XAUTOCLAIM, and the
pipeline skips what was already decided, so nothing is lost or answered twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.ingest import Ingest
from bot.pipeline import Outcome, Pipeline
from bot.stream import Entry, Stream

log = logging.getLogger(__name__)
_CLAIM_EVERY = 20  # batches between two looks for entries a dead worker left


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    def __init__(self, stream: Stream, pipeline: Pipeline, *, consumer: str, batch_size: int,
                 block_ms: int, claim_idle_ms: int) -> None:
        self.stream = stream
        self.pipeline = pipeline
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.on_outcomes: Callable[[list[Outcome]], Awaitable[None]] | None = None

    async def run_once(self, *, block: bool = True, claim: bool = False) -> list[Outcome]:
        entries: list[Entry] = []
        if claim:
            entries = await self.stream.claim_stale(self.consumer, self.claim_idle_ms,
                                                    self.batch_size)
        if not entries:
            entries = await self.stream.read(self.consumer, self.batch_size,
                                             self.block_ms if block else None)
        return await self._handle(entries)

    async def _handle(self, entries: list[Entry]) -> list[Outcome]:
        ids = [e.message_id for e in entries if e.message_id is not None]
        for poison in (e for e in entries if e.message_id is None):
            log.error("dropping malformed stream entry", extra={"entry": poison.entry_id})
        outcomes = await self.pipeline.process(ids) if ids else []
        await self.stream.ack(entries)
        if outcomes and self.on_outcomes is not None:
            await self.on_outcomes(outcomes)
        return outcomes

    async def drain(self) -> list[Outcome]:
        """Decide everything waiting now, without blocking (the replay and tests use it)."""
        done: list[Outcome] = []
        while entries := await self.stream.read(self.consumer, self.batch_size, None):
            done.extend(await self._handle(entries))
        return done

    async def run(self, stop: asyncio.Event, ingest: Ingest | None = None,
                  requeue_after_s: float = 60.0) -> None:
        await self.stream.ensure_group()
        batches = 0
        while not stop.is_set():
            try:
                await self.run_once(block=True, claim=batches % _CLAIM_EVERY == 0)
                if ingest is not None and batches % (_CLAIM_EVERY * 5) == 0:
                    await ingest.requeue_stranded(timedelta(seconds=requeue_after_s))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker batch failed; its entries stay pending")
                await asyncio.sleep(1.0)
            batches += 1
