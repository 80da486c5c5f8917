"""What customers may see of their tickets: by a one-time link mailed to the ticket's address.

A reference and a contact typed into a page are claims: anyone can type both, and
references are sequential. So a look-up never shows a ticket. It counts the attempt
(per client address and per reference, before deciding), and when the contact is an
email address of the ticket (one its customer wrote from, or gave for it) mails there
a link that shows the ticket once within 24 hours. Every look-up answers the same,
in the same time, whether the ticket exists or not: the mail goes out in the
background. Otherwise a ticket is shown only to a verified identity of its customer
(a chat session, a Telegram chat). Internal notes never leave: only status changes do.

A decision's appeal link (bot.staff.desk) was sent to the customer alone: following it
is the customer's own word, taken as a message from the ticket's first address.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import (
    OPEN_STATUSES,
    Channel,
    InboundMessage,
    TicketChange,
    TicketStatus,
    TicketView,
)
from bot.contract.limits import Allowance, Limiter
from bot.contract.ports import MessageSink, ShownTicket, ViewerNote
from bot.rules import details
from bot.store.models import Customer, Identity, Ticket, TicketEvent
from bot.text import i18n
from bot.tickets import lifecycle
from bot.tickets.claims import ClaimProofs
from bot.tickets.identity import normalize_address
from bot.tickets.links import OneTimeLinks, digest

_OPEN_VALUES = [s.value for s in OPEN_STATUSES]
VIEW = "status/view"  # the link's path and kind
ADD = "status/add"  # a shown ticket's grant to add to it (bot.contract.ports.ShownTicket)
GRANT_TTL_S = 3600
EXCERPT_CHARS = 160


class TicketViews:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        links: OneTimeLinks,
        claims: ClaimProofs,
        clock: Clock,
        *,
        per_ip: Limiter,
        per_reference: Limiter,
        sink: MessageSink,
    ) -> None:
        self._sessions, self._links, self._clock, self._sink = sessions, links, clock, sink
        self.claims = claims
        self.per_ip, self.per_reference = per_ip, per_reference

    @property
    def can_mail(self) -> bool:
        return self._links.can_mail

    async def request_link(self, ref: str, contact: str, ip: str) -> Allowance:
        """Count the look-up, then mail a link if `contact` is the ticket's own address.

        The answer depends only on the limits, never on the ticket: callers say the same
        ("if it matches, a link is on its way") in every case."""
        now = self._clock.now()
        ref = ref.strip().upper()[:40]
        by_ip = await self.per_ip.hit(ip, now)
        by_ref = await self.per_reference.hit(ref or "-", now)
        if not (by_ip.allowed and by_ref.allowed):
            return by_ip if not by_ip.allowed else by_ref
        found = await self._mail_target(ref, contact)
        if found is not None and self.can_mail:
            ticket, email = found
            ticket_ref, language = ticket.ref or "", ticket.language
            self._links.send(
                VIEW,
                {"ref": ticket_ref},
                email,
                language,
                ticket_ref,
                lambda link: i18n.view_link(ticket_ref, language, link),
            )
        return by_ip

    async def _mail_target(self, ref: str, contact: str) -> tuple[Ticket, str] | None:
        email = contact.strip().lower()
        if "@" not in email or not ref:
            return None
        async with self._sessions() as session:
            ticket = await lifecycle.by_ref(session, ref)
            if ticket is None:
                return None
            owned = await session.scalar(
                select(Identity.id).where(
                    Identity.customer_id == ticket.customer_id,
                    Identity.channel == Channel.EMAIL.value,
                    Identity.address == email,
                )
            )
            given = str(ticket.details.get("email") or "").strip().lower()
            return (ticket, email) if owned is not None or given == email else None

    async def request_proof(
        self, channel: Channel, address: str, email: str, ip: str, language: str
    ) -> Allowance:
        """A chat or form browser that typed `email`: a link to prove it (bot.tickets.claims)."""
        return await self.claims.request(channel, address, email, ip, language)

    async def prove(self, token: str) -> bool:
        return await self.claims.confirm(token)

    async def settled(self) -> None:
        await self._links.settled()

    async def redeem(self, token: str) -> TicketView | None:
        """The ticket a link was mailed for, once: the link is spent by showing it."""
        payload = await self._links.redeem(VIEW, token)
        if payload is None:
            return None
        async with self._sessions() as session:
            ticket = await session.scalar(
                select(Ticket).where(Ticket.ref == str(payload.get("ref", "")))
            )
            return None if ticket is None else await _view(session, ticket)

    async def show(self, token: str) -> ShownTicket | None:
        """As `redeem`, with the start of the description and a grant to add to the
        ticket for an hour: whoever followed the link reads the ticket's mail."""
        payload = await self._links.redeem(VIEW, token)
        if payload is None:
            return None
        ref = str(payload.get("ref", ""))
        return await self._shown(ref, await self._links.grant(ADD, {"ref": ref}, GRANT_TTL_S))

    async def add_to_ticket(self, grant: str, note: ViewerNote) -> ShownTicket | None:
        """A viewer's message (and files), taken as from the ticket's first address and
        naming the ticket (thread_refs), so the worker attaches it there like any message."""
        payload = await self._links.peek(ADD, grant)
        ref = str((payload or {}).get("ref", ""))
        async with self._sessions() as session:
            ticket = await lifecycle.by_ref(session, ref) if ref else None
            origin = await _reachable_origin(session, ticket) if ticket else None
            if ticket is None or origin is None:
                return None
            message = InboundMessage(
                channel=Channel(origin.channel),
                external_id=f"status-add:{digest(grant)[:24]}:{note.message_id[:64]}",
                sender=origin.address,
                text=note.text,
                thread_refs=[ref],
                received_at=self._clock.now(),
                language=note.language or ticket.language,
                attachments=list(note.attachments),
                raw={"status_page": ref},
            )
        accepted = await self._sink.accept(message)
        shown = await self._shown(ref, grant)
        return None if shown is None else replace(shown, duplicate=accepted.duplicate)

    async def reshow(self, grant: str) -> ShownTicket | None:
        payload = await self._links.peek(ADD, grant)
        return None if payload is None else await self._shown(str(payload.get("ref", "")), grant)

    async def _shown(self, ref: str, grant: str) -> ShownTicket | None:
        async with self._sessions() as session:
            ticket = await lifecycle.by_ref(session, ref)
            if ticket is None:
                return None
            return ShownTicket(await _view(session, ticket), _excerpt(ticket), grant)

    async def appeal(self, token: str) -> bool:
        """Follow a decision's appeal link, once: as if the customer had replied with the
        appeal word, so the worker decides it like any appeal (the same ticket reopened
        within sla.appeal_days, else a new one linked to it) and answers once."""
        async with self._sessions() as session:
            ticket = await lifecycle.by_appeal_token(session, token)
            origin = await _reachable_origin(session, ticket) if ticket else None
            if ticket is None or origin is None:
                return False
            message = InboundMessage(
                channel=Channel(origin.channel),
                # One message per link, however often it is posted.
                external_id=f"appeal-link:{digest(token)[:48]}",
                sender=origin.address,
                text=f"I appeal the decision on {ticket.ref}",
                received_at=self._clock.now(),
                language=ticket.language,
            )
        await self._sink.accept(message)
        async with self._sessions.begin() as session:
            await session.execute(
                update(Ticket)
                .where(Ticket.appeal_token == digest(token))
                .values(appeal_token=None)
                .execution_options(synchronize_session=False)
            )
        return True

    async def open_ticket_of(self, channel: Channel, address: str) -> TicketView | None:
        async with self._sessions() as session:
            customer_id = await session.scalar(
                select(Identity.customer_id).where(
                    Identity.channel == channel.value,
                    Identity.address == normalize_address(channel, address),
                    Identity.verified.is_(True),
                )
            )
            if customer_id is None:
                return None
            ticket = await session.scalar(
                select(Ticket)
                .where(Ticket.customer_id == customer_id, Ticket.status.in_(_OPEN_VALUES))
                .order_by(Ticket.id.desc())
                .limit(1)
            )
            return None if ticket is None else await _view(session, ticket)


def _excerpt(ticket: Ticket) -> str:
    """The description's first words, cut at a word boundary."""
    text = " ".join(str(ticket.details.get("description") or "").split())
    if len(text) <= EXCERPT_CHARS:
        return text
    return text[:EXCERPT_CHARS].rsplit(" ", 1)[0].rstrip(".,;:") + "…"


async def _view(session: AsyncSession, ticket: Ticket) -> TicketView:
    events = await session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.at, TicketEvent.state_version, TicketEvent.id)
    )
    history: list[TicketChange] = []
    for event in events:
        if history and history[-1].status == event.status:
            continue  # a detail received or a staff note: not a change of status
        history.append(TicketChange(event.at, TicketStatus(event.status), event.note))
    status = TicketStatus(ticket.status)
    next_due = None
    if status in OPEN_STATUSES:
        dues = [
            d
            for d in (ticket.ack_due, ticket.progress_due, ticket.resolve_due)
            if d > ticket.updated_at
        ]
        next_due = min(dues) if dues else ticket.resolve_due
    return TicketView(
        ref=ticket.ref or "",
        status=status,
        category=ticket.category,
        language=ticket.language,
        opened_at=ticket.opened_at,
        updated_at=ticket.updated_at,
        next_due=next_due,
        missing=tuple(details.missing(ticket.details, ticket.category)),
        history=tuple(history),
    )


async def _reachable_origin(session: AsyncSession, ticket: Ticket) -> Identity | None:
    """The address a ticket came from, which a page may write as (an appeal link, an
    addition from the status page); None once its customer was erased."""
    customer = await session.get_one(Customer, ticket.customer_id)
    if customer.erased_at is not None:
        return None
    return await session.get_one(Identity, ticket.origin_identity_id)
