"""The clocks act: progress updates, missed resolve dates, tickets at risk, retention.

As of the clock's now (virtual in the replay and the tests), one pass:
- a ticket whose resolve date passed is overdue for staff, and its customer is told once:
  the date was missed, why (the latest explanation staff wrote them, else a neutral text)
  and the new date, `sla.extension_days` business days on;
- a ticket whose progress date passed with no word to the customer since gets the progress
  update, with the next date (each word to the customer restarts that clock);
- a ticket whose resolve date is `sla.at_risk_days` business days away is marked at risk,
  for staff only;
- with `privacy.retention_days` set, a customer whose last ticket closed longer ago than
  that is erased, by the same erasure as `intake-bot privacy erase`.
Each told change bumps the ticket's `state_version` and owes one reply (bot.stages.outbox),
in its own transaction: a staff change racing it wins (the version check), and the next
pass looks again. One process runs it at a time (the worker takes a lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

from bot.contract.clock import Clock
from bot.contract.domain import OPEN_STATUSES, TicketStatus
from bot.rules.policy import Policy, PolicyStore
from bot.rules.sla import add_business_days
from bot.stages import outbox
from bot.store.db import for_update_skip_locked
from bot.store.models import Customer, Identity, Ticket, table_of
from bot.tickets import lifecycle, replies
from bot.tickets.replies import Content
from moderation.throttle import Throttle

log = logging.getLogger(__name__)
_OPEN = [s.value for s in OPEN_STATUSES]
_TICKETS = table_of(Ticket)
Erase = Callable[[int], Awaitable[object]]  # a customer's id: the whole erasure
_Clock = Literal["resolve_due", "progress_due"]  # a ticket's clock the sweeper acts on


@dataclass
class Swept:
    """What one pass did: the replies it owed (outbox ids), the tickets it marked."""

    owed: list[int] = field(default_factory=list)
    at_risk: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    erased: list[int] = field(default_factory=list)


class Sweeper:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        throttle: Throttle,
        policy: PolicyStore,
        clock: Clock,
        *,
        erase: Erase | None = None,
        batch: int = 200,
    ) -> None:
        self._sessions = sessions
        self._throttle = throttle
        self._policy = policy
        self._clock = clock
        self.erase = erase  # set by the wiring, which alone knows every channel's traces
        self._batch = batch
        self.state = "not running in this process"  # how its loop goes (/readyz)

    async def sweep(self) -> Swept:
        """One pass as of now, until nothing is left to do."""
        now, policy, swept = self._clock.now(), self._policy.current, Swept()
        await self._each("resolve_due", swept, self._missed, policy, now)
        await self._each("progress_due", swept, self._progress, policy, now)
        await self._mark_at_risk(policy, now, swept)
        await self._retention(policy, now, swept)
        return swept

    async def run(self, stop: asyncio.Event, interval_s: float = 60.0) -> None:
        while not stop.is_set():
            try:
                swept = await self.sweep()
                if swept.owed or swept.at_risk or swept.erased:
                    log.info(
                        "sweep: %d replies owed, %d at risk, %d overdue, %d customers erased",
                        len(swept.owed),
                        len(swept.at_risk),
                        len(swept.overdue),
                        len(swept.erased),
                    )
                self.state = "running"
            except Exception as exc:
                self.state = f"failing ({type(exc).__name__}), retrying"
                log.exception("sweep failed; trying again at the next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def _each(
        self,
        clock: _Clock,
        swept: Swept,
        act: Callable[[AsyncSession, Ticket, Policy, datetime, Swept], Awaitable[Content]],
        policy: Policy,
        now: datetime,
    ) -> None:
        """Each due ticket in a transaction of its own; one that changed meanwhile is left
        for the next pass (it is then due no more, or due again)."""
        done: set[int] = set()
        query = _due(clock, now)
        while True:
            async with self._sessions() as session:
                ids = [i for i in await session.scalars(query) if i not in done]
            if not ids:
                return
            for ticket_id in ids[: self._batch]:
                done.add(ticket_id)
                try:
                    await self._change(ticket_id, clock, swept, act, policy, now)
                except StaleDataError:
                    log.info("ticket %s changed during the sweep; next pass", ticket_id)

    async def _change(
        self,
        ticket_id: int,
        clock: _Clock,
        swept: Swept,
        act: Callable[[AsyncSession, Ticket, Policy, datetime, Swept], Awaitable[Content]],
        policy: Policy,
        now: datetime,
    ) -> None:
        async with self._sessions.begin() as session:
            ticket = await session.get_one(Ticket, ticket_id)
            if not _still_due(ticket, clock, now):  # another sweep, or staff, got there first
                return
            content = await act(session, ticket, policy, now, swept)
            await session.flush()
            to = await session.get_one(Identity, ticket.origin_identity_id)
            outbox_id = await outbox.owe(
                session, ticket=ticket, to=to, content=content, message_id=None, now=now
            )
            customer = await session.get_one(Customer, ticket.customer_id)
            customer_id, claims = customer.id, customer.claims_customer_id
            version = ticket.state_version
        if outbox_id is not None:
            swept.owed.append(outbox_id)
        await self._throttle.mark_answered(
            customer_id=customer_id,
            ticket_id=ticket_id,
            state_version=version,
            limits=policy.throttle,
            claims=claims,
        )

    async def _missed(
        self, session: AsyncSession, ticket: Ticket, policy: Policy, now: datetime, swept: Swept
    ) -> Content:
        sla = policy.sla
        missed_due, overdue_since = ticket.resolve_due, ticket.overdue_at or now
        new_due = add_business_days(now, sla.extension_days, sla)
        explanation = await lifecycle.explanation(session, ticket)
        lifecycle.change_status(
            session,
            ticket,
            TicketStatus(ticket.status),
            note=(
                f"resolve date {missed_due:%Y-%m-%d} missed; the customer was told the new "
                f"date {new_due:%Y-%m-%d}"
            ),
            actor=lifecycle.SYSTEM,
            now=now,
            progress_due=add_business_days(now, sla.progress_days, sla),
            resolve_due=new_due,
        )
        ticket.overdue_at = overdue_since  # overdue for staff until it is decided
        swept.overdue.append(ticket.ref or "")
        return replies.target_missed(ticket, missed_due, explanation)

    async def _progress(
        self, session: AsyncSession, ticket: Ticket, policy: Policy, now: datetime, swept: Swept
    ) -> Content:
        sla = policy.sla
        lifecycle.change_status(
            session,
            ticket,
            TicketStatus(ticket.status),
            note="progress update sent",
            actor=lifecycle.SYSTEM,
            now=now,
            progress_due=add_business_days(now, sla.progress_days, sla),
        )
        return replies.progress_update(ticket, now)

    async def _mark_at_risk(self, policy: Policy, now: datetime, swept: Swept) -> None:
        """For staff only: no reply, no change of state."""
        horizon = add_business_days(now, policy.sla.at_risk_days, policy.sla)
        async with self._sessions.begin() as session:
            query = select(
                Ticket.id, Ticket.ref, Ticket.status, Ticket.state_version, Ticket.resolve_due
            ).where(
                Ticket.status.in_(_OPEN),
                Ticket.at_risk_at.is_(None),
                Ticket.resolve_due <= horizon,
                Ticket.resolve_due > now,
            )
            found = (await session.execute(for_update_skip_locked(query, session, Ticket))).all()
            if not found:
                return
            marked = _TICKETS.c.id.in_([t.id for t in found])
            await session.execute(update(_TICKETS).where(marked).values(at_risk_at=now))
            session.add_all(
                lifecycle.staff_note(
                    t.id,
                    (t.status, t.state_version),
                    f"at risk: the resolve date {t.resolve_due:%Y-%m-%d} is near",
                    now,
                )
                for t in found
            )
        swept.at_risk.extend(t.ref or "" for t in found)

    async def _retention(self, policy: Policy, now: datetime, swept: Swept) -> None:
        days = policy.privacy.retention_days
        if days <= 0 or self.erase is None:
            return
        cutoff = now - timedelta(days=days)
        still_open = func.sum(case((Ticket.status.in_(_OPEN), 1), else_=0))
        async with self._sessions() as session:
            due = list(
                await session.scalars(
                    select(Ticket.customer_id)
                    .join(Customer, Customer.id == Ticket.customer_id)
                    .where(Customer.erased_at.is_(None))
                    .group_by(Ticket.customer_id)
                    .having(still_open == 0, func.max(Ticket.closed_at) <= cutoff)
                    .limit(self._batch)
                )
            )
        for customer_id in due:
            await self.erase(customer_id)
            swept.erased.append(customer_id)


def _still_due(ticket: Ticket, clock: _Clock, now: datetime) -> bool:
    """The look-up's condition, again on the row as this transaction sees it."""
    due: datetime = getattr(ticket, clock)
    return TicketStatus(ticket.status) in OPEN_STATUSES and due <= now


def _due(clock: _Clock, now: datetime) -> Select[int]:
    """Open tickets whose clock ran out, oldest first."""
    column: InstrumentedAttribute[datetime] = getattr(Ticket, clock)
    return (
        select(Ticket.id)
        .where(Ticket.status.in_(_OPEN), column <= now)
        .order_by(column, Ticket.id)
        .limit(1000)
    )
