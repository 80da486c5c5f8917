"""The load generator and the end-to-end clock: POST start -> decision committed.

A bounded number of aiohttp workers POST a fixed list of messages (or stop at a
deadline). Then the database is polled, bounded in time, until every row the
phase added has a decision; the poller sees only committed ones. Latency per message is
`messages.processed_at` minus the wall time its first POST started; a message
still undecided when the wait ends counts with its wait so far, so the printed
percentiles are then lower bounds (marked >=).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import aiohttp
import asyncpg  # type: ignore[import-untyped]

from bench.corpus import Message
from bench.cpu import Meter

POLL_S = 0.2


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Load:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    started: dict[str, float] = field(default_factory=dict)  # external id -> wall time
    post_s: list[float] = field(default_factory=list)
    t0: float = 0.0
    t_end: float = 0.0

    @property
    def accepted(self) -> int:
        return self.statuses[200] + self.statuses[202]

    @property
    def accepted_rate(self) -> float:
        return self.accepted / max(self.t_end - self.t0, 1e-9)


async def post_all(
    url: str,
    token: str,
    messages: Sequence[Message],
    *,
    concurrency: int,
    max_s: float,
    rate: float | None = None,
) -> Load:
    """POST each message once, `concurrency` at a time, or paced at `rate` per second."""
    load = Load()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    pending = enumerate(messages)
    opened = time.monotonic()
    deadline = opened + max_s

    async def one_worker(http: aiohttp.ClientSession) -> None:
        for i, msg in pending:
            if rate is not None:
                await asyncio.sleep(max(0.0, opened + i / rate - time.monotonic()))
            if time.monotonic() > deadline:
                return
            begun = time.perf_counter()
            load.started.setdefault(msg.external_id, time.time())
            try:
                async with http.post(url, data=msg.body, headers=headers) as resp:
                    await resp.read()
                    load.statuses[resp.status] += 1
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                load.failures[type(exc).__name__] += 1
            load.post_s.append(time.perf_counter() - begun)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        load.t0 = time.time()
        await asyncio.gather(*(one_worker(http) for _ in range(concurrency)))
        load.t_end = time.time()
    return load


class Store(Protocol):
    async def max_id(self) -> int: ...
    async def counts(self, after_id: int) -> tuple[int, int]: ...
    async def rows(self, after_id: int) -> list[tuple[str, str | None, datetime | None]]: ...


class PgStore:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._db = connection

    async def max_id(self) -> int:
        return int(await self._db.fetchval("SELECT coalesce(max(id), 0) FROM messages"))

    async def counts(self, after_id: int) -> tuple[int, int]:
        row = await self._db.fetchrow(
            "SELECT count(*), count(decision) FROM messages WHERE id > $1", after_id
        )
        return int(row[0]), int(row[1])

    async def rows(self, after_id: int) -> list[tuple[str, str | None, datetime | None]]:
        found = await self._db.fetch(
            "SELECT external_id, decision, processed_at FROM messages WHERE id > $1", after_id
        )
        return [(r[0], r[1], r[2]) for r in found]


class SqliteStore:
    """Reads the embedded bot's SQLite file (WAL: readers do not block its writer)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        with contextlib.closing(sqlite3.connect(self._path, timeout=30)) as db:
            return list(db.execute(sql, args).fetchall())

    async def _fetch(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return await asyncio.to_thread(self._query, sql, args)

    async def max_id(self) -> int:
        return int(str((await self._fetch("SELECT coalesce(max(id), 0) FROM messages"))[0][0]))

    async def counts(self, after_id: int) -> tuple[int, int]:
        row = (
            await self._fetch(
                "SELECT count(*), count(decision) FROM messages WHERE id > ?", after_id
            )
        )[0]
        return int(str(row[0])), int(str(row[1]))

    async def rows(self, after_id: int) -> list[tuple[str, str | None, datetime | None]]:
        found = await self._fetch(
            "SELECT external_id, decision, processed_at FROM messages WHERE id > ?", after_id
        )
        return [
            (
                str(ext),
                None if d is None else str(d),
                None if p is None else datetime.fromisoformat(str(p)).replace(tzinfo=UTC),
            )
            for ext, d, p in found
        ]


@dataclass
class Phase:
    load: Load
    stored: int  # rows the phase added (duplicates are not stored twice)
    decided: int  # of them, with a committed decision when the clock stopped
    drained: bool
    t_done: float  # wall time the last decision was seen committed (or the drain gave up)
    decided_at_load_end: int
    decisions: Counter[str]
    latencies: list[float]  # POST start -> processed_at, seconds
    censored: int  # undecided when the clock stopped: their wait so far is in `latencies`
    cpu: dict[str, float]  # CPU seconds by process group over the phase
    machine_busy: float  # share of all cores busy over the phase

    @property
    def e2e_rate(self) -> float:
        return self.decided / max(self.t_done - self.load.t0, 1e-9)

    @property
    def decide_rate_under_load(self) -> float:
        return self.decided_at_load_end / max(self.load.t_end - self.load.t0, 1e-9)

    @property
    def decide_rate_in_drain(self) -> float:
        """The worker alone: no POSTs compete for the cores any more."""
        if self.t_done - self.load.t_end < 1.0:
            return float("nan")
        return (self.decided - self.decided_at_load_end) / (self.t_done - self.load.t_end)


async def run_phase(
    url: str,
    token: str,
    messages: Sequence[Message],
    store: Store,
    *,
    concurrency: int,
    max_load_s: float,
    max_drain_s: float,
    meter: Meter | None = None,
    rate: float | None = None,
) -> Phase:
    base = await store.max_id()
    if meter is not None:
        meter.start()
    load = await post_all(
        url, token, messages, concurrency=concurrency, max_s=max_load_s, rate=rate
    )
    stored, at_load_end = await store.counts(base)
    decided, deadline = at_load_end, time.monotonic() + max_drain_s
    while decided < stored and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        stored, decided = await store.counts(base)
    t_done = time.time()
    if meter is not None:
        meter.stop()
    latencies, decisions, censored = [], Counter[str](), 0
    for ext, decision, processed_at in await store.rows(base):
        decisions[decision or "(undecided)"] += 1
        if ext not in load.started:
            continue
        if processed_at is None:  # a lower bound: order statistics stay lower bounds
            censored += 1
        end = t_done if processed_at is None else processed_at.timestamp()
        latencies.append(end - load.started[ext])
    return Phase(
        load,
        stored,
        decided,
        decided >= stored,
        t_done,
        at_load_end,
        decisions,
        latencies,
        censored,
        {} if meter is None else meter.used,
        0.0 if meter is None else meter.machine_busy,
    )
