"""Staff actions on tickets. A status change is a change of state: exactly one reply."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import TicketStatus
from bot.contract.errors import IntakeError
from bot.rules.policy import PolicyStore
from bot.stages import outbox
from bot.store import audit
from bot.store.models import Customer, Identity
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
    ) -> None:
        self._sessions = sessions
        self._throttle = throttle
        self._policy = policy
        self._clock = clock

    async def change_status(
        self, ref: str, status: TicketStatus, *, note: str, actor: str
    ) -> StatusChange:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            ticket = await tickets.by_ref(session, ref)
            if ticket is None:
                raise IntakeError(f"no ticket {ref!r}")
            if ticket.status == status.value and not note:
                raise IntakeError(f"{ref} is already {status.value}")
            tickets.change_status(session, ticket, status, note=note, actor=actor, now=now)
            await session.flush()
            to = await session.get_one(Identity, ticket.origin_identity_id)
            outbox_id = await outbox.owe(
                session,
                ticket=ticket,
                to=to,
                content=replies.status_changed(ticket, note),
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
            )
            change = StatusChange(ticket.id, ticket.ref or "", ticket.state_version, outbox_id)
            customer = await session.get_one(Customer, ticket.customer_id)
            customer_id, claims = customer.id, customer.claims_customer_id
        await self._throttle.mark_answered(
            customer_id=customer_id,
            ticket_id=change.ticket_id,
            state_version=change.state_version,
            limits=self._policy.current.throttle,
            claims=claims,
        )
        return change
