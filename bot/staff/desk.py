"""Staff actions on tickets. A status change is a change of state: exactly one reply; a
note on the status the ticket has is for staff, and owes none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import TicketStatus
from bot.contract.errors import IntakeError
from bot.rules import sla
from bot.rules.policy import PolicyStore
from bot.stages import outbox
from bot.store import audit
from bot.store.models import Customer, Identity, Ticket
from bot.tickets import lifecycle as tickets
from bot.tickets import replies
from moderation.throttle import Throttle


@dataclass(frozen=True)
class StatusChange:
    ticket_id: int
    ref: str
    state_version: int
    outbox_id: int | None


def parse_status(name: str) -> TicketStatus:
    try:
        return TicketStatus(name.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in TicketStatus)
        raise IntakeError(f"unknown status {name!r}; known: {known}") from None


class TicketDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        throttle: Throttle,
        policy: PolicyStore,
        clock: Clock,
        *,
        public_url: str = "",
    ) -> None:
        """`public_url`: where customers reach the bot; without it a decision carries no
        appeal link (replying with the appeal word still works)."""
        self._public_url = public_url.rstrip("/")
        self._sessions = sessions
        self._throttle = throttle
        self._policy = policy
        self._clock = clock

    async def change_status(
        self,
        ref: str,
        status: TicketStatus,
        *,
        note: str,
        actor: str,
        new_resolve_date: date | None = None,
    ) -> StatusChange:
        """Move a ticket to `status` (the table of lifecycle.TRANSITIONS), telling the
        customer once; the same status again, with a note only, is a note for staff and owes
        nothing. `new_resolve_date`: a new target, which needs an explanation."""
        now = self._clock.now()
        policy = self._policy.current
        note = note.strip()
        async with self._sessions.begin() as session:
            ticket = await tickets.by_ref(session, ref)
            if ticket is None:
                raise IntakeError(f"no ticket {ref!r}")
            resolve_due = (
                None if new_resolve_date is None else sla.end_of_day(new_resolve_date, policy.sla)
            )
            tickets.check_change(ticket, status, note=note, new_resolve_date=resolve_due)
            if resolve_due is not None and resolve_due <= now:
                raise IntakeError(f"the new resolve date {new_resolve_date} is not in the future")
            if ticket.status == status.value and resolve_due is None:
                return await self._note_only(session, ticket, note=note, actor=actor, now=now)
            tickets.change_status(
                session,
                ticket,
                status,
                note=note,
                actor=actor,
                now=now,
                progress_due=sla.add_business_days(now, policy.sla.progress_days, policy.sla),
                resolve_due=resolve_due,
            )
            link = ""
            if self._public_url and status in (TicketStatus.RESOLVED, TicketStatus.REJECTED):
                token = tickets.new_appeal_token(ticket)
                link = f"{self._public_url}/appeal?token={token}"
            await session.flush()
            to = await session.get_one(Identity, ticket.origin_identity_id)
            outbox_id = await outbox.owe(
                session,
                ticket=ticket,
                to=to,
                content=replies.status_changed(
                    ticket,
                    note,
                    now,
                    new_resolve_due=resolve_due,
                    appeal_days=policy.sla.appeal_days,
                    appeal_link=link,
                ),
                message_id=None,
                now=now,
            )
            audit.record(
                session,
                at=now,
                actor=actor,
                action="ticket.status",
                target=ticket.ref or "",
                status=status.value,
                note=note,
                **({} if resolve_due is None else {"resolve_due": resolve_due.isoformat()}),
            )
            change = StatusChange(ticket.id, ticket.ref or "", ticket.state_version, outbox_id)
            customer = await session.get_one(Customer, ticket.customer_id)
            customer_id, claims = customer.id, customer.claims_customer_id
        await self._throttle.mark_answered(
            customer_id=customer_id,
            ticket_id=change.ticket_id,
            state_version=change.state_version,
            limits=policy.throttle,
            claims=claims,
        )
        return change

    async def _note_only(
        self, session: AsyncSession, ticket: Ticket, *, note: str, actor: str, now: datetime
    ) -> StatusChange:
        tickets.add_note(session, ticket, note=note, actor=actor, now=now)
        audit.record(
            session, at=now, actor=actor, action="ticket.note", target=ticket.ref or "", note=note
        )
        return StatusChange(ticket.id, ticket.ref or "", ticket.state_version, None)
