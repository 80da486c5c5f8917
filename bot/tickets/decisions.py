"""The pipeline's decision about one stored message, for the channel that took it in.

The site chat shows a held message's neutral notice, or a short receipt for a message
that added to a ticket without changing it, once the worker decided: replies come
through the outbox, but a held or collapsed message gets none (DecisionLookup).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.domain import Channel, Decision
from bot.store.models import Message


class MessageDecisions:
    """DecisionLookup on the messages table (unique on channel + external id)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def decision_of(self, channel: Channel, external_id: str) -> Decision | None:
        async with self._sessions() as session:
            value = await session.scalar(
                select(Message.decision).where(
                    Message.channel == channel.value, Message.external_id == external_id
                )
            )
        try:
            return None if value is None else Decision(value)
        except ValueError:
            return None
