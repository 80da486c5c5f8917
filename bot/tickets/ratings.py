"""The satisfaction question sent with a resolution: one rating, 1-5 and a comment, per ticket.

The resolution reply (bot.staff.desk) carries a link with a random token; only its hash is
kept (`rating_links`), with the ticket it is for and until when it works. The link names
the ticket's reference too, and a token answers only for its own ticket: a wrong,
expired, unknown or another ticket's token is one answer, "not valid", which never says
whether the ticket exists. The rating itself is one row per ticket (unique ticket_id): a
second submission, or two racing each other, finds it recorded and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.errors import IntakeError
from bot.contract.ports import (
    MAX_RATING_COMMENT,
    RATING_SCORES,
    RatingInvite,
    RatingOutcome,
)
from bot.store.models import Customer, Rating, RatingLink, Ticket
from bot.tickets.lifecycle import REF
from bot.tickets.links import MAX_TOKEN, digest

log = logging.getLogger(__name__)
LINK_DAYS = 60  # how long a rating link works, unless the settings say otherwise
MIN_TOKEN = 16


@dataclass(frozen=True)
class RatingView:
    """A ticket's rating, as staff see it."""

    score: int
    comment: str
    language: str
    rated_at: datetime


def new_link(session: AsyncSession, ticket: Ticket, now: datetime, days: int = LINK_DAYS) -> str:
    """A rating link's token for `ticket`, valid `days`; the database keeps only its hash."""
    token = secrets.token_urlsafe(24)
    session.add(
        RatingLink(
            ticket_id=ticket.id,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    return token


async def is_rated(session: AsyncSession, ticket_id: int) -> bool:
    return await session.scalar(select(Rating.id).where(Rating.ticket_id == ticket_id)) is not None


class TicketRatings:
    """The RatingBook the rating page asks (bot.contract.ports), and the console's view."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions, self._clock = sessions, clock

    async def invitation(self, ref: str, token: str) -> RatingInvite | None:
        async with self._sessions() as session:
            ticket = await self._ticket(session, ref, token)
            if ticket is None:
                return None
            rated = await is_rated(session, ticket.id)
            return RatingInvite(ref=ticket.ref or "", language=ticket.language, rated=rated)

    async def rate(
        self, ref: str, token: str, score: int, comment: str, language: str
    ) -> RatingOutcome:
        """Store the ticket's one rating; a rating already there is kept as it was."""
        if score not in RATING_SCORES or len(comment) > MAX_RATING_COMMENT:
            raise IntakeError(
                f"a rating is 1 to 5, with a comment of at most {MAX_RATING_COMMENT} characters"
            )
        try:
            async with self._sessions.begin() as session:
                ticket = await self._ticket(session, ref, token)
                if ticket is None:
                    return RatingOutcome.INVALID
                if await is_rated(session, ticket.id):
                    return RatingOutcome.ALREADY
                session.add(
                    Rating(
                        ticket_id=ticket.id,
                        score=score,
                        comment=comment.replace("\x00", "").strip(),
                        language=language[:16],
                        rated_at=self._clock.now(),
                    )
                )
        except IntegrityError:  # another submission of the same ticket's rating came first
            return RatingOutcome.ALREADY
        log.info("ticket rated", extra={"ticket_ref": ref, "score": score})
        return RatingOutcome.STORED

    async def of_ticket(self, ref: str) -> RatingView | None:
        """The ticket's rating, for staff; None when the customer gave none."""
        async with self._sessions() as session:
            rating = await session.scalar(
                select(Rating).join(Ticket, Ticket.id == Rating.ticket_id).where(Ticket.ref == ref)
            )
            if rating is None:
                return None
            return RatingView(rating.score, rating.comment, rating.language, rating.rated_at)

    async def _ticket(self, session: AsyncSession, ref: str, token: str) -> Ticket | None:
        """The ticket `token` was sent for, if it is `ref`, the link still works and the
        customer's data was not erased; None otherwise, whichever it was."""
        ref = ref.strip().upper()
        if not (MIN_TOKEN <= len(token) <= MAX_TOKEN and REF.fullmatch(ref)):
            return None
        return await session.scalar(
            select(Ticket)
            .join(RatingLink, RatingLink.ticket_id == Ticket.id)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(
                RatingLink.token_hash == digest(token),
                RatingLink.expires_at > self._clock.now(),
                Ticket.ref == ref,
                Customer.erased_at.is_(None),
            )
        )
