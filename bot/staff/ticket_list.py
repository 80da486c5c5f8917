"""What agents read of tickets: the list, filtered and paged, and one ticket whole.

The list is newest change of state first (`updated_at`, then id) and paged by keyset: a
page is the next rows of an index walked in that order (the indexes of migration 0008),
so page 1000 costs what page 1 does, and the number of messages does not enter into it.
At risk and overdue are the sweeper's marks on tickets still open; a decided ticket keeps
its marks, but no agent has to act on it.

One ticket is everything staff know of it: each message it was given, whatever its
decision, in time order, with its sender as the channel proved it (or a claim); the
details collected; the clocks; the history with the notes for staff only; and every
reply owed, sent, failed or waiting for another channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.domain import OPEN_STATUSES, Channel, TicketStatus
from bot.store.models import Customer, Identity, Message, OutboxReply, Ticket, TicketEvent
from bot.tickets import lifecycle
from bot.tickets.lifecycle import TRANSITIONS

STATUSES = tuple(s.value for s in TicketStatus)
CHANNELS = tuple(c.value for c in Channel)
CATEGORIES = ("product", "service", "unknown")
CLOCKS = ("at_risk", "overdue")
PAGE_SIZE = 25
THREAD_LIMIT = 500  # a flood can give a ticket thousands: the first and the latest show
REF = lifecycle.REF
_ListQuery = Select[Ticket, str, str]
# Written out as literals, in models' order, so that the partial indexes' conditions
# (models.AT_RISK, models.OVERDUE) are seen to hold by either database's planner.
_OPEN = Ticket.status.in_(
    bindparam(
        "open_statuses",
        sorted(s.value for s in OPEN_STATUSES),
        expanding=True,
        literal_execute=True,
    )
)


@dataclass(frozen=True)
class Filters:
    """What an agent narrows the list to; empty means any."""

    status: str = ""
    channel: str = ""  # of the identity the ticket came from
    category: str = ""
    language: str = ""
    clock: str = ""  # 'at_risk' or 'overdue'

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        """From a query string: a value the list does not know means any."""

        def known(name: str, values: tuple[str, ...]) -> str:
            value = query.get(name, "")
            return value if value in values else ""

        return cls(
            status=known("status", STATUSES),
            channel=known("channel", CHANNELS),
            category=known("category", CATEGORIES),
            language=query.get("language", "").strip().lower()[:16],
            clock=known("clock", CLOCKS),
        )


@dataclass(frozen=True)
class Listed:
    ref: str
    status: str
    category: str
    language: str
    channel: str
    customer: str  # the name they gave: their text
    opened_at: datetime
    updated_at: datetime
    resolve_due: datetime
    at_risk: bool  # marked and still open
    overdue: bool
    messages: int
    last_message_at: datetime | None


@dataclass(frozen=True)
class Page:
    tickets: list[Listed]
    next_cursor: str  # '' on the last page


@dataclass(frozen=True)
class ThreadMessage:
    received_at: datetime
    channel: str
    sender: str  # the identity's address as its channel gave it, else the message's sender
    display_name: str
    verified: bool  # the channel proved the sender
    unproven: str  # why a mail's sender was not proven ('' if it was, or was not checked)
    claim: bool  # the sender is not the ticket's customer: what it says is a claim
    decision: str  # '' until the worker decided
    reason: str
    subject: str
    text: str
    attachments: int


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    status: str
    state_version: int
    actor: str
    note: str
    told: bool  # False: for staff only


@dataclass(frozen=True)
class OwedReply:
    created_at: datetime
    sent_at: datetime | None
    status: str  # pending, sent, failed, needs_other_channel
    kind: str
    channel: str
    address: str
    delivered_to: str  # where it went, when that was another channel's address
    subject: str
    text: str
    language: str
    attempts: int
    last_error: str
    human_agent: bool  # sent with Meta's HUMAN_AGENT tag


@dataclass(frozen=True)
class Clocks:
    opened_at: datetime
    ack_due: datetime
    progress_due: datetime
    resolve_due: datetime
    at_risk_at: datetime | None
    overdue_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class TicketRecord:
    ref: str
    status: str
    category: str
    language: str
    state_version: int
    customer: str
    claims_customer_id: int | None  # the customer this one said it was: never proof
    origin_channel: str
    origin_address: str
    origin_verified: bool
    appeal_of: str  # the ref of the ticket this one appeals, if any
    details: dict[str, str]
    clocks: Clocks
    thread: list[ThreadMessage]
    messages: int  # all of them; more than the thread shows when it was cut
    history: list[HistoryEntry]
    replies: list[OwedReply]
    choices: list[str]  # the status it has (a note for staff), then those allowed after it

    @property
    def at_risk(self) -> bool:
        return self.clocks.at_risk_at is not None and TicketStatus(self.status) in OPEN_STATUSES

    @property
    def overdue(self) -> bool:
        return self.clocks.overdue_at is not None and TicketStatus(self.status) in OPEN_STATUSES

    @property
    def omitted(self) -> int:
        """Messages between the first and the latest that the thread leaves out."""
        return self.messages - len(self.thread)


class TicketList:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def page(self, filters: Filters, cursor: str = "", limit: int = PAGE_SIZE) -> Page:
        query = _after(_filtered(filters), cursor).limit(limit + 1)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
            more, rows = len(rows) > limit, rows[:limit]
            counts = await _message_counts(session, [ticket.id for ticket, _, _ in rows])
        listed = [
            _listed(ticket, channel, name, counts.get(ticket.id)) for ticket, channel, name in rows
        ]
        last = rows[-1][0] if rows and more else None
        return Page(listed, "" if last is None else _cursor(last))

    async def ticket(self, ref: str) -> TicketRecord | None:
        """The ticket `ref` names; None for an unknown or malformed one alike."""
        ref = ref.strip().upper()  # as tickets.by_ref reads it
        if not REF.fullmatch(ref):
            return None
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(Ticket, Identity, Customer)
                    .join(Identity, Identity.id == Ticket.origin_identity_id)
                    .join(Customer, Customer.id == Ticket.customer_id)
                    .where(Ticket.ref == ref)
                )
            ).first()
            if found is None:
                return None
            ticket, origin, customer = found
            thread, total = await _thread(session, ticket)
            history = await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.at, TicketEvent.id)
            )
            replies = await session.scalars(
                select(OutboxReply)
                .where(OutboxReply.ticket_id == ticket.id)
                .order_by(OutboxReply.id)
            )
            appeal_of = await _ref_of(session, ticket.appeal_of_id)
            return TicketRecord(
                ref=ref,
                status=ticket.status,
                category=ticket.category,
                language=ticket.language,
                state_version=ticket.state_version,
                customer=customer.display_name,
                claims_customer_id=customer.claims_customer_id,
                origin_channel=origin.channel,
                origin_address=origin.address,
                origin_verified=origin.verified,
                appeal_of=appeal_of,
                details={name: _shown(value) for name, value in sorted(ticket.details.items())},
                clocks=_clocks(ticket),
                thread=thread,
                messages=total,
                history=[_entry(event) for event in history],
                replies=[_reply(row) for row in replies],
                choices=choices(TicketStatus(ticket.status)),
            )


def choices(current: TicketStatus) -> list[str]:
    """What an agent may pick: the same status (a note for staff), then the table's."""
    return [current.value, *sorted(s.value for s in TRANSITIONS[current])]


def _filtered(filters: Filters) -> _ListQuery:
    query = (
        select(Ticket, Identity.channel, Customer.display_name)
        .join(Identity, Identity.id == Ticket.origin_identity_id)
        .join(Customer, Customer.id == Ticket.customer_id)
    )
    if filters.status:
        query = query.where(Ticket.status == filters.status)
    if filters.channel:
        query = query.where(Identity.channel == filters.channel)
    if filters.category:
        query = query.where(Ticket.category == filters.category)
    if filters.language:
        query = query.where(Ticket.language == filters.language)
    if filters.clock == "at_risk":
        query = query.where(Ticket.at_risk_at.is_not(None), _OPEN)
    elif filters.clock == "overdue":
        query = query.where(Ticket.overdue_at.is_not(None), _OPEN)
    return query


def _cursor(ticket: Ticket) -> str:
    return f"{ticket.updated_at.isoformat()}_{ticket.id}"


def _after(query: _ListQuery, cursor: str) -> _ListQuery:
    """The page after `cursor` (an unreadable cursor starts from the top)."""
    query = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    moment, _, last = cursor.rpartition("_")
    try:
        updated_at = datetime.fromisoformat(moment)
    except ValueError:
        return query
    if updated_at.tzinfo is None or not last.isdigit() or len(last) > 19:
        return query
    position = tuple_(literal(updated_at, Ticket.updated_at.type), literal(int(last)))
    return query.where(tuple_(Ticket.updated_at, Ticket.id) < position)


async def _message_counts(
    session: AsyncSession, ticket_ids: list[int]
) -> dict[int, tuple[int, datetime | None]]:
    """How many messages each ticket of a page has, and when the latest came."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(Message.ticket_id, func.count(), func.max(Message.received_at))
        .where(Message.ticket_id.in_(ticket_ids))
        .group_by(Message.ticket_id)
    )
    return {ticket_id: (n, latest) for ticket_id, n, latest in rows if ticket_id is not None}


def _listed(
    ticket: Ticket, channel: str, name: str, counted: tuple[int, datetime | None] | None
) -> Listed:
    still_open = TicketStatus(ticket.status) in OPEN_STATUSES
    messages, latest = counted or (0, None)
    return Listed(
        ref=ticket.ref or "",
        status=ticket.status,
        category=ticket.category,
        language=ticket.language,
        channel=channel,
        customer=name,
        opened_at=ticket.opened_at,
        updated_at=ticket.updated_at,
        resolve_due=ticket.resolve_due,
        at_risk=still_open and ticket.at_risk_at is not None,
        overdue=still_open and ticket.overdue_at is not None,
        messages=messages,
        last_message_at=latest,
    )


async def _thread(session: AsyncSession, ticket: Ticket) -> tuple[list[ThreadMessage], int]:
    """The ticket's messages in time order, and how many it has: all of them, or the first
    (the complaint itself) and the latest when there are more than THREAD_LIMIT. Only
    what the page shows is read (not the providers' raw payloads), and the senders'
    identities after the cut, not for every message of a flood."""
    total = await session.scalar(
        select(func.count()).select_from(Message).where(Message.ticket_id == ticket.id)
    )
    query = select(*_THREAD_COLUMNS).where(Message.ticket_id == ticket.id)
    oldest = query.order_by(Message.received_at, Message.id)
    if (total or 0) <= THREAD_LIMIT:
        rows = list((await session.execute(oldest)).all())
    else:
        first = (await session.execute(oldest.limit(1))).all()
        latest = await session.execute(
            query.order_by(Message.received_at.desc(), Message.id.desc()).limit(THREAD_LIMIT - 1)
        )
        rows = [*first, *reversed(latest.all())]
    ids = {row.identity_id for row in rows if row.identity_id is not None}
    identities = {
        i.id: i
        for i in await session.execute(
            select(Identity.id, Identity.address, Identity.verified).where(Identity.id.in_(ids))
        )
    }
    return [_message(row, identities.get(row.identity_id), ticket) for row in rows], total or 0


_THREAD_COLUMNS = (
    Message.received_at,
    Message.channel,
    Message.sender,
    Message.display_name,
    Message.sender_unproven,
    Message.customer_id,
    Message.identity_id,
    Message.decision,
    Message.reason,
    Message.subject,
    Message.text,
    Message.attachments,
)


def _message(
    row: Row[*tuple[Any, ...]], identity: Row[int, str, bool] | None, ticket: Ticket
) -> ThreadMessage:
    return ThreadMessage(
        received_at=row.received_at,
        channel=row.channel,
        sender=identity.address if identity is not None else row.sender,
        display_name=row.display_name,
        verified=identity is not None and identity.verified and not row.sender_unproven,
        unproven=row.sender_unproven,
        claim=row.customer_id != ticket.customer_id,
        decision=row.decision or "",
        reason=row.reason,
        subject=row.subject,
        text=row.text,
        attachments=len(row.attachments or []),
    )


def _entry(event: TicketEvent) -> HistoryEntry:
    return HistoryEntry(
        event.at, event.status, event.state_version, event.actor, event.note, event.told
    )


def _reply(row: OutboxReply) -> OwedReply:
    return OwedReply(
        created_at=row.created_at,
        sent_at=row.sent_at,
        status=row.status,
        kind=row.kind,
        channel=row.channel,
        address=row.address,
        delivered_to="" if row.delivered_to in (None, row.address) else str(row.delivered_to),
        subject=row.subject,
        text=row.text,
        language=row.language,
        attempts=row.attempts,
        last_error=row.last_error,
        human_agent=row.human_agent,
    )


def _clocks(ticket: Ticket) -> Clocks:
    return Clocks(
        ticket.opened_at,
        ticket.ack_due,
        ticket.progress_due,
        ticket.resolve_due,
        ticket.at_risk_at,
        ticket.overdue_at,
        ticket.closed_at,
    )


async def _ref_of(session: AsyncSession, ticket_id: int | None) -> str:
    if ticket_id is None:
        return ""
    return await session.scalar(select(Ticket.ref).where(Ticket.id == ticket_id)) or ""


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
