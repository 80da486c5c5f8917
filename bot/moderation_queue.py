"""The moderators' queue: flagged messages wait here for a human decision.

Release puts the message back on the stream as if it were clean, so it may open
a ticket and get its one reply; confirm leaves it unanswered. Both are audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import audit
from bot.clock import Clock
from bot.errors import IntakeError
from bot.models import Message, ModerationItem
from bot.stream import Stream


@dataclass(frozen=True)
class Resolution:
    message_id: int
    status: str


class ModerationQueue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], stream: Stream,
                 clock: Clock) -> None:
        self._sessions = sessions
        self._stream = stream
        self._clock = clock

    async def release(self, message_id: int, actor: str) -> Resolution:
        async with self._sessions.begin() as session:
            item, message = await self._pending(session, message_id)
            item.status = "released"
            message.decision, message.reason = None, "released by a moderator"
            self._close(session, item, actor, "moderation.release")
        await self._stream.add(message_id)
        return Resolution(message_id, "released")

    async def confirm(self, message_id: int, actor: str) -> Resolution:
        async with self._sessions.begin() as session:
            item, _message = await self._pending(session, message_id)
            item.status = "confirmed"
            self._close(session, item, actor, "moderation.confirm")
        return Resolution(message_id, "confirmed")

    async def _pending(self, session: AsyncSession,
                       message_id: int) -> tuple[ModerationItem, Message]:
        item = await session.scalar(
            select(ModerationItem).where(ModerationItem.message_id == message_id))
        if item is None:
            raise IntakeError(f"message {message_id} is not in the moderation queue")
        if item.status != "pending":
            raise IntakeError(f"message {message_id} was already {item.status}")
        return item, await session.get_one(Message, message_id)

    def _close(self, session: AsyncSession, item: ModerationItem, actor: str,
               action: str) -> None:
        now = self._clock.now()
        item.decided_at, item.decided_by = now, actor
        audit.record(session, at=now, actor=actor, action=action, target=str(item.message_id))
