"""The moderators' queue: flagged messages wait here for a human decision.

Release puts the message back on the stream as if it were clean, so it may open
a ticket and get its one reply; confirm leaves it unanswered; block keeps the
sender's further messages stored but unanswered for N days. All are audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.errors import IntakeError
from bot.stages.stream import Stream
from bot.store import audit
from bot.store.models import Customer, Identity, Message, ModerationItem, Ticket

STATUSES = ("pending", "released", "confirmed")
MAX_BLOCK_DAYS = 3650
ORDERS = ("oldest", "worst")
_Query = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class Filters:
    """What a moderator narrows the queue to; empty means any."""

    channel: str = ""
    label: str = ""
    language: str = ""
    waited_hours: int = 0  # only items held at least this long
    order: str = "oldest"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str  # '' on the last page
    pending: int = 0
    facets: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolution:
    message_id: int
    status: str
    blocked_until: datetime | None = None


def _view(
    item: ModerationItem, message: Message, ref: str | None, claims: int | None
) -> dict[str, Any]:
    """`claims`: the customer the sender said it was, shown as a claim, never as who it is."""
    return {
        "message_id": message.id,
        "status": item.status,
        "labels": item.labels,
        "scores": item.scores,
        "reasons": item.reasons,
        "channel": message.channel,
        "sender": message.sender,
        "display_name": message.display_name,
        "subject": message.subject,
        "text": message.text,
        "customer_id": message.customer_id,
        "ticket": ref,
        "claims_customer_id": claims,
        "received_at": message.received_at.isoformat(),
        "created_at": item.created_at.isoformat(),
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "decided_by": item.decided_by,
    }


class ModerationQueue:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], stream: Stream, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._stream = stream
        self._clock = clock

    async def items(
        self, status: str = "pending", limit: int = 50, after_id: int = 0
    ) -> list[dict[str, Any]]:
        """Oldest first, so moderators work the queue in arrival order; paged by message id."""
        if status not in STATUSES:
            raise IntakeError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
        query = (
            select(ModerationItem, Message, Ticket.ref, Customer.claims_customer_id)
            .join(Message, Message.id == ModerationItem.message_id)
            .outerjoin(Ticket, Ticket.id == Message.ticket_id)
            .outerjoin(Customer, Customer.id == Message.customer_id)
            .where(ModerationItem.status == status, ModerationItem.message_id > after_id)
            .order_by(ModerationItem.message_id)
            .limit(max(1, min(limit, 500)))
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [_view(*row) for row in rows]

    async def page(self, filters: Filters, cursor: str = "", limit: int = 25) -> Page:
        """One page of the pending queue, oldest or worst first, by keyset (an index walk:
        no OFFSET, no full scan), each item with its sender's identity as proven."""
        if filters.order not in ORDERS:
            raise IntakeError(f"unknown order {filters.order!r}; known: {', '.join(ORDERS)}")
        query = self._pending_query(filters)
        query = _after(query, filters.order, cursor)
        query = query.limit(limit + 1)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        more, rows = len(rows) > limit, rows[:limit]
        items = [{**_view(*row[:4]), "worst": row[0].worst, "verified": row[4]} for row in rows]
        last = rows[-1][0] if rows and more else None
        next_cursor = "" if last is None else _cursor(filters.order, last)
        return Page(items, next_cursor)

    def _pending_query(self, filters: Filters) -> _Query:
        query = (
            select(
                ModerationItem, Message, Ticket.ref, Customer.claims_customer_id, Identity.verified
            )
            .join(Message, Message.id == ModerationItem.message_id)
            .outerjoin(Ticket, Ticket.id == Message.ticket_id)
            .outerjoin(Customer, Customer.id == Message.customer_id)
            .outerjoin(Identity, Identity.id == Message.identity_id)
            .where(ModerationItem.status == "pending")
        )
        if filters.channel:
            query = query.where(Message.channel == filters.channel)
        if filters.language:
            query = query.where(Message.language == filters.language)
        if filters.label:
            query = query.where(ModerationItem.label_keys.contains(f",{filters.label},"))
        if filters.waited_hours > 0:
            since = self._clock.now() - timedelta(hours=filters.waited_hours)
            query = query.where(ModerationItem.created_at <= since)
        return query

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ModerationItem)
                .where(ModerationItem.status == "pending")
            )
        return int(count or 0)

    async def context(self, customer_id: int | None, message_id: int) -> dict[str, Any]:
        """What else the sender wrote and which tickets they have: the moderator's context."""
        if customer_id is None:
            return {"messages": [], "tickets": []}
        async with self._sessions() as session:
            messages = (
                await session.execute(
                    select(Message.id, Message.channel, Message.received_at, Message.text)
                    .add_columns(Message.decision)
                    .where(Message.customer_id == customer_id, Message.id != message_id)
                    .order_by(Message.id.desc())
                    .limit(10)
                )
            ).all()
            tickets = (
                await session.execute(
                    select(Ticket.ref, Ticket.status, Ticket.opened_at)
                    .where(Ticket.customer_id == customer_id)
                    .order_by(Ticket.id.desc())
                    .limit(10)
                )
            ).all()
        return {
            "messages": [m._asdict() for m in messages],
            "tickets": [t._asdict() for t in tickets],
        }

    async def item(self, message_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ModerationItem, Message, Ticket.ref, Customer.claims_customer_id)
                    .join(Message, Message.id == ModerationItem.message_id)
                    .outerjoin(Ticket, Ticket.id == Message.ticket_id)
                    .outerjoin(Customer, Customer.id == Message.customer_id)
                    .where(ModerationItem.message_id == message_id)
                )
            ).first()
        if row is None:
            raise IntakeError(f"message {message_id} is not in the moderation queue")
        return _view(*row)

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

    async def block(self, message_id: int, days: int, actor: str) -> Resolution:
        """Confirm the message and keep its sender unanswered for `days` days."""
        if not 1 <= days <= MAX_BLOCK_DAYS:
            raise IntakeError(f"days must be between 1 and {MAX_BLOCK_DAYS}")
        async with self._sessions.begin() as session:
            item, message = await self._pending(session, message_id)
            if message.customer_id is None:
                raise IntakeError(f"message {message_id} has no customer to block")
            customer = await session.get_one(Customer, message.customer_id)
            until = self._clock.now() + timedelta(days=days)
            customer.blocked_until = until
            item.status = "confirmed"
            self._close(
                session, item, actor, "moderation.block", days=days, customer_id=customer.id
            )
        return Resolution(message_id, "confirmed", blocked_until=until)

    async def _pending(
        self, session: AsyncSession, message_id: int
    ) -> tuple[ModerationItem, Message]:
        item = await session.scalar(
            select(ModerationItem).where(ModerationItem.message_id == message_id)
        )
        if item is None:
            raise IntakeError(f"message {message_id} is not in the moderation queue")
        if item.status != "pending":
            raise IntakeError(f"message {message_id} was already {item.status}")
        return item, await session.get_one(Message, message_id)

    def _close(
        self, session: AsyncSession, item: ModerationItem, actor: str, action: str, **details: Any
    ) -> None:
        now = self._clock.now()
        item.decided_at, item.decided_by = now, actor
        audit.record(
            session, at=now, actor=actor, action=action, target=str(item.message_id), **details
        )


def _cursor(order: str, item: ModerationItem) -> str:
    return f"{item.worst!r}:{item.message_id}" if order == "worst" else str(item.message_id)


def _after(query: _Query, order: str, cursor: str) -> _Query:
    """The page after `cursor` (an unreadable cursor starts from the top)."""
    if order == "worst":
        query = query.order_by(ModerationItem.worst.desc(), ModerationItem.message_id)
        worst, _, last = cursor.partition(":")
        try:
            w, m = float(worst), int(last)
        except ValueError:
            return query
        return query.where(
            or_(
                ModerationItem.worst < w,
                and_(ModerationItem.worst == w, ModerationItem.message_id > m),
            )
        )
    query = query.order_by(ModerationItem.message_id)
    return query.where(ModerationItem.message_id > int(cursor)) if cursor.isdigit() else query
