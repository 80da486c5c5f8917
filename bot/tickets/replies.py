"""What a reply says and where it goes; the outbox row is the promise to send it.

A reply goes to the identity that wrote, about that customer's own ticket: every
identity is one its channel proved, and a sender that only claims to be another
customer has tickets of its own (bot.tickets.identity), so no reply carries one customer's
ticket to someone else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.domain import OPEN_STATUSES, TicketStatus
from bot.store.models import Identity, OutboxReply, Ticket
from bot.text import i18n
from bot.tickets.lifecycle import next_missing

Content = tuple[str, str, str]  # kind, subject, text
# A reply as of one state of its ticket, rendered when it is owed: a ticket opened in the
# worker's current batch gets its reference only once the batch's new tickets are written.
Draft = Callable[[], Content]


def acknowledgment(ticket: Ticket) -> Draft:
    language, ack_due, resolve_due = ticket.language, ticket.ack_due, ticket.resolve_due
    next_detail = next_missing(ticket)

    def render() -> Content:
        subject, text = i18n.acknowledgment(ticket.ref or "", language, ack_due=ack_due,
                                            resolve_due=resolve_due, next_detail=next_detail)
        return "acknowledgment", subject, text
    return render


def detail_received(ticket: Ticket, received: list[str]) -> Draft:
    language, resolve_due, next_detail = ticket.language, ticket.resolve_due, next_missing(ticket)

    def render() -> Content:
        subject, text = i18n.detail_received(ticket.ref or "", language, received=received,
                                             next_detail=next_detail, resolve_due=resolve_due)
        return "detail_received", subject, text
    return render


def status_changed(ticket: Ticket, note: str) -> Content:
    return _status_changed(ticket, note)()


def _status_changed(ticket: Ticket, note: str) -> Draft:
    status = TicketStatus(ticket.status)
    next_due = ticket.resolve_due if status in OPEN_STATUSES else None
    language = ticket.language

    def render() -> Content:
        subject, text = i18n.status_changed(ticket.ref or "", language, status=status.value,
                                            note=note, next_due=next_due)
        return "status_changed", subject, text
    return render


def current_state(ticket: Ticket) -> Draft:
    """The reply for a state nobody answered yet (its message was throttled, say)."""
    return acknowledgment(ticket) if ticket.state_version == 1 else _status_changed(ticket, "")


def _outbox_insert(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(OutboxReply)
            .on_conflict_do_nothing(index_elements=["ticket_id", "state_version"])
            .returning(OutboxReply.id, OutboxReply.ticket_id, OutboxReply.state_version))


# Built once per dialect rather than per reply: the worker owes one for most new states.
_OWE = {dialect: _outbox_insert(dialect) for dialect in ("postgresql", "sqlite")}


@dataclass(frozen=True)
class Owed:
    """A reply owed for one state of a ticket, to one identity."""

    ticket: Ticket
    state_version: int
    to: Identity
    content: Content
    message_id: int | None

    def row(self, now: datetime) -> dict[str, object]:
        kind, subject, text = self.content
        return {"ticket_id": self.ticket.id, "state_version": self.state_version,
                "message_id": self.message_id, "kind": kind, "channel": self.to.channel,
                "address": self.to.address, "subject": subject, "text": text,
                "language": self.ticket.language, "status": "pending", "attempts": 0,
                "next_attempt_at": now, "last_error": "", "created_at": now}


async def owe_many(session: AsyncSession, owed: Sequence[Owed], now: datetime
                   ) -> list[int | None]:
    """Write the outbox rows in one statement; each one's id, or None where that state
    was owed already (the unique key (ticket, state_version) has the last word). It runs
    on the session's connection: nothing pending is flushed."""
    if not owed:
        return []
    connection = await session.connection()
    result = await connection.execute(_OWE[connection.dialect.name], [o.row(now) for o in owed])
    written = {(r.ticket_id, r.state_version): r.id for r in result}
    # The same state twice in one batch is written once: the first asker gets it.
    return [written.pop((o.ticket.id, o.state_version), None) for o in owed]


async def owe(session: AsyncSession, *, ticket: Ticket, to: Identity,
              content: Content, message_id: int | None, now: datetime) -> int | None:
    """The outbox row for the ticket's current state; None if one is already owed."""
    [outbox_id] = await owe_many(session, [Owed(ticket, ticket.state_version, to, content,
                                                message_id)], now)
    return outbox_id
