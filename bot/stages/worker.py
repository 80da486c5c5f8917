"""The stream consumer: read a batch, decide it, commit, then XACK.

Acknowledging only after the commit means a worker that dies at any point leaves
its entries pending; another worker takes them over with XAUTOCLAIM, and the
pipeline skips what was already decided, so nothing is lost or answered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.stages.ingest import Ingest
from bot.stages.pipeline import Batch, Outcome, Pipeline
from bot.stages.stream import Entry, Stream

log = logging.getLogger(__name__)
_CLAIM_EVERY = 20  # batches between two looks for entries a dead worker left


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class _Read:
    entries: list[Entry]
    batch: Batch | None  # None when no entry names a message


class Worker:
    def __init__(
        self,
        stream: Stream,
        pipeline: Pipeline,
        *,
        consumer: str,
        batch_size: int,
        block_ms: int,
        claim_idle_ms: int,
    ) -> None:
        self.stream = stream
        self.pipeline = pipeline
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.on_outcomes: Callable[[list[Outcome]], Awaitable[None]] | None = None

    async def run_once(self, *, block: bool = True, claim: bool = False) -> list[Outcome]:
        return await self._finish(await self._read(block=block, claim=claim))

    async def _read(self, *, block: bool, claim: bool) -> _Read:
        entries: list[Entry] = []
        if claim:
            entries = await self.stream.claim_stale(
                self.consumer, self.claim_idle_ms, self.batch_size
            )
        if not entries:
            entries = await self.stream.read(
                self.consumer, self.batch_size, self.block_ms if block else None
            )
        ids = [e.message_id for e in entries if e.message_id is not None]
        return _Read(entries, await self.pipeline.read(ids) if ids else None)

    async def _finish(self, read: _Read) -> list[Outcome]:
        """Decide, then XACK: an entry is acknowledged only once its decision is committed."""
        for poison in (e for e in read.entries if e.message_id is None):
            log.error("dropping malformed stream entry", extra={"entry": poison.entry_id})
        outcomes = await self.pipeline.decide(read.batch) if read.batch is not None else []
        await self.stream.ack(read.entries)
        if outcomes and self.on_outcomes is not None:
            await self.on_outcomes(outcomes)
        return outcomes

    async def drain(self) -> list[Outcome]:
        """Decide everything waiting now, without blocking (the replay and tests use it)."""
        done: list[Outcome] = []
        while (read := await self._read(block=False, claim=False)).entries:
            done.extend(await self._finish(read))
        return done

    async def run(
        self, stop: asyncio.Event, ingest: Ingest | None = None, requeue_after_s: float = 60.0
    ) -> None:
        """Batches in stream order, the next one read while this one is decided.

        Reading (the stream, the rows, the classifier, the details and language of each
        text) is a third of the worker's work, and deciding waits on the database and Redis
        a dozen times a batch: side by side, the reading fills those waits.
        """
        await self.stream.ensure_group()
        batches = 0
        ahead: asyncio.Task[_Read] | None = None
        try:
            while not stop.is_set():
                try:
                    claim = batches % _CLAIM_EVERY == 0
                    task, ahead = ahead, None
                    read = await (task if task is not None else self._read(block=True, claim=claim))
                    if read.entries and not stop.is_set():
                        ahead = asyncio.create_task(
                            self._read(block=True, claim=(batches + 1) % _CLAIM_EVERY == 0)
                        )
                    await self._finish(read)
                    if ingest is not None and batches % (_CLAIM_EVERY * 5) == 0:
                        await ingest.requeue_stranded(timedelta(seconds=requeue_after_s))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("worker batch failed; its entries stay pending")
                    await asyncio.sleep(1.0)
                batches += 1
        finally:
            if ahead is not None:  # its entries stay pending, for XAUTOCLAIM
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead
