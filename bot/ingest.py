"""The front door of the stream: make a message durable, then hand it to the workers.

A provider gets its 2xx only after the INSERT has committed; (channel,
external_id) is unique, so a provider's retry is recognised and answered the
same way instead of being stored twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from sqlalchemy import Insert, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.domain import Accepted, InboundMessage
from bot.models import Message
from bot.stream import Stream

log = logging.getLogger(__name__)


def _row(msg: InboundMessage, clock: Clock) -> dict[str, object]:
    return {
        "channel": msg.channel.value, "external_id": msg.external_id, "sender": msg.sender,
        "display_name": msg.display_name, "subject": msg.subject, "text": msg.text,
        "thread_refs": msg.thread_refs, "received_at": msg.received_at,
        "attachments": [a.model_dump() for a in msg.attachments], "raw": msg.raw,
        "language": msg.language, "created_at": clock.now(), "reason": "", "scores": {},
        "automated": msg.automated, "edit_of": msg.edit_of,
    }


_EXISTING = select(Message.id, Message.decision).where(
    Message.channel == bindparam("channel"), Message.external_id == bindparam("external_id"))


def _insert_new(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: None back means a provider's retry."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(Message).on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(Message.id))


class Ingest:
    """Every POST runs this, so the statements are built once, on a bare connection."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], stream: Stream,
                 clock: Clock) -> None:
        self._sessions = sessions
        self._stream = stream
        self._clock = clock
        engine: AsyncEngine = sessions.kw["bind"]  # the engine the sessions are made on
        self._insert = _insert_new(engine.dialect.name)
        if engine.dialect.name == "postgresql":
            # One INSERT is atomic on its own: no BEGIN and COMMIT round trips around it.
            self._connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]] = (
                engine.execution_options(isolation_level="AUTOCOMMIT").connect)
        else:  # SQLite writers queue on the BEGIN IMMEDIATE of bot/db.py: keep it
            self._connect = engine.begin

    async def accept(self, msg: InboundMessage) -> Accepted:
        async with self._connect() as connection:
            new_id = (await connection.execute(self._insert, _row(msg, self._clock))
                      ).scalar_one_or_none()
            if new_id is None:
                existing = (await connection.execute(_EXISTING, {
                    "channel": msg.channel.value, "external_id": msg.external_id})).one()
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
