"""What the channels page shows beside each switch: the last hour's messages per decision."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.models import Message

WINDOW = timedelta(hours=1)


async def last_hour(
    sessions: async_sessionmaker[AsyncSession], now: datetime
) -> dict[str, dict[str, int]]:
    """channel -> decision -> messages received in the hour before `now` ('pending' for
    those not decided yet)."""
    async with sessions() as session:
        rows = await session.execute(
            select(Message.channel, Message.decision, func.count())
            .where(Message.received_at > now - WINDOW, Message.received_at <= now)
            .group_by(Message.channel, Message.decision)
        )
        counts: dict[str, dict[str, int]] = {}
        for channel, decision, count in rows:
            counts.setdefault(channel, {})[decision or "pending"] = int(count)
        return counts
