"""The front door of the stream: make a message durable, then hand it to the workers.

A provider gets its 2xx only after the INSERT has committed; (channel,
external_id) is unique, so a provider's retry is recognised and answered the
same way instead of being stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.domain import InboundMessage
from bot.models import Message
from bot.stream import Stream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    message_id: int
    duplicate: bool


def _row(msg: InboundMessage, clock: Clock) -> dict[str, object]:
    return {
        "channel": msg.channel.value, "external_id": msg.external_id, "sender": msg.sender,
        "display_name": msg.display_name, "subject": msg.subject, "text": msg.text,
        "thread_refs": msg.thread_refs, "received_at": msg.received_at,
        "attachments": [a.model_dump() for a in msg.attachments], "raw": msg.raw,
        "language": msg.language, "created_at": clock.now(), "reason": "", "scores": {},
    }


class Ingest:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], stream: Stream,
                 clock: Clock) -> None:
        self._sessions = sessions
        self._stream = stream
        self._clock = clock

    async def accept(self, msg: InboundMessage) -> Accepted:
        async with self._sessions.begin() as session:
            new_id = await _insert_new(session, _row(msg, self._clock))
            if new_id is None:
                existing = (await session.execute(
                    select(Message.id, Message.decision).where(
                        Message.channel == msg.channel.value,
                        Message.external_id == msg.external_id))).one()
        if new_id is not None:
            await self._stream.add(new_id)
            return Accepted(new_id, duplicate=False)
        if existing.decision is None:
            # The first delivery may have committed and died before XADD: hand it on again.
            await self._stream.add(existing.id)
        return Accepted(existing.id, duplicate=True)

    async def requeue_stranded(self, older_than: timedelta, limit: int = 1000) -> int:
        """Re-add messages committed but never decided (a crash between INSERT and XADD)."""
        cutoff = self._clock.now() - older_than
        async with self._sessions() as session:
            ids = list(await session.scalars(
                select(Message.id).where(Message.decision.is_(None), Message.created_at < cutoff)
                .order_by(Message.id).limit(limit)))
        for message_id in ids:
            await self._stream.add(message_id)
        if ids:
            log.warning("requeued stranded messages", extra={"count": len(ids)})
        return len(ids)


async def _insert_new(session: AsyncSession, row: dict[str, object]) -> int | None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (insert(Message).values(**row)
                 .on_conflict_do_nothing(index_elements=["channel", "external_id"])
                 .returning(Message.id))
    return (await session.execute(statement)).scalar_one_or_none()
