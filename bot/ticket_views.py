"""What customers may see of their tickets: the status page's and the chat's look-ups.

A ticket is shown only to someone who proves a link to it: its reference together
with a contact its customer used (an identity, or a detail they gave), or a verified
identity of its customer. Internal notes never leave: only status changes do.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import details
from bot.domain import OPEN_STATUSES, Channel, TicketChange, TicketStatus, TicketView
from bot.identity import normalize_address
from bot.models import Identity, Ticket, TicketEvent

_OPEN_VALUES = [s.value for s in OPEN_STATUSES]


def _contact_forms(contact: str) -> set[str]:
    """The ways a contact may be stored: an email lowercased, a phone as bare digits."""
    contact = contact.strip()
    if not contact:
        return set()
    if "@" in contact:
        return {normalize_address(Channel.EMAIL, contact)}
    digits = normalize_address(Channel.WHATSAPP, contact)
    return {digits} if len(digits) >= 6 else set()


class TicketViews:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def by_reference(self, ref: str, contact: str) -> TicketView | None:
        wanted = _contact_forms(contact)
        if not wanted:
            return None
        async with self._sessions() as session:
            ticket = await session.scalar(
                select(Ticket).where(Ticket.ref == ref.strip().upper()))
            if ticket is None:
                return None
            addresses = {a.lower() for a in await session.scalars(
                select(Identity.address).where(Identity.customer_id == ticket.customer_id))}
            given = {str(ticket.details.get(name) or "") for name in ("email", "phone")}
            known = addresses | {f for value in given for f in _contact_forms(value)}
            if not wanted & known:
                return None
            return await _view(session, ticket)

    async def open_ticket_of(self, channel: Channel, address: str) -> TicketView | None:
        async with self._sessions() as session:
            customer_id = await session.scalar(select(Identity.customer_id).where(
                Identity.channel == channel.value,
                Identity.address == normalize_address(channel, address),
                Identity.verified.is_(True)))
            if customer_id is None:
                return None
            ticket = await session.scalar(select(Ticket).where(
                Ticket.customer_id == customer_id, Ticket.status.in_(_OPEN_VALUES)))
            return None if ticket is None else await _view(session, ticket)


async def _view(session: AsyncSession, ticket: Ticket) -> TicketView:
    events = await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                   .order_by(TicketEvent.at, TicketEvent.state_version,
                                                   TicketEvent.id))
    history: list[TicketChange] = []
    for event in events:
        if history and history[-1].status == event.status:
            continue  # a detail received or a staff note: not a change of status
        history.append(TicketChange(event.at, TicketStatus(event.status), event.note))
    status = TicketStatus(ticket.status)
    next_due = None
    if status in OPEN_STATUSES:
        dues = [d for d in (ticket.ack_due, ticket.progress_due, ticket.resolve_due)
                if d > ticket.updated_at]
        next_due = min(dues) if dues else ticket.resolve_due
    return TicketView(ref=ticket.ref or "", status=status, category=ticket.category,
                      language=ticket.language, opened_at=ticket.opened_at,
                      updated_at=ticket.updated_at, next_due=next_due,
                      missing=tuple(details.missing(ticket.details, ticket.category)),
                      history=tuple(history))
