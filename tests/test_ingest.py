"""The ingest's group commit: concurrent messages share a write, and each gets its own answer."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, InboundMessage
from bot.store.models import Message
from tests.conftest import START
from tests.helpers import complaint


async def stored(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Message)) or 0


async def test_concurrent_messages_are_each_stored_once_and_queued_once(
        runtime: Runtime, clock: VirtualClock) -> None:
    first = await runtime.ingest.accept(complaint("a@example.com", "first", clock.now(),
                                                  external_id="seen"))
    messages = [complaint(f"c{i}@example.com", f"text {i}", clock.now(), external_id=f"m{i}")
                for i in range(60)]
    # The same message twice in the burst, and a retry of one stored before it.
    burst = [*messages, messages[7], complaint("a@example.com", "first", clock.now(),
                                               external_id="seen")]
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
        {first.message_id, *(a.message_id for a in answers[:60])})


async def test_nul_characters_are_stored_as_a_visible_mark(runtime: Runtime,
                                                           clock: VirtualClock) -> None:
    """PostgreSQL refuses NUL in text: kept as U+FFFD rather than a 503 that loses the text."""
    msg = InboundMessage(channel=Channel.WEBFORM, external_id="n1", sender="a@b.c",
                         text="broken\x00inverter", raw={"k\x00": "v\x00"},
                         received_at=clock.now())
    accepted = await runtime.ingest.accept(msg)
    async with runtime.sessions() as session:
        row = await session.get_one(Message, accepted.message_id)
    assert (row.text, row.raw) == ("broken\ufffdinverter", {"k\ufffd": "v\ufffd"})


def test_nul_in_an_identifier_is_refused() -> None:
    for field in ("external_id", "sender"):
        values = {"channel": "webform", "external_id": "n1", "sender": "a@b.c",
                  "received_at": START, field: "x\x00y"}
        with pytest.raises(ValidationError, match="must not contain NUL"):
            InboundMessage.model_validate(values)
