"""The stream consumer: read a batch, decide it, commit, then XACK.

Acknowledging only after the commit means a worker that dies at any point leaves
its entries pending; another worker takes them over with XAUTOCLAIM, and the
pipeline skips what was already decided, so nothing is lost or answered twice.

Outages are waited out, never turned into decisions: a failed batch stays pending and is
read again after a backoff with jitter. A Redis that comes back without its data (no
stream, no consumer group) gets both made again, and every undecided message is put back
on the stream from the database; after any outage the messages stored meanwhile are put
back too. Beside the read loop, on its own timer, the worker hands on messages stranded
between their INSERT and their XADD, and forgets consumers long dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.contract.retry import backoff
from bot.stages.ingest import Ingest
from bot.stages.pipeline import Batch, Outcome, Pipeline
from bot.stages.stream import Entry, Stream, lost_group
from bot.store.outages import conflict

log = logging.getLogger(__name__)
CLAIM_EVERY_S = 2.0  # how often to look for entries a dead worker left (until none are left)
MAX_CONFLICTS = 5  # in a row, before the batch waits like any failure
MAINTAIN_EVERY_S = 3.0  # the stranded-message requeue's timer
FORGET_EVERY_S = 60.0
DEAD_AFTER_MS = 3_600_000  # a consumer idle this long, with nothing pending, is gone


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class _Read:
    entries: list[Entry]
    batch: Batch | None  # None when no entry names a message
    claimed: int = 0  # how many of the entries were taken over from another consumer


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
        self.state = "not running in this process"  # how its loop goes (/readyz)

    async def run_once(self, *, block: bool = True, claim: bool = False) -> list[Outcome]:
        return await self._finish(await self._read(block=block, claim=claim))

    async def _read(self, *, block: bool, claim: bool) -> _Read:
        entries: list[Entry] = []
        if claim:
            entries = await self.stream.claim_stale(
                self.consumer, self.claim_idle_ms, self.batch_size
            )
        claimed = len(entries)
        if not entries:
            entries = await self.stream.read(
                self.consumer, self.batch_size, self.block_ms if block else None
            )
        ids = [e.message_id for e in entries if e.message_id is not None]
        return _Read(entries, await self.pipeline.read(ids) if ids else None, claimed)

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
        maintenance = asyncio.create_task(self._maintain(stop, ingest, requeue_after_s))
        reads = _Reads(self)
        failures = conflicts = 0
        try:
            self.state = "starting"
            if await self._ensure_group(stop) and ingest is not None:
                # A new group: a first start, or a Redis that lost its data while no worker
                # ran. What the database holds undecided must be on the stream again.
                await ingest.requeue_stranded(timedelta(0), limit=None)
            while not stop.is_set():
                read: _Read | None = None
                try:
                    read = await reads.next(stop)
                    await self._finish(read)
                    self.state, conflicts = "running", 0
                    if failures:
                        failures = 0
                        log.warning("worker recovered; handing on what was stored meanwhile")
                        if ingest is not None:
                            await ingest.requeue_stranded(timedelta(0), limit=None)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if conflict(exc) and read is not None and conflicts < MAX_CONFLICTS:
                        # PostgreSQL undid it for another worker's transaction: nothing is
                        # down, so no requeue; the same batch is decided again at once.
                        reads.again, conflicts = read, conflicts + 1
                        log.info("batch undone by a conflict with another worker; again")
                        continue
                    failures += 1
                    self.state = f"failing ({type(exc).__name__}), retrying"
                    await reads.drop_ahead()
                    log.warning(
                        "worker batch failed (%s: %s); its entries stay pending, retrying",
                        type(exc).__name__,
                        exc,
                    )
                    if lost_group(exc):
                        await self._rebuild(ingest)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=backoff(failures))
        finally:
            self.state = "stopped"
            await reads.drop_ahead()  # its entries stay pending, for XAUTOCLAIM
            maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await maintenance

    async def _ensure_group(self, stop: asyncio.Event) -> bool:
        """The consumer group, once Redis answers (a worker may start during an outage);
        True if it had to be made."""
        failures = 0
        while not stop.is_set():
            try:
                return await self.stream.ensure_group()
            except Exception as exc:
                failures += 1
                log.warning("stream not reachable yet (%s); retrying", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff(failures))
        return False

    async def _rebuild(self, ingest: Ingest | None) -> None:
        """Redis came back without the stream: make it again and refill it from the
        database, where every undecided message still is."""
        try:
            await self.stream.ensure_group()
            if ingest is not None:
                count = await ingest.requeue_stranded(timedelta(0), limit=None)
                log.warning("stream and group made again; %d undecided messages requeued", count)
        except Exception as exc:
            log.warning("stream not rebuilt yet (%s: %s)", type(exc).__name__, exc)

    async def _maintain(
        self, stop: asyncio.Event, ingest: Ingest | None, requeue_after_s: float
    ) -> None:
        """On its own timer, whatever the read loop is doing: messages committed but never
        put on the stream (a crash between the two) are handed on; dead consumers go."""
        last_forget, failures = 0.0, 0
        while not stop.is_set():
            try:
                if ingest is not None:
                    await ingest.requeue_stranded(timedelta(seconds=requeue_after_s))
                if time.monotonic() - last_forget >= FORGET_EVERY_S:
                    last_forget = time.monotonic()
                    await self.stream.forget_dead(self.consumer, DEAD_AFTER_MS)
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("stream upkeep failed (%s); retrying", type(exc).__name__)
            wait = MAINTAIN_EVERY_S if not failures else backoff(failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


async def _dropped(task: asyncio.Task[_Read] | None) -> None:
    """A read ahead that will not be decided: its entries stay pending for XAUTOCLAIM."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class _Reads:
    """Where the worker's next batch comes from: one to decide again, the one read ahead,
    what a dead worker left (claimed every CLAIM_EVERY_S, and at once while it left a
    full batch), or the stream."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self.again: _Read | None = None
        self._ahead: asyncio.Task[_Read] | None = None
        self._last_claim, self._claim_more = 0.0, False

    async def next(self, stop: asyncio.Event) -> _Read:
        if self.again is not None:
            read, self.again = self.again, None
            return read
        worker = self._worker
        claim = self._claim_more or time.monotonic() - self._last_claim >= CLAIM_EVERY_S
        if claim:
            self._last_claim = time.monotonic()
        task, self._ahead = self._ahead, None
        read = await (task if task is not None else worker._read(block=True, claim=claim))
        self._claim_more = read.claimed >= worker.batch_size  # a dead worker left more
        if read.entries and not stop.is_set() and not self._claim_more:
            self._ahead = asyncio.create_task(worker._read(block=True, claim=False))
        return read

    async def drop_ahead(self) -> None:
        await _dropped(self._ahead)
        self._ahead = None
