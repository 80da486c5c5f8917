"""Staff actions on tickets. A status change is a change of state: exactly one reply; a
note on the status the ticket has is for staff, and owes none. Before a change, staff may
see the reply it would send (`preview`): the same code words both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from urllib.parse import quote, urlencode

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import TicketStatus
from bot.contract.errors import IntakeError
from bot.rules import sla
from bot.rules.policy import Policy, PolicyStore
from bot.stages import outbox
from bot.store import audit
from bot.store.models import Customer, Identity, Ticket
from bot.tickets import lifecycle as tickets
from bot.tickets import ratings, replies
from moderation.throttle import Throttle


@dataclass(frozen=True)
class StatusChange:
    ticket_id: int
    ref: str
    state_version: int
    outbox_id: int | None


# A preview shows a decision's appeal link with this in place of its one-time token, which
# is made (and its hash kept) only when the change is confirmed.
PREVIEW_TOKEN = "ONE-TIME-TOKEN"  # noqa: S105 -- a placeholder, not a secret


@dataclass(frozen=True)
class Preview:
    """What a change would send, as of the ticket's `state_version`: the reply to the
    ticket's first address, or nothing (`note_only`: a note for staff)."""

    ref: str
    status: TicketStatus
    state_version: int
    note_only: bool
    channel: str = ""
    address: str = ""
    language: str = ""
    subject: str = ""
    text: str = ""


class TicketChanged(IntakeError):
    """The ticket's state moved on since it was previewed."""


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
        rating_days: int = ratings.LINK_DAYS,
    ) -> None:
        """`public_url`: where customers reach the bot; without it a decision carries no
        appeal link (replying with the appeal word still works) and a resolution no rating
        link. `rating_days`: how long a resolution's rating link works."""
        self._public_url = public_url.rstrip("/")
        self._rating_days = rating_days
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
        seen_version: int | None = None,
    ) -> StatusChange:
        """Move a ticket to `status` (the table of lifecycle.TRANSITIONS), telling the
        customer once; the same status again, with a note only, is a note for staff and owes
        nothing. `new_resolve_date`: a new target, which needs an explanation.
        `seen_version`: the state the caller previewed; another one raises TicketChanged, so
        a colleague's change in between is never answered with words written for the old."""
        now = self._clock.now()
        policy = self._policy.current
        note = note.strip()
        async with self._sessions.begin() as session:
            ticket = await _ticket(session, ref)
            if seen_version is not None and ticket.state_version != seen_version:
                raise TicketChanged(
                    f"{ticket.ref} changed since it was previewed; look at the reply again"
                )
            resolve_due = _checked(ticket, status, note, new_resolve_date, policy, now)
            if ticket.status == status.value and resolve_due is None:
                return await self._note_only(session, ticket, note=note, actor=actor, now=now)
            rating = await self._rating_link(
                session,
                ticket,
                status,
                lambda: ratings.new_link(session, ticket, now, self._rating_days),
            )
            link = self._appeal_link(status, lambda: tickets.new_appeal_token(ticket))
            content = _apply(
                session, ticket, status, note, actor, now, resolve_due, policy, link, rating
            )
            await session.flush()
            to = await session.get_one(Identity, ticket.origin_identity_id)
            outbox_id = await outbox.owe(
                session, ticket=ticket, to=to, content=content, message_id=None, now=now
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

    async def preview(
        self, ref: str, status: TicketStatus, *, note: str, new_resolve_date: date | None = None
    ) -> Preview:
        """What change_status would do now, refused the same way, with nothing saved: the
        change is made on the loaded ticket only to word the reply, then rolled back."""
        now = self._clock.now()
        policy = self._policy.current
        note = note.strip()
        async with self._sessions() as session:
            ticket = await _ticket(session, ref)
            resolve_due = _checked(ticket, status, note, new_resolve_date, policy, now)
            seen = Preview(ticket.ref or "", status, ticket.state_version, note_only=True)
            if ticket.status == status.value and resolve_due is None:
                return seen
            to = await session.get_one(Identity, ticket.origin_identity_id)
            channel, address, language = to.channel, to.address, ticket.language
            rating = await self._rating_link(session, ticket, status, lambda: PREVIEW_TOKEN)
            link = self._appeal_link(status, lambda: PREVIEW_TOKEN)
            with session.no_autoflush:  # nothing reaches the database
                _kind, subject, text = _apply(
                    session, ticket, status, note, "preview", now, resolve_due, policy, link, rating
                )
            await session.rollback()
        return replace(
            seen,
            note_only=False,
            channel=channel,
            address=address,
            language=language,
            subject=subject,
            text=text,
        )

    async def add_note(self, ref: str, note: str, actor: str) -> StatusChange:
        """A note for staff on the ticket's history, whatever its status: never told to the
        customer, so it owes no reply and leaves the state as it is."""
        note = note.strip()
        if not note:
            raise IntakeError("a note needs some text")
        async with self._sessions.begin() as session:
            ticket = await _ticket(session, ref)
            return await self._note_only(
                session, ticket, note=note, actor=actor, now=self._clock.now()
            )

    def _appeal_link(self, status: TicketStatus, token: Callable[[], str]) -> str:
        """A decision's appeal link, when customers can reach the bot (`public_url`)."""
        if not self._public_url or status not in (TicketStatus.RESOLVED, TicketStatus.REJECTED):
            return ""
        return f"{self._public_url}/appeal?token={token()}"

    async def _rating_link(
        self, session: AsyncSession, ticket: Ticket, status: TicketStatus, token: Callable[[], str]
    ) -> str:
        """A resolution's satisfaction question (bot.tickets.ratings), unless the customer
        already rated the ticket or cannot reach the bot (`public_url`)."""
        if not self._public_url or status is not TicketStatus.RESOLVED:
            return ""
        if await ratings.is_rated(session, ticket.id):
            return ""
        ref, lang = quote(ticket.ref or ""), urlencode({"lang": ticket.language})
        return f"{self._public_url}/rate/{ref}/{token()}?{lang}"

    async def _note_only(
        self, session: AsyncSession, ticket: Ticket, *, note: str, actor: str, now: datetime
    ) -> StatusChange:
        tickets.add_note(session, ticket, note=note, actor=actor, now=now)
        audit.record(
            session, at=now, actor=actor, action="ticket.note", target=ticket.ref or "", note=note
        )
        return StatusChange(ticket.id, ticket.ref or "", ticket.state_version, None)


async def _ticket(session: AsyncSession, ref: str) -> Ticket:
    ticket = await tickets.by_ref(session, ref)
    if ticket is None:
        raise IntakeError(f"no ticket {ref[:40]!r}")
    return ticket


def _checked(
    ticket: Ticket,
    status: TicketStatus,
    note: str,
    new_resolve_date: date | None,
    policy: Policy,
    now: datetime,
) -> datetime | None:
    """Refuse what the lifecycle refuses; the new resolve date as a moment, if one is set."""
    resolve_due = None if new_resolve_date is None else sla.end_of_day(new_resolve_date, policy.sla)
    tickets.check_change(ticket, status, note=note, new_resolve_date=resolve_due)
    if resolve_due is not None and resolve_due <= now:
        raise IntakeError(f"the new resolve date {new_resolve_date} is not in the future")
    return resolve_due


def _apply(
    session: AsyncSession,
    ticket: Ticket,
    status: TicketStatus,
    note: str,
    actor: str,
    now: datetime,
    resolve_due: datetime | None,
    policy: Policy,
    appeal_link: str,
    rating_link: str = "",
) -> replies.Content:
    """Change the ticket's state and word the reply that change owes: one path for the
    change and its preview, so the preview is the reply."""
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
    return replies.status_changed(
        ticket,
        note,
        now,
        new_resolve_due=resolve_due,
        appeal_days=policy.sla.appeal_days,
        appeal_link=appeal_link,
        rating_link=rating_link,
    )
