"""The worker's stage of the stream: from a stored message to its decision, in one place.

identity -> ticket -> gate -> toxicity -> throttle -> reply policy, with the
decision, the ticket's changes and the owed reply written in one transaction
per batch. A batch is first read (`read`: its rows, toxicity scores, details and
languages, all from its texts alone, so the worker reads the next batch while it
decides this one). Deciding goes in three passes, each message in stream order:
everything up to the throttle (the batch's senders and their open tickets are
looked up once for all of it, its new senders' customers created together; the
tickets it opens and the details it adds are written together at the end of the
pass, the new tickets numbered), then the throttle for all of them in one round
trip, then the replies owed, in one INSERT; the messages' rows are written last,
together. Nothing else is flushed before it must be: a ticket's new state before
the throttle hears of it.

If anything in the batch fails (a race with another worker, a poison message),
its transaction is rolled back and the batch is decided again one message at a
time, each in a savepoint of its own, so one poison message spoils nothing else.
The throttle remembers its verdict per message, so deciding again changes none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer
from sqlalchemy.orm.exc import StaleDataError

from bot.contract.clock import Clock
from bot.contract.domain import Channel, Decision, TicketStatus
from bot.contract.log_context import bind
from bot.contract.ports import Classifier, Explains, Scores
from bot.rules import intents
from bot.rules.details import Found, extract, with_given, with_thread_refs
from bot.rules.policy import Policy, PolicyStore
from bot.rules.sla import add_business_days, deadlines
from bot.stages import outbox
from bot.store.db import for_update
from bot.store.models import Message, ModerationItem, Ticket, table_of
from bot.store.outages import conflict, transient
from bot.text import language
from bot.text.i18n import pick_language
from bot.tickets import identity, replies
from bot.tickets import lifecycle as tickets
from moderation.throttle import Ask, Fresh, Throttle, Verdict

log = logging.getLogger(__name__)
_RETRIES = 3
_BATCH_TRIES = 2  # a batch that lost a race, as a whole, before one message at a time


@dataclass(frozen=True)
class Outcome:
    message_id: int
    decision: Decision
    ticket_id: int | None
    ticket_ref: str | None
    outbox_id: int | None
    reason: str = ""


@dataclass(frozen=True)
class Batch:
    """Undecided messages with all that their text alone tells: their toxicity scores,
    details and language. None of it depends on what the store holds, so the worker reads
    the next batch while the one before it is decided."""

    rows: list[Message]
    scores: dict[int, Scores]
    readings: dict[int, _Reading]

    def without(self, decided: set[int]) -> Batch:
        return Batch([r for r in self.rows if r.id not in decided], self.scores, self.readings)


@dataclass
class _Known:
    """What a batch looked up once: its senders and their customers' open tickets.

    The batch keeps both current as its messages add identities and open tickets, so a
    customer's later message in it sees what the earlier one did. What is missing from
    them did not exist when the batch began; a worker that creates it meanwhile makes our
    INSERT fail on a unique key, and the one-by-one retry looks in the database again.
    """

    senders: identity.Senders
    open_tickets: tickets.OpenTickets
    released: set[int]  # the messages among those the classifier flags that a moderator let go
    readings: dict[int, _Reading]  # message id -> what its text says

    @classmethod
    async def load(
        cls, session: AsyncSession, batch: Batch, policy: Policy, now: datetime
    ) -> _Known:
        """Senders new to the store whose first message claims nobody become customers
        here, all at once: the usual case, which one by one costs two round trips each."""
        rows, readings = batch.rows, batch.readings
        senders = await identity.known_senders(
            session, [(Channel(r.channel), r.sender) for r in rows]
        )
        customer_ids = {who.customer.id for who in senders.values()}
        firsts: dict[tuple[str, str], identity.NewSender | None] = {}
        for row in rows:
            channel = Channel(row.channel)
            key = (channel.value, identity.normalize_address(channel, row.sender))
            if key in senders or key in firsts:
                continue
            found, lang = readings[row.id]
            claims = found.ticket_refs or found.emails or found.phones
            firsts[key] = (
                None if claims else identity.NewSender(channel, row.sender, row.display_name, lang)
            )
        new = [first for first in firsts.values() if first is not None]
        if new:
            senders |= await identity.create_many(session, new, now)
        flagged = [
            r.id
            for r in rows
            if _held_for(policy.toxicity.fired(batch.scores[r.id]), r.sender_unproven)
        ]
        return cls(
            senders,
            await tickets.open_tickets(session, customer_ids),
            await _released_among(session, flagged),
            readings,
        )


@dataclass
class _Turn:
    """One message on its way through the batch; its row is written once all are decided.

    `state_version` and `reply` are the ticket's state as this message saw it: a later
    message of the same customer may change the ticket before the throttle is asked.
    """

    row: Message
    now: datetime
    who: identity.Who
    language: str | None
    scores: Scores
    ticket: Ticket | None
    state_version: int = 0
    reply: replies.Draft | None = None
    decision: Decision | None = None  # None until held, or answered by the throttle
    reason: str = ""
    outbox_id: int | None = None
    claim: bool = False  # shown on another customer's ticket, never answered about it
    topic: str = ""  # what the reply answers: '' a change of state, 'status' a question
    # A status question no verified identity of the sender can ask: the one neutral answer.
    neutral: bool = False

    def hold(self, decision: Decision, reason: str) -> _Turn:
        """Stored and visible to staff, but no ticket is opened and nothing is answered."""
        self.decision, self.reason = decision, reason
        return self

    def ask(self) -> Ask:
        # A claimant is answered once per state of the ticket it names (with the claimed
        # customer's flood counted); a sender with nothing to name, once per answered-ttl.
        if self.neutral and self.ticket is None:
            return Ask(
                customer_id=self.who.customer.id,
                message_id=str(self.row.id),
                ticket_id=0,
                state_version=1,
                text=self.row.text,
                now=self.now,
                claims=self.who.claims,
                topic=replies.NEUTRAL_TOPIC,
            )
        assert self.ticket is not None
        return Ask(
            customer_id=self.who.customer.id,
            message_id=str(self.row.id),
            ticket_id=self.ticket.id,
            state_version=self.state_version,
            text=self.row.text,
            now=self.now,
            claims=self.who.claims,
            topic=self.topic,
        )

    def decided(self) -> dict[str, object]:
        """The message's row as decided (the parameters of `_DECIDED`)."""
        assert self.decision is not None
        return {
            "b_id": self.row.id,
            "customer_id": self.who.customer.id,
            "identity_id": self.who.identity.id,
            "language": self.language,
            "scores": dict(self.scores.values),
            "ticket_id": self.ticket.id if self.ticket else None,
            "decision": self.decision.value,
            "reason": self.reason,
            "processed_at": self.now,
        }

    def outcome(self) -> Outcome:
        assert self.decision is not None
        ticket = self.ticket
        return Outcome(
            self.row.id,
            self.decision,
            ticket.id if ticket else None,
            ticket.ref if ticket else None,
            self.outbox_id,
            self.reason,
        )


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        throttle: Throttle,
        classifier: Classifier,
        policy: PolicyStore,
        clock: Clock,
        default_language: str = "en",
    ) -> None:
        self._sessions = sessions
        self._throttle = throttle
        self._classifier = classifier
        self._policy = policy
        self._clock = clock
        self._default_language = default_language
        # Told each batch's size and how long the classifier took over it (/metrics).
        self.on_scored: Callable[[int, float], None] | None = None

    async def process(self, message_ids: Sequence[int]) -> list[Outcome]:
        """Decide every undecided message of the batch and commit once."""
        return await self.decide(await self.read(message_ids))

    async def read(self, message_ids: Sequence[int]) -> Batch:
        async with self._session() as session:
            rows = await _undecided(session, message_ids)
        begun = time.perf_counter()
        scores = await self._classifier.score([r.text for r in rows]) if rows else []
        if rows and self.on_scored is not None:
            self.on_scored(len(rows), time.perf_counter() - begun)
        detected = iter(language.detect_many([r.text for r in rows if not r.language]))
        return Batch(
            rows,
            {row.id: s for row, s in zip(rows, scores, strict=True)},
            {r.id: _read(r, r.language or next(detected)) for r in rows},
        )

    async def decide(self, batch: Batch) -> list[Outcome]:
        """Decide a batch read earlier; what was decided since (a message delivered twice
        to the stream) is left alone.

        A batch that lost a race with another worker (both inserting the same new sender,
        a deadlock) is decided again as a whole: by then the other one has committed, and
        one message at a time is five times slower. Anything else goes one at a time, to
        find the message at fault.
        """
        policy = self._policy.current
        for attempt in range(1, _BATCH_TRIES + 1):
            async with self._session() as session:
                try:
                    ids = [r.id for r in batch.rows]
                    batch = batch.without(await _decided_among(session, ids))
                    known = await _Known.load(session, batch, policy, self._clock.now())
                    outcomes = await self._decide(session, batch.rows, batch.scores, policy, known)
                    await session.commit()
                    return _logged(outcomes)
                except Exception as exc:
                    if transient(exc) and not conflict(exc):
                        raise  # an outage: the batch stays pending, to be read again
                    raced = conflict(exc) or isinstance(exc, (IntegrityError, StaleDataError))
                    again = raced and attempt < _BATCH_TRIES
                    log.info(
                        "batch of %d failed as a whole (%s: %s); %s",
                        len(batch.rows),
                        type(exc).__name__,
                        exc,
                        "again, as a whole" if again else "one message at a time",
                    )
                    await session.rollback()
                    if not again:
                        break
        return _logged(await self._one_by_one(list(batch.scores), batch.scores, policy))

    def _session(self) -> AsyncSession:
        """No autoflush: a query would write out every pending change of the batch first."""
        return self._sessions(autoflush=False)

    async def _one_by_one(
        self, message_ids: Sequence[int], scores: dict[int, Scores], policy: Policy
    ) -> list[Outcome]:
        """The batch again, each message in a savepoint of its own and looked up afresh."""
        async with self._session() as session:
            rows = await _undecided(session, message_ids, lock=True)
            outcomes = [
                await self._decide_safely(session, row, scores[row.id], policy) for row in rows
            ]
            await session.commit()
        return outcomes

    async def _decide_safely(
        self, session: AsyncSession, row: Message, scores: Scores, policy: Policy
    ) -> Outcome:
        """An outage (bot.store.outages) is raised: the message stays pending and is tried
        again later. Only a failure of the message itself, the same on every retry, is
        recorded as its `error` decision."""
        with bind(message_id=row.id):
            failure: Exception | None = None
            conflicted: Exception | None = None
            for _attempt in range(_RETRIES):
                try:
                    async with session.begin_nested():
                        [outcome] = await self._decide(session, [row], {row.id: scores}, policy)
                        return outcome
                except (IntegrityError, StaleDataError):  # another worker got there first
                    await session.refresh(row)
                except Exception as exc:
                    if conflict(exc):  # a deadlock with another worker, which goes on
                        conflicted = exc
                        continue
                    if transient(exc):
                        raise
                    failure = exc
            if failure is None and conflicted is not None:
                raise conflicted  # still in another worker's way: pending, tried again later
            if failure is None:
                return await self._record_error(session, row, "kept conflicting with other workers")
            log.error("message could not be decided", exc_info=failure)
            return await self._record_error(session, row, f"{type(failure).__name__}: {failure}")

    async def _record_error(self, session: AsyncSession, row: Message, reason: str) -> Outcome:
        """A poison message is stored with its reason and acked: it must not stop the stream."""
        async with session.begin_nested():
            row.decision, row.reason = Decision.ERROR.value, reason[:2000]
            row.processed_at = self._clock.now()
        return Outcome(row.id, Decision.ERROR, None, None, None, reason)

    async def _decide(
        self,
        session: AsyncSession,
        rows: Sequence[Message],
        scores: dict[int, Scores],
        policy: Policy,
        known: _Known | None = None,
    ) -> list[Outcome]:
        """Up to the throttle one by one, the throttle for all at once, then the replies.

        `known`: the batch's look-ups; without, each message asks the database itself.
        """
        opened: list[tickets.Opened] = []
        turns: list[_Turn] = []
        for row in rows:
            with bind(message_id=row.id):
                turns.append(
                    await self._prepare(session, row, scores[row.id], policy, known, opened)
                )
        # The batch's changes, written (and their versions checked) before the throttle
        # hears of a new state: its new tickets in one INSERT, then their references.
        await session.flush()
        await tickets.number(session, opened)
        asked = [turn for turn in turns if turn.decision is None]
        verdicts = await self._throttle.decide_many(
            [t.ask() for t in asked], policy.throttle, _fresh(asked, opened)
        )
        await self._settle(session, asked, verdicts)
        # All rows in one executemany: as ORM changes they would go one UPDATE each, since
        # each row changes its own set of columns (and the ORM's bulk form costs as much
        # Python again as this plain statement).
        if turns:
            await session.execute(_DECIDED, [turn.decided() for turn in turns])
        return [turn.outcome() for turn in turns]

    async def _prepare(
        self,
        session: AsyncSession,
        row: Message,
        scores: Scores,
        policy: Policy,
        known: _Known | None,
        opened: list[tickets.Opened],
    ) -> _Turn:
        """Who wrote, about which ticket, and whether the gate or the classifier holds it."""
        now = self._clock.now()
        channel = Channel(row.channel)
        found, lang = (
            known.readings[row.id]
            if known is not None
            else _read(row, row.language or language.detect(row.text))
        )
        who = await identity.resolve(
            session,
            channel,
            row.sender,
            row.display_name,
            found,
            now,
            language=lang,
            known=None if known is None else known.senders,
        )
        if lang and who.customer.language is None:
            who.customer.language = lang  # for later messages too short to tell
        fired = policy.toxicity.fired(scores)
        open_ = await _open_tickets(session, who.customer.id, known)
        choice = tickets.choose(open_, found, (row.details or {}).get("category"))
        turn = _Turn(row, now, who, lang, scores, choice.ticket)
        if not policy.accepts(channel):
            return turn.hold(Decision.CHANNEL_CLOSED, "channel not accepted")
        if row.automated:  # an auto-reply answered would start a mail loop
            return turn.hold(Decision.COLLAPSED, f"automated, never answered: {row.automated}")
        blocked = who.customer.blocked_until
        if blocked is not None and blocked > now:
            return turn.hold(Decision.FLAGGED, f"sender blocked until {blocked.isoformat()}")
        held = _held_for(fired, row.sender_unproven)
        if held and not await _released(session, row.id, known):
            session.add(
                ModerationItem(
                    message_id=row.id,
                    scores=dict(scores.values),
                    labels=held,
                    created_at=now,
                    worst=max((scores.values.get(label, 0.0) for label in held), default=0.0),
                    label_keys=f",{','.join(held)},"[:200],
                    reasons=self._reasons(row.text),
                )
            )
            unproven = [f"sender not proven: {row.sender_unproven}"] if row.sender_unproven else []
            return turn.hold(Decision.FLAGGED, ",".join([*fired, *unproven]))
        if (
            who.claims is not None
            and (claimed := await _claimed_ticket(session, who.claims, found, known)) is not None
        ):
            # A claim is seen by staff on the ticket it names and counted with that customer,
            # but changes nothing of it and is never answered about it.
            turn.ticket, turn.claim = claimed, True
            turn.state_version = claimed.state_version
            turn.reply = replies.current_state(claimed, now)
            if _asks_any_status(row.text):
                turn.neutral, turn.reply = True, replies.status_unverified(self._language(turn))
            return turn
        await self._open_or_change(session, turn, found, policy, known, opened, choice, open_)
        return turn

    async def _open_or_change(
        self,
        session: AsyncSession,
        turn: _Turn,
        found: Found,
        policy: Policy,
        known: _Known | None,
        opened: list[tickets.Opened],
        choice: tickets.Choice,
        open_: list[Ticket],
    ) -> None:
        """Open a ticket, change the one the message is about, or answer a question on it.

        An appeal of a decided ticket reopens it (or, after the appeal window, opens a new one
        linked to it); a status question is answered once per state; an answer to our
        question moves the ticket back to investigating; new details are stored. The reply
        is drafted now, as of this state, though only the throttle says whether it is owed
        (and a new ticket has its reference only once the batch's are written).
        """
        row, ticket, now, sla = turn.row, turn.ticket, turn.now, policy.sla
        progress_due = add_business_days(now, sla.progress_days, sla)
        decided = (
            await tickets.appealable(session, turn.who.customer.id, found)
            if intents.is_appeal(row.text)
            else None
        )
        if decided is not None and _appeals(decided, found, open_):
            await self._appeal(session, turn, found, policy, known, opened, decided, open_)
        elif ticket is not None and _asks_status(row.text, found, ticket):
            turn.reply, turn.topic = replies.status_answer(ticket, now), replies.STATUS_TOPIC
        elif ticket is None and _asks_any_status(row.text):
            latest = await tickets.appealable(session, turn.who.customer.id, found)
            if latest is None:
                # Nothing of theirs to tell about: the answer a claimant gets, not a ticket.
                turn.neutral, turn.reply = True, replies.status_unverified(self._language(turn))
                return
            # A question about a complaint already decided: its status, not a new ticket.
            turn.ticket = latest
            turn.reply, turn.topic = replies.status_answer(latest, now), replies.STATUS_TOPIC
        elif ticket is None:
            self._open(session, turn, found, policy, known, opened, choice.topic)
        elif ticket.status == TicketStatus.WAITING_CUSTOMER.value:
            tickets.customer_answered(session, ticket, found, now, progress_due)
            turn.reply = replies.answer_received(ticket, now)
        elif received := tickets.accept_details(session, ticket, found, now):
            turn.reply = replies.detail_received(ticket, received)
        else:  # no change: owed only if this state was never answered (its message throttled)
            turn.reply = replies.current_state(ticket, now)
        assert turn.ticket is not None
        turn.state_version = turn.ticket.state_version

    def _open(
        self,
        session: AsyncSession,
        turn: _Turn,
        found: Found,
        policy: Policy,
        known: _Known | None,
        opened: list[tickets.Opened],
        topic: str,
        appeal_of: Ticket | None = None,
    ) -> None:
        who, row = turn.who, turn.row
        lang = self._language(turn)
        if appeal_of is not None:
            lang = appeal_of.language
        ticket = turn.ticket = tickets.open_ticket(
            session,
            customer=who.customer,
            identity=who.identity,
            text=row.text,
            found=found,
            category=(row.details or {}).get("category"),
            language=lang,
            deadlines=deadlines(row.received_at, policy.sla),
            now=turn.now,
            topic=topic,
            appeal_of=appeal_of,
        )
        opened.append(tickets.Opened(ticket, ticket.status))
        if known is not None:
            known.open_tickets.setdefault(who.customer.id, []).append(ticket)
        turn.reply = replies.acknowledgment(ticket)

    def _reasons(self, text: str) -> list[str]:
        classifier = self._classifier
        return classifier.reasons(text)[:50] if isinstance(classifier, Explains) else []

    def _language(self, turn: _Turn) -> str:
        return pick_language(turn.language or turn.who.customer.language, self._default_language)

    async def _appeal(
        self,
        session: AsyncSession,
        turn: _Turn,
        found: Found,
        policy: Policy,
        known: _Known | None,
        opened: list[tickets.Opened],
        decided: Ticket,
        open_: list[Ticket],
    ) -> None:
        """Within `sla.appeal_days` of its decision the same ticket, escalated; after, a new
        ticket linked to it (one: a second appeal goes to that one)."""
        now, sla = turn.now, policy.sla
        if tickets.may_reopen(decided, now, sla.appeal_days):
            tickets.reopen(session, decided, now, add_business_days(now, sla.progress_days, sla))
            if known is not None:
                known.open_tickets.setdefault(turn.who.customer.id, []).append(decided)
            turn.ticket, turn.reply = decided, replies.appeal_reopened(decided, now)
            return
        linked = next((t for t in open_ if t.appeal_of_id == decided.id), None)
        if linked is not None:
            turn.ticket, turn.reply = linked, replies.current_state(linked, now)
            return
        self._open(session, turn, found, policy, known, opened, f"appeal:{decided.ref}", decided)

    async def _settle(
        self, session: AsyncSession, turns: Sequence[_Turn], verdicts: Sequence[Verdict]
    ) -> None:
        """Answered means a reply is owed; the outbox's unique key has the last word.

        The batch's owed replies are written together, each as of its own state.
        """
        owed: list[tuple[_Turn, outbox.Owed]] = []
        neutral: list[_Turn] = []
        for turn, verdict in zip(turns, verdicts, strict=True):
            assert turn.reply is not None  # every message the throttle saw has one
            turn.decision = verdict.decision
            turn.reason = f"repeats message {verdict.repeat_of}" if verdict.repeat_of else ""
            if turn.neutral:
                if verdict.decision is Decision.ANSWERED:
                    neutral.append(turn)
                    if turn.claim:
                        turn.reason = "claims another customer: told only where to ask"
                continue
            assert turn.ticket is not None
            if turn.claim and verdict.decision is Decision.ANSWERED:
                turn.decision = Decision.COLLAPSED
                turn.reason = (
                    f"claims to be the customer of {turn.ticket.ref}: never answered "
                    "about another customer's complaint"
                )
            elif verdict.decision is Decision.ANSWERED:
                owed.append(
                    (
                        turn,
                        outbox.Owed(
                            turn.ticket,
                            turn.state_version,
                            turn.who.identity,
                            turn.reply(),
                            turn.row.id,
                            turn.topic,
                        ),
                    )
                )
        now = self._clock.now()
        ids = await outbox.owe_many(session, [o for _, o in owed], now)
        for (turn, _), outbox_id in zip(owed, ids, strict=True):
            turn.outbox_id = outbox_id
            if outbox_id is None:  # this state was answered already (Redis lost its memory)
                turn.decision = Decision.COLLAPSED
        for turn in neutral:
            assert turn.reply is not None
            turn.outbox_id = await outbox.owe_neutral(
                session,
                to=turn.who.identity,
                content=turn.reply(),
                language=self._language(turn),
                message_id=turn.row.id,
                now=now,
            )


_MESSAGES = table_of(Message)
_DECIDED = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("b_id"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "customer_id",
                "identity_id",
                "language",
                "scores",
                "ticket_id",
                "decision",
                "reason",
                "processed_at",
            )
        }
    )
)

_Reading = tuple[Found, str | None]  # a message's details, contacts and refs; its language

UNPROVEN_SENDER = "unproven_sender"  # the moderation label of a message held for it


def _fresh(asked: Sequence[_Turn], opened: Sequence[tickets.Opened]) -> list[Fresh]:
    """The customers and tickets this batch created, as the throttle knows them."""
    new_tickets = {id(new.ticket) for new in opened}
    customers: dict[tuple[int, int | None], Fresh] = {}
    about: dict[tuple[int, int | None, int], list[str]] = {}
    for turn in asked:
        who, ticket = turn.who, turn.ticket
        if who.new:
            customers.setdefault((who.customer.id, who.claims), Fresh(who.customer.id, who.claims))
        elif ticket is not None and id(ticket) in new_tickets:
            key = (who.customer.id, who.claims, ticket.id)
            about.setdefault(key, []).append(str(turn.row.id))
    return [
        *customers.values(),
        *(Fresh(c, claims, t, tuple(ids)) for (c, claims, t), ids in about.items()),
    ]


def _logged(outcomes: list[Outcome]) -> list[Outcome]:
    """A DEBUG line per committed decision, about its message, ticket and reply."""
    if log.isEnabledFor(logging.DEBUG):
        for o in outcomes:
            with bind(
                message_id=o.message_id,
                ticket_ref=o.ticket_ref,
                outbox_id=o.outbox_id,
                decision=o.decision.value,
                reason=o.reason or None,
            ):
                log.debug("message decided")
    return outcomes


def _held_for(fired: Sequence[str], sender_unproven: str) -> list[str]:
    """The labels a moderator must clear first: the classifier's, and an unproven sender
    (answering a forged address would send our mail to someone who never wrote)."""
    return [*fired, UNPROVEN_SENDER] if sender_unproven else list(fired)


def _read(row: Message, lang: str | None) -> _Reading:
    """`lang`: the message's language, as given or detected (a batch is detected at once)."""
    found = with_given(
        with_thread_refs(extract(row.text, row.subject), row.thread_refs), row.details
    )
    return found, lang


async def _decided_among(session: AsyncSession, message_ids: Sequence[int]) -> set[int]:
    """Those decided already; the batch's rows stay locked until this transaction ends."""
    if not message_ids:
        return set()
    query = select(Message.id, Message.decision).where(Message.id.in_(message_ids))
    # Locked in id order: a worker that took over a batch still in another's hands
    # (XAUTOCLAIM) waits for that one's commit, then sees its decisions, instead of
    # deciding the same messages a second time.
    rows = await session.execute(for_update(query.order_by(Message.id), session, Message))
    return {message_id for message_id, decision in rows if decision is not None}


async def _undecided(
    session: AsyncSession, message_ids: Sequence[int], *, lock: bool = False
) -> list[Message]:
    """Without the provider's raw payload and the attachments: no decision reads them, and
    decoding their JSON cost the worker more than any other column. `lock`: as
    `_decided_among`, for a transaction about to decide them."""
    query = (
        select(Message)
        .options(defer(Message.raw, raiseload=True), defer(Message.attachments, raiseload=True))
        .where(Message.id.in_(message_ids), Message.decision.is_(None))
        .order_by(Message.id)
    )
    return list(await session.scalars(for_update(query, session, Message) if lock else query))


async def _open_tickets(
    session: AsyncSession, customer_id: int, known: _Known | None
) -> list[Ticket]:
    """The customer's open tickets, from the batch's look-up when there is one."""
    if known is None:
        return await tickets.find_open(session, customer_id)
    # Not looked up with the batch: a customer created just now, without tickets (a claim
    # of another customer's included: it never reaches that one's tickets).
    return known.open_tickets.setdefault(customer_id, [])


async def _claimed_ticket(
    session: AsyncSession, claims: int, found: Found, known: _Known | None
) -> Ticket | None:
    """The open ticket of the customer a claimant names, where staff see the claim."""
    if known is not None and claims in known.open_tickets:
        listed = known.open_tickets[claims]
    else:
        listed = await tickets.find_open(session, claims)
        if known is not None:
            known.open_tickets[claims] = listed
    return tickets.choose(listed, found).ticket or (listed[-1] if listed else None)


def _appeals(decided: Ticket, found: Found, open_: list[Ticket]) -> bool:
    """An appeal phrase is about the decided ticket when it names it, when nothing is open,
    or when the decision came after every open ticket was opened."""
    if decided.ref in found.ticket_refs or not open_:
        return True
    named_open = any(t.ref in found.ticket_refs for t in open_)
    decided_at = decided.closed_at or decided.updated_at
    return not named_open and all(decided_at >= t.opened_at for t in open_)


def _asks_any_status(text: str) -> bool:
    return intents.is_status_question(text) or intents.is_reference_only(text)


def _asks_status(text: str, found: Found, ticket: Ticket) -> bool:
    """A status question (or the reference alone) that brings no detail the ticket lacks."""
    if not _asks_any_status(text):
        return False
    return not any(name in found.values for name in tickets.missing_details(ticket))


async def _released(session: AsyncSession, message_id: int, known: _Known | None) -> bool:
    """A moderator released it: the classifier's verdict no longer holds it."""
    if known is not None:
        return message_id in known.released
    return bool(await _released_among(session, [message_id]))


async def _released_among(session: AsyncSession, message_ids: Sequence[int]) -> set[int]:
    if not message_ids:
        return set()
    return set(
        await session.scalars(
            select(ModerationItem.message_id).where(
                ModerationItem.message_id.in_(message_ids), ModerationItem.status == "released"
            )
        )
    )
