"""What no automation will finish and staff must: messages the pipeline could not decide
(recorded `error`, the same failure on every retry) and replies that did not reach the
customer (`uncertain` after a crash mid hand-over, `failed`, or needing another channel).

Outages never land here: they leave messages pending and replies due (bot.store.outages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.domain import Decision
from bot.store.models import Message, OutboxReply, Ticket

# Replies that will not go out by themselves.
UNDELIVERED = ("uncertain", "failed", "needs_other_channel")
LIMIT = 200


@dataclass(frozen=True)
class FailedMessage:
    id: int
    channel: str
    sender: str
    received_at: datetime
    reason: str
    text: str


@dataclass(frozen=True)
class UndeliveredReply:
    id: int
    ticket_ref: str | None
    channel: str
    address: str
    status: str
    last_error: str
    created_at: datetime


@dataclass(frozen=True)
class Attention:
    messages: list[FailedMessage]
    replies: list[UndeliveredReply]
    counts: dict[str, int]  # all of each kind, beyond the newest LIMIT shown


async def gather(session: AsyncSession, limit: int = LIMIT) -> Attention:
    failed = Message.decision == Decision.ERROR.value
    messages = [
        FailedMessage(m.id, m.channel, m.sender, m.received_at, m.reason or "", m.text[:300])
        for m in await session.scalars(
            select(Message).where(failed).order_by(Message.id.desc()).limit(limit)
        )
    ]
    rows = await session.execute(
        select(OutboxReply, Ticket.ref)
        .outerjoin(Ticket, Ticket.id == OutboxReply.ticket_id)
        .where(OutboxReply.status.in_(UNDELIVERED))
        .order_by(OutboxReply.id.desc())
        .limit(limit)
    )
    replies = [
        UndeliveredReply(
            r.id, ref, r.channel, r.address, r.status, r.last_error or "", r.created_at
        )
        for r, ref in rows
    ]
    undelivered = await session.execute(
        select(OutboxReply.status, func.count())
        .where(OutboxReply.status.in_(UNDELIVERED))
        .group_by(OutboxReply.status)
    )
    counts = {
        "error": await session.scalar(select(func.count()).where(failed)) or 0,
        **dict(undelivered.all()),
    }
    return Attention(messages, replies, counts)
