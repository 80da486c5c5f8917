"""Tickets: which one a message is about, opening one, and the changes of its state.

Every change a customer must hear about bumps ``state_version``; the outbox is
unique on (ticket, state_version), which is what makes "one reply per change" hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.contract.domain import OPEN_STATUSES, TicketStatus
from bot.rules import details as detail_rules
from bot.rules.details import Found
from bot.rules.sla import Deadlines
from bot.store.models import Customer, Identity, Ticket, TicketEvent, table_of

SYSTEM = "system"
_OPEN_VALUES = [s.value for s in OPEN_STATUSES]
OpenTickets = dict[int, Ticket | None]  # customer id -> their open ticket


async def find_open(session: AsyncSession, customer_id: int, found: Found) -> Ticket | None:
    """The ticket a message names by reference, else the customer's open one."""
    if found.ticket_refs:
        named = await session.scalar(
            select(Ticket).where(
                Ticket.ref.in_(found.ticket_refs),
                Ticket.customer_id == customer_id,
                Ticket.status.in_(_OPEN_VALUES),
            )
        )
        if named is not None:
            return named
    return await session.scalar(
        select(Ticket).where(Ticket.customer_id == customer_id, Ticket.status.in_(_OPEN_VALUES))
    )


async def open_tickets(session: AsyncSession, customer_ids: Iterable[int]) -> OpenTickets:
    """Each customer's open ticket (None for those without one), in one query for a batch.

    The answer `find_open` would give for any message of theirs: a customer has at most one
    open ticket (the unique index uq_tickets_open_customer), so a ticket a message names is
    that one or none of theirs.
    """
    wanted = set(customer_ids)
    found: OpenTickets = dict.fromkeys(wanted)
    if wanted:
        found |= {
            t.customer_id: t
            for t in await session.scalars(
                select(Ticket).where(
                    Ticket.customer_id.in_(wanted), Ticket.status.in_(_OPEN_VALUES)
                )
            )
        }
    return found


async def by_ref(session: AsyncSession, ref: str) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.ref == ref.strip().upper()))


def open_ticket(
    session: AsyncSession,
    *,
    customer: Customer,
    identity: Identity,
    text: str,
    found: Found,
    language: str,
    deadlines: Deadlines,
    now: datetime,
    category: str | None = None,
) -> Ticket:
    """A new ticket, pending: the worker writes a batch's new tickets together and then
    numbers them (`number`). `category`: the customer's own choice, else read from the text."""
    category = category or detail_rules.category(text)
    missing = detail_rules.missing(found.values, category)
    status = TicketStatus.AWAITING_DETAILS if missing else TicketStatus.NEW
    contact = {"email": found.emails[:1], "phone": found.phones[:1]}
    given = {name: values[0] for name, values in contact.items() if values}
    ticket = Ticket(
        customer_id=customer.id,
        origin_identity_id=identity.id,
        category=category,
        details={**given, **found.values},
        status=status.value,
        state_version=1,
        language=language,
        opened_at=now,
        updated_at=now,
        ack_due=deadlines.ack_due,
        progress_due=deadlines.progress_due,
        resolve_due=deadlines.resolve_due,
    )
    session.add(ticket)
    return ticket


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    status: str  # as it opened (a later message of the same batch may change it)


async def number(session: AsyncSession, opened: Sequence[Opened]) -> None:
    """Give written tickets their public reference and their first history event.

    The references go in one UPDATE for the batch. As ORM changes they would go one
    statement each (the version check), and no one else can see these rows yet.
    """
    refs = {new.ticket.id: f"C-{new.ticket.opened_at.year}-{new.ticket.id:06d}" for new in opened}
    if not refs:
        return
    table = table_of(Ticket)
    await session.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(ref=bindparam("b_ref")),
        [{"b_id": ticket_id, "b_ref": ref} for ticket_id, ref in refs.items()],
    )
    for new in opened:
        ticket = new.ticket
        set_committed_value(ticket, "ref", refs[ticket.id])
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=ticket.opened_at,
                status=new.status,
                state_version=1,
                note="",
                actor=SYSTEM,
            )
        )


def next_missing(ticket: Ticket) -> str | None:
    missing = detail_rules.missing(ticket.details, ticket.category)
    return missing[0] if missing else None


def accept_details(session: AsyncSession, ticket: Ticket, found: Found, now: datetime) -> list[str]:
    """Store the details the ticket was waiting for; a non-empty result is a change of state.

    The change is written (and its version checked) with the caller's next flush, which
    must come before anyone hears of the new state. The last missing detail moves the
    ticket from awaiting_details to new, which its history records.
    """
    waiting = detail_rules.missing(ticket.details, ticket.category)
    received = [name for name in waiting if name in found.values]
    if not received:
        return []
    ticket.details = {**ticket.details, **{name: found.values[name] for name in received}}
    ticket.state_version += 1
    ticket.updated_at = now
    if ticket.status == TicketStatus.AWAITING_DETAILS and next_missing(ticket) is None:
        ticket.status = TicketStatus.NEW.value
        session.add(
            TicketEvent(
                ticket=ticket,
                at=now,
                status=ticket.status,
                state_version=ticket.state_version,
                note="",
                actor=SYSTEM,
            )
        )
    return received


def change_status(
    session: AsyncSession,
    ticket: Ticket,
    status: TicketStatus,
    *,
    note: str,
    actor: str,
    now: datetime,
) -> None:
    ticket.status = status.value
    ticket.state_version += 1
    ticket.updated_at = now
    if status not in OPEN_STATUSES:
        ticket.closed_at = now
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            status=status.value,
            state_version=ticket.state_version,
            note=note,
            actor=actor,
        )
    )
