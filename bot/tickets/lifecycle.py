"""Tickets: which one a message is about, opening one, and the changes of its state.

Every change a customer must hear about bumps ``state_version``; the outbox is
unique on (ticket, state_version), which is what makes "one reply per change" hold.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.contract.domain import OPEN_STATUSES, TicketStatus
from bot.contract.errors import IntakeError
from bot.rules import details as detail_rules
from bot.rules.details import Found
from bot.rules.sla import Deadlines
from bot.store.models import Customer, Identity, Ticket, TicketEvent, table_of
from bot.tickets.links import digest

SYSTEM = "system"
_OPEN_VALUES = [s.value for s in OPEN_STATUSES]
OpenTickets = dict[int, list[Ticket]]  # customer id -> their open tickets, oldest first

# Which status may follow which: the CLI, the API, the replay and the console all go through
# `check_change`. Closed is final (an appeal after it opens a new ticket, linked); resolved
# and rejected may be reopened (escalated by an appeal, or investigated again by staff).
_AFTER_OPEN = frozenset(
    {
        TicketStatus.INVESTIGATING,
        TicketStatus.WAITING_CUSTOMER,
        TicketStatus.ESCALATED,
        TicketStatus.RESOLVED,
        TicketStatus.REJECTED,
        TicketStatus.CLOSED,
    }
)
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: _AFTER_OPEN | {TicketStatus.AWAITING_DETAILS},
    TicketStatus.AWAITING_DETAILS: _AFTER_OPEN | {TicketStatus.NEW},
    TicketStatus.INVESTIGATING: _AFTER_OPEN - {TicketStatus.INVESTIGATING},
    TicketStatus.WAITING_CUSTOMER: _AFTER_OPEN - {TicketStatus.WAITING_CUSTOMER},
    TicketStatus.ESCALATED: _AFTER_OPEN - {TicketStatus.ESCALATED},
    TicketStatus.RESOLVED: frozenset(
        {TicketStatus.CLOSED, TicketStatus.ESCALATED, TicketStatus.INVESTIGATING}
    ),
    TicketStatus.REJECTED: frozenset(
        {TicketStatus.CLOSED, TicketStatus.ESCALATED, TicketStatus.INVESTIGATING}
    ),
    TicketStatus.CLOSED: frozenset(),
}
# A status the customer may not be given without a reason in writing (DESIGN.md: "an
# unresolvable complaint gets a written explanation").
EXPLAINED = frozenset({TicketStatus.REJECTED})
# The details that tell one problem from another: a different value is another complaint.
IDENTIFYING = ("order_number", "serial_number", "product_model")


def check_change(
    ticket: Ticket, status: TicketStatus, *, note: str, new_resolve_date: datetime | None
) -> None:
    """Refuse, with the reason, a change the lifecycle does not allow."""
    current = TicketStatus(ticket.status)
    if status is current:
        if new_resolve_date is None and not note.strip():
            raise IntakeError(f"{ticket.ref} is already {status.value}; give a note to add one")
    elif status not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise IntakeError(
            f"{ticket.ref} cannot go from {current.value} to {status.value}; allowed: {allowed}"
        )
    if status in EXPLAINED and not note.strip():
        raise IntakeError(f"{status.value} needs an explanation for the customer (--note)")
    if new_resolve_date is not None:
        if status not in OPEN_STATUSES:
            raise IntakeError(f"a new resolve date needs an open status, not {status.value}")
        if not note.strip():
            raise IntakeError("a new resolve date needs an explanation for the customer (--note)")


def _ordered(found: list[Ticket]) -> list[Ticket]:
    return sorted(found, key=lambda t: (t.opened_at, t.id or 0))


async def find_open(session: AsyncSession, customer_id: int) -> list[Ticket]:
    """The customer's open tickets, oldest first."""
    return _ordered(
        list(
            await session.scalars(
                select(Ticket).where(
                    Ticket.customer_id == customer_id, Ticket.status.in_(_OPEN_VALUES)
                )
            )
        )
    )


async def open_tickets(session: AsyncSession, customer_ids: Iterable[int]) -> OpenTickets:
    """Each customer's open tickets (none for those without), in one query for a batch."""
    wanted = set(customer_ids)
    found: OpenTickets = {customer_id: [] for customer_id in wanted}
    if wanted:
        for t in await session.scalars(
            select(Ticket).where(Ticket.customer_id.in_(wanted), Ticket.status.in_(_OPEN_VALUES))
        ):
            found[t.customer_id].append(t)
    return {customer_id: _ordered(listed) for customer_id, listed in found.items()}


@dataclass(frozen=True)
class Choice:
    """The open ticket a message is about, or None with the topic of the one it opens."""

    ticket: Ticket | None
    topic: str = ""


def choose(open_: Sequence[Ticket], found: Found, category: str | None = None) -> Choice:
    """Which of the customer's open tickets a message is about.

    The one it names by reference; else one whose order, serial or model it repeats; else,
    when it names another problem than every open one (a different order, serial or model,
    or the other category given explicitly), none: it opens a second ticket; else the most
    recent. A customer with no open ticket opens one with the topic ''.
    """
    if not open_:
        return Choice(None)
    for ticket in open_:
        if ticket.ref is not None and ticket.ref in found.ticket_refs:
            return Choice(ticket)
    matching = [t for t in open_ if _same_problem(t, found)]
    if matching:
        return Choice(matching[-1])
    if all(_other_problem(t, found, category) for t in open_):
        return Choice(None, _topic(found, category))
    return Choice(open_[-1])


def _key(value: object) -> str:
    return "".join(ch for ch in str(value).casefold() if ch.isalnum())


def _same_problem(ticket: Ticket, found: Found) -> bool:
    return any(
        name in found.values
        and name in ticket.details
        and _key(found.values[name])  # a declined detail ("\u2014") identifies nothing
        and _key(found.values[name]) == _key(ticket.details[name])
        for name in IDENTIFYING
    )


def _other_problem(ticket: Ticket, found: Found, category: str | None) -> bool:
    if any(
        name in found.values
        and _key(found.values[name])
        and _key(ticket.details.get(name) or "")
        and _key(found.values[name]) != _key(ticket.details[name])
        for name in IDENTIFYING
    ):
        return True
    return (
        category in {"product", "service"}
        and ticket.category in {"product", "service"}
        and category != ticket.category
    )


def _topic(found: Found, category: str | None) -> str:
    for name in IDENTIFYING:
        if name in found.values and _key(found.values[name]):
            return f"{name}:{_key(found.values[name])}"[:200]
    return f"category:{category}"


# What a reference looks like (bot.tickets.lifecycle.number writes them): anything else is
# no ticket, and never reaches a query (a NUL byte is an error in PostgreSQL).
REF = re.compile(r"C-[0-9]{4}-[0-9]{6,19}")


async def by_ref(session: AsyncSession, ref: str) -> Ticket | None:
    ref = ref.strip().upper()
    if not REF.fullmatch(ref):
        return None
    return await session.scalar(select(Ticket).where(Ticket.ref == ref))


async def appealable(session: AsyncSession, customer_id: int, found: Found) -> Ticket | None:
    """The ticket an appeal is about: the one it names, else the customer's latest decided
    one (resolved, rejected or closed); None without such a ticket."""
    decided = [s.value for s in TicketStatus if s not in OPEN_STATUSES]
    query = select(Ticket).where(Ticket.customer_id == customer_id, Ticket.status.in_(decided))
    if found.ticket_refs:
        named = await session.scalar(query.where(Ticket.ref.in_(found.ticket_refs)))
        if named is not None:
            return named
    return await session.scalar(query.order_by(Ticket.closed_at.desc(), Ticket.id.desc()).limit(1))


def may_reopen(ticket: Ticket, now: datetime, appeal_days: int) -> bool:
    """Within the appeal window of its decision, an appeal reopens the same ticket."""
    return (
        ticket.status in (TicketStatus.RESOLVED.value, TicketStatus.REJECTED.value)
        and ticket.closed_at is not None
        and now - ticket.closed_at <= timedelta(days=appeal_days)
    )


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
    topic: str = "",
    appeal_of: Ticket | None = None,
) -> Ticket:
    """A new ticket, pending: the worker writes a batch's new tickets together and then
    numbers them (`number`). `category`: the customer's own choice, else read from the text.
    An appeal of a ticket decided long ago starts from that one's details (nothing is asked
    for again)."""
    earlier = dict(appeal_of.details) if appeal_of is not None else {}
    category = category or (appeal_of.category if appeal_of is not None else None)
    category = category or detail_rules.category(text)
    contact = {"email": found.emails[:1], "phone": found.phones[:1]}
    given = {name: values[0] for name, values in contact.items() if values}
    details = {**earlier, **given, **found.values}
    missing = detail_rules.missing(details, category)
    status = TicketStatus.AWAITING_DETAILS if missing else TicketStatus.NEW
    if appeal_of is not None:
        status = TicketStatus.ESCALATED
    ticket = Ticket(
        customer_id=customer.id,
        origin_identity_id=identity.id,
        category=category,
        details=details,
        status=status.value,
        topic=topic,
        appeal_of_id=None if appeal_of is None else appeal_of.id,
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


def missing_details(ticket: Ticket) -> list[str]:
    return detail_rules.missing(ticket.details, ticket.category)


def next_missing(ticket: Ticket) -> str | None:
    missing = missing_details(ticket)
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
    progress_due: datetime | None = None,
    resolve_due: datetime | None = None,
) -> None:
    """A change of state the customer is told about: one bump of `state_version`.

    `progress_due`: when the next progress update is owed (a word to the customer restarts
    that clock); `resolve_due`: a new resolve date, which clears the clocks' marks.
    """
    ticket.status = status.value
    ticket.state_version += 1
    ticket.updated_at = now
    if status in OPEN_STATUSES:
        ticket.closed_at = None
    else:
        ticket.closed_at = now
    if progress_due is not None:
        ticket.progress_due = progress_due
    if resolve_due is not None:
        ticket.resolve_due = resolve_due
        ticket.at_risk_at = ticket.overdue_at = None
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


def staff_note(
    ticket_id: int, state: tuple[str, int], note: str, now: datetime, actor: str = SYSTEM
) -> TicketEvent:
    """A note on the ticket's history for staff only, at its (status, state_version): no
    change of state, so nothing is owed to the customer."""
    status, version = state
    return TicketEvent(
        ticket_id=ticket_id,
        at=now,
        status=status,
        state_version=version,
        note=note[:2000],
        actor=actor,
        told=False,
    )


def add_note(
    session: AsyncSession, ticket: Ticket, *, note: str, actor: str, now: datetime
) -> None:
    """A staff member's note on the ticket as it stands."""
    session.add(
        staff_note(ticket.id, (ticket.status, ticket.state_version), note, now, actor=actor)
    )


def customer_answered(
    session: AsyncSession, ticket: Ticket, found: Found, now: datetime, progress_due: datetime
) -> list[str]:
    """The customer answered our question: back to investigating, with what they gave."""
    waiting = detail_rules.missing(ticket.details, ticket.category)
    received = [name for name in waiting if name in found.values]
    if received:
        ticket.details = {**ticket.details, **{n: found.values[n] for n in received}}
    change_status(
        session,
        ticket,
        TicketStatus.INVESTIGATING,
        note="the customer answered",
        actor=SYSTEM,
        now=now,
        progress_due=progress_due,
    )
    return received


def reopen(session: AsyncSession, ticket: Ticket, now: datetime, progress_due: datetime) -> None:
    """An appeal within the window: the same ticket, escalated, seen by staff first.

    Its topic becomes its reference, so it stands beside any ticket opened meanwhile."""
    ticket.topic = f"ref:{ticket.ref}"
    ticket.appeal_token = None
    change_status(
        session,
        ticket,
        TicketStatus.ESCALATED,
        note="the customer appealed",
        actor=SYSTEM,
        now=now,
        progress_due=progress_due,
    )


def new_appeal_token(ticket: Ticket) -> str:
    """The token of the appeal link sent with a decision; the ticket keeps only its hash,
    and a newer decision's link replaces the older one."""
    token = secrets.token_urlsafe(24)
    ticket.appeal_token = digest(token)
    return token


async def by_appeal_token(session: AsyncSession, token: str) -> Ticket | None:
    if not 16 <= len(token) <= 64:
        return None
    return await session.scalar(select(Ticket).where(Ticket.appeal_token == digest(token)))


async def explanation(session: AsyncSession, ticket: Ticket) -> str:
    """The latest note staff wrote to the customer on this ticket ('' if none)."""
    note = await session.scalar(
        select(TicketEvent.note)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.actor != SYSTEM,
            TicketEvent.told.is_(True),
            TicketEvent.note != "",
        )
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    return note or ""
