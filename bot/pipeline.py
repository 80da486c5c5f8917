"""The worker's stage of the stream: from a stored message to its decision, in one place.

identity -> ticket -> gate -> toxicity -> throttle -> reply policy, with the
decision, the ticket's changes and the owed reply written in one transaction
per batch (a savepoint per message, so one poison message spoils nothing else).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot import identity, language, replies, tickets
from bot.clock import Clock
from bot.details import Found, extract
from bot.domain import Channel, Decision
from bot.i18n import pick_language
from bot.models import Identity, Message, ModerationItem, Ticket
from bot.policy import Policy, PolicyStore
from bot.ports import Classifier, Scores
from bot.sla import deadlines
from moderation.throttle import Throttle

log = logging.getLogger(__name__)
_RETRIES = 3


@dataclass(frozen=True)
class Outcome:
    message_id: int
    decision: Decision
    ticket_id: int | None
    ticket_ref: str | None
    outbox_id: int | None
    reason: str = ""


class Pipeline:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], throttle: Throttle,
                 classifier: Classifier, policy: PolicyStore, clock: Clock,
                 default_language: str = "en") -> None:
        self._sessions = sessions
        self._throttle = throttle
        self._classifier = classifier
        self._policy = policy
        self._clock = clock
        self._default_language = default_language

    async def process(self, message_ids: Sequence[int]) -> list[Outcome]:
        """Decide every undecided message of the batch and commit once."""
        async with self._sessions() as session:
            rows = list(await session.scalars(
                select(Message).where(Message.id.in_(message_ids), Message.decision.is_(None))
                .order_by(Message.id)))
            scores = await self._classifier.score([r.text for r in rows]) if rows else []
            policy = self._policy.current
            outcomes = [await self._decide_safely(session, row, s, policy)
                        for row, s in zip(rows, scores, strict=True)]
            await session.commit()
        return outcomes

    async def _decide_safely(self, session: AsyncSession, row: Message, scores: Scores,
                             policy: Policy) -> Outcome:
        for _attempt in range(_RETRIES):
            try:
                async with session.begin_nested():
                    return await self._decide(session, row, scores, policy)
            except (IntegrityError, StaleDataError):  # another worker got there first
                await session.refresh(row)
            except Exception as exc:
                log.exception("message could not be decided", extra={"message_id": row.id})
                return await self._record_error(session, row, f"{type(exc).__name__}: {exc}")
        return await self._record_error(session, row, "kept conflicting with other workers")

    async def _record_error(self, session: AsyncSession, row: Message, reason: str) -> Outcome:
        """A poison message is stored with its reason and acked: it must not stop the stream."""
        async with session.begin_nested():
            row.decision, row.reason = Decision.ERROR.value, reason[:2000]
            row.processed_at = self._clock.now()
        return Outcome(row.id, Decision.ERROR, None, None, None, reason)

    async def _decide(self, session: AsyncSession, row: Message, scores: Scores,
                      policy: Policy) -> Outcome:
        now = self._clock.now()
        channel = Channel(row.channel)
        found = extract(row.text, row.subject)
        who = await identity.resolve(session, channel, row.sender, row.display_name, found, now)
        row.customer_id, row.identity_id = who.customer.id, who.identity.id
        row.language = row.language or language.detect(row.text)
        if row.language and who.customer.language is None:
            who.customer.language = row.language  # for later messages too short to tell
        row.scores = dict(scores.values)
        fired = policy.toxicity.fired(scores)
        ticket = await tickets.find_open(session, who.customer.id, found)
        if not policy.accepts(channel):
            return self._hold(row, Decision.CHANNEL_CLOSED, ticket, "channel not accepted", now)
        blocked = who.customer.blocked_until
        if blocked is not None and blocked > now:
            return self._hold(row, Decision.FLAGGED, ticket,
                              f"sender blocked until {blocked.isoformat()}", now)
        if fired and not await _released(session, row.id):
            session.add(ModerationItem(message_id=row.id, scores=dict(scores.values),
                                       labels=list(fired), created_at=now))
            return self._hold(row, Decision.FLAGGED, ticket, ",".join(fired), now)
        return await self._answer_or_throttle(session, row, who, ticket, found, policy, now)

    def _hold(self, row: Message, decision: Decision, ticket: Ticket | None, reason: str,
              now: datetime) -> Outcome:
        """Stored and visible to staff, but no ticket is opened and nothing is answered."""
        row.ticket_id = ticket.id if ticket else None
        row.decision, row.reason, row.processed_at = decision.value, reason, now
        return Outcome(row.id, decision, row.ticket_id, ticket.ref if ticket else None, None,
                       reason)

    async def _answer_or_throttle(self, session: AsyncSession, row: Message,
                                  who: identity.Who, ticket: Ticket | None, found: Found,
                                  policy: Policy, now: datetime) -> Outcome:
        content: tuple[str, str, str] | None = None
        if ticket is None:
            lang = pick_language(row.language or who.customer.language, self._default_language)
            ticket = await tickets.open_ticket(
                session, customer=who.customer, identity=who.identity, text=row.text,
                found=found, language=lang, deadlines=deadlines(row.received_at, policy.sla),
                now=now)
            content = replies.acknowledgment(ticket)
        elif received := tickets.accept_details(ticket, found, now):
            content = replies.detail_received(ticket, received)
        await session.flush()
        row.ticket_id = ticket.id
        verdict = await self._throttle.decide(
            customer_id=who.customer.id, message_id=str(row.id), ticket_id=ticket.id,
            state_version=ticket.state_version, text=row.text, now=now, limits=policy.throttle)
        decision, outbox_id = verdict.decision, None
        if decision is Decision.ANSWERED:
            to = await _reply_identity(session, who, ticket)
            outbox_id = await replies.owe(session, ticket=ticket, to=to,
                                          content=content or replies.current_state(ticket),
                                          message_id=row.id, now=now)
            if outbox_id is None:  # this state was answered already (Redis lost its memory)
                decision = Decision.COLLAPSED
        reason = f"repeats message {verdict.repeat_of}" if verdict.repeat_of else ""
        row.decision, row.reason, row.processed_at = decision.value, reason, now
        return Outcome(row.id, decision, ticket.id, ticket.ref, outbox_id, reason)


async def _released(session: AsyncSession, message_id: int) -> bool:
    """A moderator released it: the classifier's verdict no longer holds it."""
    status = await session.scalar(
        select(ModerationItem.status).where(ModerationItem.message_id == message_id))
    return status == "released"


async def _reply_identity(session: AsyncSession, who: identity.Who, ticket: Ticket) -> Identity:
    if not who.claimed and who.customer.id == ticket.customer_id:
        return who.identity
    return await session.get_one(Identity, ticket.origin_identity_id)
