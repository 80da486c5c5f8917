"""The ingest's group commit: concurrent messages share a write, and each gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Accepted, Channel, InboundMessage
from bot.store.models import Message
from tests.conftest import START
from tests.helpers import complaint, stored_messages


async def stored(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Message)) or 0


@contextmanager
def message_inserts(runtime: Runtime) -> Iterator[list[str]]:
    """The INSERT statements into messages sent while inside (SQLAlchemy's own event hook:
    instrumentation of the driver calls, not a patch of the ingest)."""
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            statements.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


# The database itself refuses one row: a trigger, as a constraint or a disk error would.
_REFUSE_POISON = {
    "sqlite": [
        """CREATE TRIGGER refuse_poison BEFORE INSERT ON messages
                  WHEN NEW.text = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"""
    ],
    "postgresql": [
        """CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN
                        IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF;
                        RETURN NEW;
                      END $$""",
        """CREATE TRIGGER refuse_poison BEFORE INSERT ON messages
                      FOR EACH ROW EXECUTE FUNCTION refuse_poison()""",
    ],
}


async def refuse_poison(runtime: Runtime) -> None:
    async with runtime.engine.begin() as connection:
        for statement in _REFUSE_POISON[runtime.engine.dialect.name]:
            await connection.execute(text(statement))


async def test_a_bad_message_fails_alone_and_the_rest_of_its_batch_is_stored(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await refuse_poison(runtime)
    burst = [
        complaint(
            f"c{i}@example.com",
            "poison" if i == 4 else f"text {i}",
            clock.now(),
            external_id=f"b{i}",
        )
        for i in range(10)
    ]
    with message_inserts(runtime) as inserts:
        outcomes = await asyncio.gather(
            *(runtime.ingest.accept(m) for m in burst), return_exceptions=True
        )
    # One INSERT for the burst, refused whole; then each message on its own.
    assert len(inserts) == 1 + len(burst)
    bad = outcomes.pop(4)
    assert isinstance(bad, DBAPIError)
    assert "poisoned row" in str(bad)
    accepted = [o for o in outcomes if isinstance(o, Accepted)]
    assert len(accepted) == 9
    assert not any(a.duplicate for a in accepted)
    assert sorted(m.text for m in await stored_messages(runtime)) == sorted(
        f"text {i}" for i in range(10) if i != 4
    )
    decided = await runtime.worker.drain()  # each stored one is on the stream, once
    assert sorted(o.message_id for o in decided) == sorted(a.message_id for a in accepted)


async def test_a_batch_whose_only_message_fails_reports_it(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await refuse_poison(runtime)
    with message_inserts(runtime) as inserts, pytest.raises(DBAPIError, match="poisoned row"):
        await runtime.ingest.accept(complaint("a@example.com", "poison", clock.now()))
    assert len(inserts) == 1  # alone, it is not tried twice
    assert await stored(runtime) == 0
    later = await runtime.ingest.accept(complaint("a@example.com", "fine", clock.now()))
    assert not later.duplicate  # the writer lives on after a failure


async def test_concurrent_accepts_share_one_insert(runtime: Runtime, clock: VirtualClock) -> None:
    burst = [complaint(f"c{i}@example.com", f"text {i}", clock.now()) for i in range(25)]
    with message_inserts(runtime) as inserts:
        answers = await asyncio.gather(*(runtime.ingest.accept(m) for m in burst))
    assert len(inserts) == 1
    assert len({a.message_id for a in answers}) == 25
    assert await stored(runtime) == 25
    assert len(await runtime.worker.drain()) == 25


async def test_messages_arriving_during_a_write_share_the_next_one(
    runtime: Runtime, clock: VirtualClock
) -> None:
    in_flight = asyncio.Event()

    def first_insert_sent(_conn: object, _cursor: object, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            in_flight.set()  # the hook runs on the loop's thread, in SQLAlchemy's greenlet

    engine = runtime.engine.sync_engine
    with message_inserts(runtime) as inserts:
        event.listen(engine, "before_cursor_execute", first_insert_sent)
        first = asyncio.create_task(
            runtime.ingest.accept(complaint("a@example.com", "first", clock.now()))
        )
        await in_flight.wait()
        event.remove(engine, "before_cursor_execute", first_insert_sent)
        assert not first.done()
        later = [complaint(f"c{i}@example.com", f"text {i}", clock.now()) for i in range(10)]
        answers = await asyncio.gather(*(runtime.ingest.accept(m) for m in later))
        await first
    assert len(inserts) == 2  # the one in flight, and one for all that came during it
    assert len({a.message_id for a in answers}) == 10
    assert await stored(runtime) == 11


async def test_concurrent_messages_are_each_stored_once_and_queued_once(
    runtime: Runtime, clock: VirtualClock
) -> None:
    first = await runtime.ingest.accept(
        complaint("a@example.com", "first", clock.now(), external_id="seen")
    )
    messages = [
        complaint(f"c{i}@example.com", f"text {i}", clock.now(), external_id=f"m{i}")
        for i in range(60)
    ]
    # The same message twice in the burst, and a retry of one stored before it.
    burst = [
        *messages,
        messages[7],
        complaint("a@example.com", "first", clock.now(), external_id="seen"),
    ]
    answers = await asyncio.gather(*(runtime.ingest.accept(m) for m in burst))
    assert [a.duplicate for a in answers[:60]] == [False] * 60
    assert len({a.message_id for a in answers[:60]}) == 60
    assert (answers[60].message_id, answers[60].duplicate) == (answers[7].message_id, True)
    assert answers[61].message_id == first.message_id
    assert answers[61].duplicate
    assert await stored(runtime) == 61
    outcomes = await runtime.worker.drain()
    # Each stored message decided once: the retry of the undecided "seen" was queued again,
    # and deciding it twice decides it once.
    assert sorted(o.message_id for o in outcomes) == sorted(
        {first.message_id, *(a.message_id for a in answers[:60])}
    )


async def test_nul_characters_are_stored_as_a_visible_mark(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """PostgreSQL refuses NUL in text: kept as U+FFFD rather than a 503 that loses the text."""
    msg = InboundMessage(
        channel=Channel.WEBFORM,
        external_id="n1",
        sender="a@b.c",
        text="broken\x00inverter",
        raw={"k\x00": "v\x00"},
        received_at=clock.now(),
    )
    accepted = await runtime.ingest.accept(msg)
    async with runtime.sessions() as session:
        row = await session.get_one(Message, accepted.message_id)
    assert (row.text, row.raw) == ("broken\ufffdinverter", {"k\ufffd": "v\ufffd"})


def test_nul_in_an_identifier_is_refused() -> None:
    for field in ("external_id", "sender"):
        values = {
            "channel": "webform",
            "external_id": "n1",
            "sender": "a@b.c",
            "received_at": START,
            field: "x\x00y",
        }
        with pytest.raises(ValidationError, match="must not contain NUL"):
            InboundMessage.model_validate(values)
