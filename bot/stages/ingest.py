"""The front door of the stream: make a message durable, then hand it to the workers.

A provider gets its 2xx only after the INSERT has committed; (channel,
external_id) is unique, so a provider's retry is recognised and answered the
same way instead of being stored twice.

Group commit: messages that arrive while a write is in flight wait for it and go
together in the next one (one INSERT, one pipelined XADD). Alone, a message is
written at once; under load, a web process pays one round trip per batch
instead of one per message. If a batch fails, its messages are written one by
one, so a single bad one fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Insert, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import Accepted, InboundMessage
from bot.contract.log_context import bind, detached
from bot.stages.stream import Stream
from bot.store.db import insert_ignoring_conflicts, single_statement_writes
from bot.store.models import Message

log = logging.getLogger(__name__)


def _row(msg: InboundMessage, clock: Clock) -> dict[str, object]:
    return {
        "channel": msg.channel.value,
        "external_id": msg.external_id,
        "sender": msg.sender,
        "display_name": msg.display_name,
        "subject": msg.subject,
        "text": msg.text,
        "thread_refs": msg.thread_refs,
        "received_at": msg.received_at,
        "attachments": [a.model_dump() for a in msg.attachments],
        "raw": msg.raw,
        "language": msg.language,
        "created_at": clock.now(),
        "reason": "",
        "scores": {},
        "automated": msg.automated,
        "sender_unproven": msg.sender_unproven,
        "edit_of": msg.edit_of,
        "details": msg.details or None,
    }


# A received_at further than this from the bot's clock is a wrong clock or a lie: a year
# 9999 does not fit the store, a year 0001 makes every SLA date overdue at once.
PLAUSIBLE = timedelta(days=1)


def plausible(msg: InboundMessage, now: datetime) -> InboundMessage:
    """`msg`, or a copy received `now` whose raw payload keeps the time it gave."""
    if now - PLAUSIBLE <= msg.received_at <= now + PLAUSIBLE:
        return msg
    raw = {**msg.raw, "given_received_at": msg.received_at.isoformat()}
    return msg.model_copy(update={"received_at": now, "raw": raw})


_EXISTING = select(Message.id, Message.decision).where(
    Message.channel == bindparam("channel"), Message.external_id == bindparam("external_id")
)


def _insert_new(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: a row missing from RETURNING is a provider's retry."""
    return insert_ignoring_conflicts(Message, ["channel", "external_id"], dialect).returning(
        Message.id, Message.channel, Message.external_id
    )


MAX_BATCH = 500
_REQUEUE_PAGE = 1000
_Waiting = tuple[InboundMessage, "asyncio.Future[Accepted]"]


class Ingest:
    """Every POST runs this, so the statements are built once, on a bare connection."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], stream: Stream, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._stream = stream
        self._clock = clock
        engine: AsyncEngine = sessions.kw["bind"]  # the engine the sessions are made on
        self._insert = _insert_new(engine.dialect.name)
        self._connect = single_statement_writes(engine)  # each write is one INSERT

        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, msg: InboundMessage) -> Accepted:
        """Durable (committed and on the stream) when this returns."""
        msg = plausible(msg, self._clock.now())
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting.append((msg, future))
        if self._writer is None or self._writer.done():
            # It writes whoever waits, so it carries none of this caller's log fields.
            self._writer = asyncio.create_task(self._write_waiting(), context=detached())
        return await future

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                outcomes: Sequence[Accepted | BaseException] = await self._write(
                    [msg for msg, _ in batch]
                )
            except Exception as exc:
                if len(batch) == 1:
                    outcomes = [exc]
                else:  # find the one that spoils it: the others must not fail with it
                    outcomes = await asyncio.gather(
                        *(self._write_one(msg) for msg, _ in batch), return_exceptions=True
                    )
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its request was cancelled: the message is stored anyway
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _write_one(self, msg: InboundMessage) -> Accepted:
        with bind(channel=msg.channel.value, external_id=msg.external_id):
            [accepted] = await self._write([msg])
        return accepted

    async def _write(self, msgs: Sequence[InboundMessage]) -> list[Accepted]:
        keys = [(msg.channel.value, msg.external_id) for msg in msgs]
        fresh: dict[tuple[str, str], InboundMessage] = {}
        for key, msg in zip(keys, msgs, strict=True):
            fresh.setdefault(key, msg)  # the same message twice in one batch: stored once
        async with self._connect() as connection:
            result = await connection.execute(
                self._insert, [_row(msg, self._clock) for msg in fresh.values()]
            )
            new = {(row.channel, row.external_id): row.id for row in result}
            seen = {
                key: (
                    await connection.execute(_EXISTING, {"channel": key[0], "external_id": key[1]})
                ).one()
                for key in fresh
                if key not in new
            }
        # A message seen before but never decided may have committed and died before its
        # XADD: hand it on again (deciding twice is harmless, losing it is not).
        await self._stream.add_many(
            [*new.values(), *(row.id for row in seen.values() if row.decision is None)]
        )
        ids = new | {key: row.id for key, row in seen.items()}
        answered: set[tuple[str, str]] = set()
        accepted = []
        for key in keys:  # only the first copy of a message this batch stored is new
            accepted.append(Accepted(ids[key], duplicate=key not in new or key in answered))
            answered.add(key)
        return accepted

    async def requeue_stranded(self, older_than: timedelta, limit: int | None = 1000) -> int:
        """Re-add messages committed but never decided: a crash between INSERT and XADD,
        an outage, a Redis that lost its stream. `limit` None: all of them, in pages."""
        cutoff, after, count = self._clock.now() - older_than, 0, 0
        while limit is None or count < limit:
            page = _REQUEUE_PAGE if limit is None else min(_REQUEUE_PAGE, limit - count)
            async with self._sessions() as session:
                ids = list(
                    await session.scalars(
                        select(Message.id)
                        .where(
                            Message.decision.is_(None),
                            Message.created_at <= cutoff,
                            Message.id > after,
                        )
                        .order_by(Message.id)
                        .limit(page)
                    )
                )
            if not ids:
                break
            await self._stream.add_many(ids)
            after, count = ids[-1], count + len(ids)
        if count:
            log.warning("requeued stranded messages", extra={"count": count})
        return count
