"""The sender: retries with backoff, honours retry_after, never sends one change twice."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy import select, update

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply, SendResult
from bot.stages.outbox import LEASE, Sender
from bot.store.models import OutboxReply, TicketEvent
from tests.helpers import FlakySender, complaint, outbox_rows

BROKEN = "Il mio inverter si è guastato di nuovo, voglio la sostituzione."


async def owe_one(runtime: Runtime, clock: VirtualClock) -> None:
    await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    await runtime.worker.drain()


async def outbox_row(runtime: Runtime) -> OutboxReply:
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxReply))
    assert isinstance(row, OutboxReply)
    return row


async def test_a_failed_send_is_retried_after_backoff_and_sent_once(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await owe_one(runtime, clock)
    flaky = FlakySender(Channel.EMAIL, failures=1)
    sender = Sender(runtime.sessions, {Channel.EMAIL: flaky}, clock)
    assert await sender.run_once() == 1
    row = await outbox_row(runtime)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "provider said 503")
    assert await sender.run_once() == 0  # not due yet
    clock.set(row.next_attempt_at)
    assert await sender.run_once() == 1
    assert await sender.run_once() == 0
    row = await outbox_row(runtime)
    assert (row.status, row.provider_id) == ("sent", "p2")
    assert len(flaky.attempts) == 2


async def test_retry_after_from_the_provider_sets_the_next_attempt(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await owe_one(runtime, clock)
    sender = Sender(runtime.sessions, {Channel.EMAIL: FlakySender(Channel.EMAIL, 1, 42.0)}, clock)
    await sender.run_once()
    row = await outbox_row(runtime)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=42)


async def test_attempts_run_out_into_failed(runtime: Runtime, clock: VirtualClock) -> None:
    await owe_one(runtime, clock)
    flaky = FlakySender(Channel.EMAIL, failures=99)
    sender = Sender(runtime.sessions, {Channel.EMAIL: flaky}, clock, max_attempts=3)
    for _ in range(5):
        await sender.run_once()
        clock.set(clock.now() + timedelta(hours=2))
    assert len(flaky.attempts) == 3
    assert (await outbox_row(runtime)).status == "failed"


async def test_a_send_interrupted_mid_flight_is_not_repeated_but_shown_as_uncertain(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await owe_one(runtime, clock)
    async with runtime.sessions.begin() as session:  # handed to its channel, then the end
        await session.execute(
            update(OutboxReply).values(status="sending", lease_until=clock.now() + LEASE)
        )
    flaky = FlakySender(Channel.EMAIL, failures=0)
    sender = Sender(runtime.sessions, {Channel.EMAIL: flaky}, clock)
    assert await sender.run_once() == 0
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    assert await sender.run_once() == 0
    row = await outbox_row(runtime)
    assert row.status == "uncertain"
    assert "may have been delivered" in row.last_error
    assert flaky.attempts == []
    assert (await sender.counts())["uncertain"] == 1
    async with runtime.sessions() as session:
        notes = list(await session.scalars(select(TicketEvent.note)))
    assert any("uncertain" in note for note in notes)


async def test_a_sender_that_dies_leaves_what_it_never_attempted_to_the_next(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """Issue 15, 6: a crash left every claimed row `failed`, attempted or not."""
    for n in range(4):
        await runtime.ingest.accept(
            complaint(f"c{n}@example.it", f"Inverter {n} rotto.", clock.now())
        )
    await runtime.worker.drain()
    handed = asyncio.Event()

    class DiesHandingOver:
        channel = Channel.EMAIL

        async def send(self, reply: OutboundReply) -> SendResult:
            handed.set()
            await asyncio.Event().wait()  # the process dies here, the reply in the channel
            return SendResult(ok=True)

    dying = asyncio.create_task(
        Sender(runtime.sessions, {Channel.EMAIL: DiesHandingOver()}, clock).run_once()
    )
    await handed.wait()
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying

    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    healthy = FlakySender(Channel.EMAIL, failures=0)
    assert await Sender(runtime.sessions, {Channel.EMAIL: healthy}, clock).run_once() == 3

    rows = {r.id: r.status for r in await outbox_rows(runtime)}
    resent = {a.outbox_id for a in healthy.attempts}
    assert len(resent) == 3  # the three never attempted went, once each
    assert {rows[i] for i in resent} == {"sent"}
    assert [s for i, s in rows.items() if i not in resent] == ["uncertain"]


async def test_channels_without_an_adapter_keep_their_replies_pending(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await owe_one(runtime, clock)
    sender = Sender(runtime.sessions, {}, clock)
    assert await sender.run_once() == 0
    assert (await outbox_row(runtime)).status == "pending"


class _SlowFirst(FlakySender):
    """Its first hand-over outlasts the lease: meanwhile another process's sender runs."""

    def __init__(self, clock: VirtualClock, meanwhile: Sender) -> None:
        super().__init__(Channel.EMAIL, failures=0)
        self._clock, self._meanwhile = clock, meanwhile

    async def send(self, reply: OutboundReply) -> SendResult:
        if not self.attempts:
            self._clock.set(self._clock.now() + LEASE + timedelta(seconds=1))
            await self._meanwhile.run_once()
        return await super().send(reply)


async def test_a_pass_that_outlives_its_lease_leaves_what_another_sender_took(
    runtime: Runtime, clock: VirtualClock
) -> None:
    for n in range(2):
        await runtime.ingest.accept(complaint(f"slow{n}@example.it", BROKEN, clock.now()))
    await runtime.worker.drain()
    other = FlakySender(Channel.EMAIL, failures=0)
    slow = _SlowFirst(clock, Sender(runtime.sessions, {Channel.EMAIL: other}, clock))

    await Sender(runtime.sessions, {Channel.EMAIL: slow}, clock).run_once()

    assert [r.to for r in slow.attempts] == ["slow0@example.it"]
    assert [r.to for r in other.attempts] == ["slow1@example.it"]  # given back, sent once
    async with runtime.sessions() as session:
        statuses = dict(
            (await session.execute(select(OutboxReply.address, OutboxReply.status))).all()
        )
    assert statuses == {"slow0@example.it": "sent", "slow1@example.it": "sent"}
