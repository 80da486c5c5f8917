"""Faults of the distributed deployment, with real processes: `serve` and `worker` run as
console scripts against a PostgreSQL cluster and a Redis server this test starts, kills
and restarts; replies go over SMTP to a relay in this test.

After each fault, from the database and the relay: every message the API accepted is
decided once and none became an `error`; every owed reply was delivered once or is
visibly `uncertain`; no answer was a 500. Recovery times are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.fakes.smtp_relay import SmtpRelay
from tests.servers import (
    DEADLINE_S,
    BotProcess,
    PostgresCluster,
    RedisServer,
    free_port,
)

TOKEN = "fault-test-token"


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> float:
    """Seconds until a real condition holds, looked at every 50 ms (bounded)."""
    begun = time.monotonic()
    while True:
        with contextlib.suppress(Exception):  # a store still coming back
            if await condition():
                return time.monotonic() - begun
        if time.monotonic() - begun > DEADLINE_S:
            raise TimeoutError(f"timed out after {DEADLINE_S}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Posted:
    """What the API answered, per external id."""

    statuses: dict[str, int] = field(default_factory=dict)
    without_retry_after: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> set[str]:
        return {x for x, status in self.statuses.items() if status == 202}


class Deployment:
    def __init__(
        self, root: Path, postgres: PostgresCluster, redis: RedisServer, relay: SmtpRelay
    ) -> None:
        self.root, self.postgres, self.redis, self.relay = root, postgres, redis, relay
        self.port = free_port()
        self.processes: list[BotProcess] = []
        self.engine: AsyncEngine = create_async_engine(postgres.url)
        self.posted = Posted()
        self._sent = 0

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        env.update(
            INTAKE_DATA_DIR=str(self.root / "data"),
            INTAKE_DATABASE_URL=self.postgres.url,
            INTAKE_REDIS_URL=self.redis.url,
            INTAKE_API_TOKEN=TOKEN,
            INTAKE_HTTP_HOST="127.0.0.1",
            INTAKE_HTTP_PORT=str(self.port),
            INTAKE_SMTP_RELAY=f"127.0.0.1:{self.relay.port}",
            INTAKE_MAIL_FROM="support@shop.test",
            INTAKE_LOG_FORMAT="json",
            INTAKE_LOG_LEVEL="INFO",
            INTAKE_BATCH_SIZE="50",
            INTAKE_SENDER_LEASE_S="2",
            **extra,
        )
        return env

    def _start(self, command: list[str], name: str, **extra: str) -> BotProcess:
        process = BotProcess(command, self.environment(**extra), self.root / f"{name}.log")
        self.processes.append(process)
        return process

    async def serve(self) -> BotProcess:
        process = self._start(["serve", "--no-with-worker"], f"serve{len(self.processes)}")
        await eventually(lambda: self._ready(self.port, process), "serve to be ready")
        return process

    async def worker(self, name: str) -> tuple[BotProcess, int]:
        port = free_port()
        process = self._start(
            ["worker"], name, INTAKE_CONSUMER_NAME=name, INTAKE_WORKER_HTTP_PORT=str(port)
        )
        await eventually(lambda: self._ready(port, process), f"worker {name} to be ready")
        return process, port

    async def _ready(self, port: int, process: BotProcess) -> bool:
        if not process.alive():
            pytest.fail(f"exited with {process.process.returncode}\n{process.log()}")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/readyz") as answer,
        ):
            return answer.status == 200

    async def post(self, count: int) -> None:
        """`count` complaints, each from a customer of its own, one after another."""
        async with aiohttp.ClientSession() as http:
            for _ in range(count):
                await self._post_one(http)

    async def post_until(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as http:
            while not stop.is_set():
                await self._post_one(http)
                await asyncio.sleep(0.01)  # a steady trickle, not a benchmark

    async def _post_one(self, http: aiohttp.ClientSession) -> None:
        self._sent += 1
        n = self._sent
        external_id = f"fault-{n}"
        try:
            async with http.post(
                f"http://127.0.0.1:{self.port}/api/v1/messages",
                json={
                    "channel": "email",
                    "external_id": external_id,
                    "sender": f"customer{n}@example.it",
                    "text": f"La lavatrice numero {n} perde acqua dal fondo.",
                    "received_at": "2026-11-02T09:15:00+01:00",
                },
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as answer:
                self.posted.statuses[external_id] = answer.status
                if answer.status == 503 and "Retry-After" not in answer.headers:
                    self.posted.without_retry_after.append(external_id)
        except aiohttp.ClientConnectionError:
            self.posted.statuses[external_id] = 0  # the web process itself was down

    async def rows(self, sql: str) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(text(sql))).all())

    async def undecided(self) -> int:
        [(count,)] = await self.rows("SELECT count(*) FROM messages WHERE decision IS NULL")
        return int(count)

    async def settled(self) -> dict[str, int]:
        """Wait until every stored message is decided and no reply is on its way; then
        check what this module promises, and return the outbox by state."""
        await eventually(self._all_decided, "every stored message to be decided")
        await eventually(self._nothing_sending, "the outbox to settle")
        stored = {x for (x,) in await self.rows("SELECT external_id FROM messages")}
        assert self.posted.accepted <= stored  # nothing acknowledged was lost
        decisions = Counter(d for (d,) in await self.rows("SELECT decision FROM messages"))
        assert decisions["error"] == 0, decisions
        outbox = dict(await self.rows("SELECT status, count(*) FROM outbox GROUP BY status"))
        sent = {a for (a,) in await self.rows("SELECT address FROM outbox WHERE status='sent'")}
        delivered = Counter(to for mail in self.relay.received for to in mail.rcpt_tos)
        assert max(delivered.values(), default=1) == 1, "a reply went twice"
        assert sent <= set(delivered), "a reply marked sent never reached the relay"
        assert set(outbox) <= {"sent", "uncertain"}, outbox
        return outbox

    async def _all_decided(self) -> bool:
        return await self.undecided() == 0 and bool(self.posted.accepted)

    async def _nothing_sending(self) -> bool:
        [(count,)] = await self.rows(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed', 'sending')"
        )
        return int(count) == 0

    def stop_all(self) -> list[int]:
        """SIGTERM to every process still running, as an orchestrator stops them."""
        return [p.stop() for p in self.processes if p.alive()]

    async def close(self) -> None:
        for process in self.processes:
            process.kill()
        await self.engine.dispose()


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
async def deployment(
    tmp_path: Path, postgres: PostgresCluster, redis_server: RedisServer
) -> AsyncIterator[Deployment]:
    relay = await SmtpRelay().start()
    setup = Deployment(tmp_path, postgres, redis_server, relay)
    try:
        yield setup
    finally:
        if relay.hold is not None:
            relay.hold.set()
        await setup.close()
        await relay.stop()


async def pending_of(redis_url: str, consumer: str) -> int:
    client = Redis.from_url(redis_url)
    try:
        for entry in await client.xinfo_consumers("intake:stream", "workers"):
            if entry["name"] in (consumer, consumer.encode()):
                return int(entry["pending"])
        return 0
    finally:
        await client.aclose()


async def test_a_killed_worker_s_entries_are_taken_over_by_the_other(
    deployment: Deployment,
) -> None:
    await deployment.serve()
    doomed, _ = await deployment.worker("w1")
    survivor, _ = await deployment.worker("w2")
    doomed.freeze()
    survivor.freeze()
    await deployment.post(300)  # a backlog, so that a batch is in hand when the kill comes

    async def holds_entries() -> bool:
        doomed.thaw()
        await asyncio.sleep(0.01)  # a moment to read; whether it did is then looked at
        doomed.freeze()  # caught with entries read and not acknowledged?
        return await pending_of(deployment.redis.url, "w1") > 10

    await eventually(holds_entries, "w1 to hold a batch it has not acknowledged")
    held = await pending_of(deployment.redis.url, "w1")
    doomed.kill()
    survivor.thaw()
    begun = time.monotonic()
    await eventually(deployment._all_decided, "the survivor to decide everything")
    recovery = time.monotonic() - begun
    print(f"\nworker killed holding {held} entries: all decided {recovery:.1f} s later")

    outbox = await deployment.settled()
    assert outbox == {"sent": len(deployment.posted.accepted)}

    # The survivor may decide the messages first (its requeue of undecided rows); the dead
    # worker's entries are then claimed once idle long enough, and acknowledged.
    async def taken_over() -> bool:
        return await pending_of(deployment.redis.url, "w1") == 0

    await eventually(taken_over, "the survivor to take over w1's entries")
    assert deployment.stop_all() == [0, 0]


@pytest.mark.parametrize("store", ["postgresql", "redis"])
async def test_a_store_killed_under_load_answers_503_and_loses_nothing(
    deployment: Deployment, store: str
) -> None:
    await deployment.serve()
    await deployment.worker("w1")
    stop = asyncio.Event()
    poster = asyncio.create_task(deployment.post_until(stop))
    await eventually(lambda: _accepted_at_least(deployment, 20), "some messages accepted")
    server = deployment.postgres if store == "postgresql" else deployment.redis
    server.kill()
    refused = len([s for s in deployment.posted.statuses.values() if s == 503])
    await eventually(lambda: _refused_more_than(deployment, refused + 5), "503s in the outage")
    server.start()  # Redis comes back empty: its stream, group and throttle state are gone
    back, accepted = time.monotonic(), len(deployment.posted.accepted)
    await eventually(lambda: _accepted_at_least(deployment, accepted + 20), "accepting again")
    stop.set()
    await poster
    await eventually(deployment._all_decided, "everything stored to be decided")
    print(f"\n{store} killed and restarted: all decided {time.monotonic() - back:.1f} s later")

    assert set(deployment.posted.statuses.values()) <= {202, 503}, Counter(
        deployment.posted.statuses.values()
    )
    assert deployment.posted.without_retry_after == []
    await deployment.settled()
    assert deployment.stop_all() == [0, 0]


async def _accepted_at_least(deployment: Deployment, count: int) -> bool:
    return len(deployment.posted.accepted) >= count


async def _refused_more_than(deployment: Deployment, count: int) -> bool:
    return len([s for s in deployment.posted.statuses.values() if s == 503]) > count


async def test_a_serve_killed_while_sending_leaves_one_reply_uncertain_and_sends_the_rest(
    deployment: Deployment,
) -> None:
    relay = deployment.relay
    relay.hold = asyncio.Event()
    first = await deployment.serve()
    await deployment.worker("w1")
    await deployment.post(6)
    await asyncio.wait_for(relay.holding.wait(), DEADLINE_S)  # one mail in the relay's hands
    first.kill()
    relay.hold.set()  # the relay then takes it: it was delivered, the bot cannot know
    await deployment.serve()

    outbox = await deployment.settled()

    assert outbox == {"sent": 5, "uncertain": 1}
    assert len(relay.received) == 6  # every customer got exactly one reply
    notes = await deployment.rows(
        "SELECT count(*) FROM ticket_events WHERE note LIKE '%uncertain%'"
    )
    assert notes == [(1,)]  # staff see it on the ticket
    assert deployment.stop_all() == [0, 0]
