"""The stream worker under crashes, races and poison: nothing lost, nothing answered twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Decision, OutboundReply
from bot.stages.pipeline import Outcome, Pipeline
from bot.stages.worker import Worker
from bot.store.models import Message, OutboxReply, Ticket
from tests.helpers import KeywordClassifier, complaint, poison_message

BROKEN = "Il mio inverter si è guastato di nuovo, voglio la sostituzione."


def second_worker(runtime: Runtime, name: str, claim_idle_ms: int = 0) -> Worker:
    """Another consumer of the same group, as a second process would be."""
    return Worker(
        runtime.stream,
        runtime.pipeline,
        consumer=name,
        batch_size=10,
        block_ms=10,
        claim_idle_ms=claim_idle_ms,
    )


async def count_rows(runtime: Runtime, model: type[object]) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_entries_of_a_worker_that_died_before_deciding_are_claimed(
    runtime: Runtime, clock: VirtualClock
) -> None:
    for n in range(5):
        await runtime.ingest.accept(complaint(f"c{n}@example.it", BROKEN, clock.now()))
    taken = await runtime.stream.read("doomed-worker", 10, None)  # read, then "crash"
    assert len(taken) == 5
    assert await runtime.stream.pending_count() == 5
    outcomes = await second_worker(runtime, "rescuer").run_once(block=False, claim=True)
    assert sorted(o.decision for o in outcomes) == [Decision.ANSWERED] * 5
    assert await runtime.stream.pending_count() == 0
    assert await count_rows(runtime, OutboxReply) == 5


async def test_a_batch_committed_but_not_acked_is_not_answered_twice(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    accepted = await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    entries = await runtime.stream.read("doomed-worker", 10, None)
    await runtime.pipeline.process([e.message_id or 0 for e in entries])  # commit, then "crash"
    again = await second_worker(runtime, "rescuer").run_once(block=False, claim=True)
    assert again == []  # already decided: acked without a second decision
    assert await runtime.stream.pending_count() == 0
    await runtime.sender.run_once()
    assert [r.ticket_ref for r in captured.values()] == ["C-2026-000001"]
    async with runtime.sessions() as session:
        row = await session.get_one(Message, accepted.message_id)
    assert row.decision == Decision.ANSWERED


async def test_a_crash_between_throttle_and_commit_keeps_the_answer(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """The Lua call remembers its verdict per message, so the retry still owes the reply."""
    accepted = await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    await runtime.worker.drain()
    retry = await runtime.ingest.accept(
        complaint("a@example.it", "Ho anche il numero d'ordine: ordine n. 4500123987", clock.now())
    )
    async with runtime.sessions() as session:  # the dying worker's throttle call
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
    verdict = await runtime.throttle.decide(
        customer_id=ticket.customer_id,
        message_id=str(retry.message_id),
        ticket_id=ticket.id,
        state_version=2,
        text="Ho anche il numero d'ordine",
        now=clock.now(),
        limits=runtime.policy.current.throttle,
    )
    assert verdict.decision is Decision.ANSWERED
    outcomes = await runtime.worker.drain()  # the message is decided for real now
    assert [o.decision for o in outcomes] == [Decision.ANSWERED]
    assert outcomes[0].message_id == retry.message_id != accepted.message_id
    assert await count_rows(runtime, OutboxReply) == 2


async def test_two_workers_racing_open_one_ticket_per_customer_and_answer_once(
    runtime: Runtime, clock: VirtualClock
) -> None:
    for n in range(24):
        await runtime.ingest.accept(
            complaint(
                f"c{n % 3}@example.it", f"{BROKEN} Messaggio numero {n} " + "!" * n, clock.now()
            )
        )
    one, two = second_worker(runtime, "w1"), second_worker(runtime, "w2")
    one.batch_size = two.batch_size = 4
    results = await asyncio.gather(one.drain(), two.drain())
    decided = [o for batch in results for o in batch]
    assert len(decided) == 24
    assert len({o.message_id for o in decided}) == 24
    assert await count_rows(runtime, Ticket) == 3
    assert await count_rows(runtime, OutboxReply) == 3
    assert sum(o.decision is Decision.ANSWERED for o in decided) == 3


async def test_a_poison_stream_entry_is_acked_and_skipped(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await runtime.redis.xadd(runtime.keys.stream, {"garbage": "yes"})
    await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    outcomes = await runtime.worker.drain()
    assert [o.decision for o in outcomes] == [Decision.ANSWERED]
    assert await runtime.stream.pending_count() == 0


async def test_a_poison_message_is_stored_as_error_and_its_batch_goes_on(
    runtime: Runtime, clock: VirtualClock
) -> None:
    good = await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    bad_id = await poison_message(runtime, clock.now())
    outcomes = {o.message_id: o for o in await runtime.worker.drain()}
    assert outcomes[good.message_id].decision is Decision.ANSWERED
    assert outcomes[bad_id].decision is Decision.ERROR
    assert "fax" in outcomes[bad_id].reason
    async with runtime.sessions() as session:
        stored = await session.get_one(Message, bad_id)
    assert stored.decision == "error"
    assert await runtime.stream.pending_count() == 0


async def test_a_message_committed_but_never_streamed_is_requeued(
    runtime: Runtime, clock: VirtualClock
) -> None:
    accepted = await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    await runtime.redis.delete(runtime.keys.stream)  # as if XADD never happened
    await runtime.stream.ensure_group()
    assert await runtime.worker.drain() == []
    clock.set(clock.now() + timedelta(minutes=5))
    assert await runtime.ingest.requeue_stranded(timedelta(minutes=1)) == 1
    outcomes = await runtime.worker.drain()
    assert [(o.message_id, o.decision) for o in outcomes] == [
        (accepted.message_id, Decision.ANSWERED)
    ]


async def test_the_classifier_sees_each_batch_once(runtime: Runtime, clock: VirtualClock) -> None:
    classifier = KeywordClassifier("idiots")
    pipeline = Pipeline(runtime.sessions, runtime.throttle, classifier, runtime.policy, clock)
    for n in range(7):
        await runtime.ingest.accept(complaint(f"c{n}@example.it", BROKEN, clock.now()))
    worker = Worker(
        runtime.stream, pipeline, consumer="classified", batch_size=5, block_ms=10, claim_idle_ms=0
    )
    await worker.drain()
    assert classifier.batches == [5, 2]


async def test_a_batch_read_twice_before_its_decision_is_decided_once(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """The running worker reads the next batch while this one is decided: a message streamed
    twice (requeued while its first entry was in flight) can be in both."""
    accepted = await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    first = await runtime.pipeline.read([accepted.message_id])
    again = await runtime.pipeline.read([accepted.message_id])
    assert [o.decision for o in await runtime.pipeline.decide(first)] == [Decision.ANSWERED]
    assert await runtime.pipeline.decide(again) == []
    assert await count_rows(runtime, Ticket) == 1
    assert await count_rows(runtime, OutboxReply) == 1


async def test_the_running_worker_reads_ahead_yet_decides_in_stream_order(
    runtime: Runtime, clock: VirtualClock
) -> None:
    texts = [
        BROKEN,
        f"{BROKEN} Ancora!",
        "Il numero d'ordine: ordine n. 4500123987",
        "Perché nessuno risponde? Sono passati giorni e il mio impianto è fermo.",
    ]
    ids = []
    for text in texts:
        ids.append(
            (await runtime.ingest.accept(complaint("a@example.it", text, clock.now()))).message_id
        )
        if len(ids) == 1:
            await runtime.stream.add(ids[0])  # the first one streamed twice, right after itself
    worker = second_worker(runtime, "ahead")
    worker.batch_size = 1
    seen: list[int] = []
    stop = asyncio.Event()

    async def record(outcomes: list[Outcome]) -> None:
        seen.extend(o.message_id for o in outcomes)
        if seen[-1] == ids[-1]:
            stop.set()

    worker.on_outcomes = record
    await asyncio.wait_for(worker.run(stop), timeout=30)
    assert seen == ids
    assert await count_rows(runtime, Ticket) == 1
    async with runtime.sessions() as session:
        decisions = list(await session.scalars(select(Message.decision).order_by(Message.id)))
    assert decisions == ["answered", "collapsed", "answered", "collapsed"]


async def test_four_running_workers_on_the_same_new_customers_record_no_error(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """Batches of the same new senders in different orders: on PostgreSQL they deadlock
    now and then, which is a conflict to decide again, never the messages' `error`."""
    senders = [f"crowd{n}@example.it" for n in range(40)]
    total = 0
    for round_ in range(8):
        ordered = senders if round_ % 2 == 0 else senders[::-1]
        for sender in ordered:
            total += 1
            text = f"{BROKEN} Ordine {total}, " + " ".join(["ancora"] * (total % 7))
            await runtime.ingest.accept(complaint(sender, text, clock.now()))
    workers = [second_worker(runtime, f"crowd-w{n}") for n in range(4)]
    decided: list[Decision] = []
    all_in = asyncio.Event()

    async def told(outcomes: list[Outcome]) -> None:
        decided.extend(o.decision for o in outcomes)
        if len(decided) >= total:
            all_in.set()

    stop = asyncio.Event()
    for worker in workers:
        worker.batch_size, worker.on_outcomes = 25, told
    running = [asyncio.create_task(w.run(stop, runtime.ingest)) for w in workers]
    try:
        await asyncio.wait_for(all_in.wait(), 120)
    finally:
        stop.set()
        await asyncio.gather(*running)

    assert Decision.ERROR not in decided
    assert len(decided) == total
    assert await count_rows(runtime, Ticket) == len(senders)
    assert await count_rows(runtime, OutboxReply) == len(senders)
