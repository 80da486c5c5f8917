"""The outbox: the replies owed, one row per state of a ticket, and the sender that
delivers them through their channel's adapter.

The pipeline and the ticket desk owe a reply (`owe_many`, `owe`) in the transaction that
changes the ticket's state; the unique key (ticket, state_version) makes a second one for
the same state a no-op. A reply goes to the identity that wrote, about that customer's own
ticket: every identity is one its channel proved, and a sender that only claims to be
another customer has tickets of its own (bot.tickets.identity), so no reply carries one
customer's ticket to someone else.

A sending pass claims a batch of due rows (leased: `claimed`), marks each one `sending`
just before handing it to its channel, and marks them sent or failed together, at least
every second of sending. When a lease runs out (the sender died), a row still `claimed`
was never attempted and is due again; a row `sending` may have left, so it is not
retried but marked `uncertain`, noted on its ticket and counted for staff: the policy
prefers a missing reply a human can see to a double.

Whatever else happens, one inbox gets at most `daily_cap` replies in 24 hours,
whatever the channels that reached it (the last guard against a mail loop; two
senders passing at once may each send one more). A reply that is capped, or that
its channel says can never go (outside Meta's 24-hour window), is noted on its
ticket for staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, bindparam, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import (
    HUMAN_AGENT_CHANNELS,
    HUMAN_AGENT_WINDOW,
    Channel,
    OutboundReply,
    SendResult,
)
from bot.contract.log_context import bind
from bot.contract.ports import ReplySender
from bot.contract.retry import backoff
from bot.store.db import DIALECTS, for_update_skip_locked, insert_ignoring_conflicts
from bot.store.models import Identity, Message, OutboxReply, Ticket, table_of
from bot.tickets.identity import normalize_address
from bot.tickets.lifecycle import staff_note
from bot.tickets.replies import NEUTRAL_TOPIC, Content

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
SETTLE_EVERY_S = 1.0  # the most sending a crash can leave marked "interrupted"
_OUTBOX = table_of(OutboxReply)
# A reply owed outside Meta's window that no other channel could carry: staff reach them.
NEEDS_OTHER_CHANNEL = "needs_other_channel"
UNCERTAIN = "uncertain"  # handed to its channel by a sender that died: may or may not have left
_NO_WINDOW = (Channel.EMAIL, Channel.TELEGRAM)  # channels that may write to a customer any time

Address = tuple[str, str]  # (channel, address as the outbox holds it)
Inbox = str  # where a reply lands: an email address, a phone, a chat session, ...


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 10 * 2**attempts))


# --- owing: an outbox row is the promise to send a reply ----------------------------------


def _outbox_insert(dialect: str) -> Insert:
    return insert_ignoring_conflicts(
        OutboxReply, ["ticket_id", "state_version", "topic"], dialect
    ).returning(OutboxReply.id, OutboxReply.ticket_id, OutboxReply.state_version, OutboxReply.topic)


# Built once per dialect rather than per reply: the worker owes one for most new states.
_OWE = {dialect: _outbox_insert(dialect) for dialect in DIALECTS}


@dataclass(frozen=True)
class Owed:
    """A reply owed for one state of a ticket, to one identity."""

    ticket: Ticket
    state_version: int
    to: Identity
    content: Content
    message_id: int | None
    topic: str = ""  # '' for a change of state; 'status' for an answer to a status question

    @property
    def key(self) -> tuple[int, int, str]:
        return self.ticket.id, self.state_version, self.topic

    def row(self, now: datetime) -> dict[str, object]:
        kind, subject, text = self.content
        return {
            "ticket_id": self.ticket.id,
            "state_version": self.state_version,
            "topic": self.topic,
            "message_id": self.message_id,
            "kind": kind,
            "channel": self.to.channel,
            "address": self.to.address,
            "subject": subject,
            "text": text,
            "language": self.ticket.language,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "created_at": now,
        }


async def owe_many(session: AsyncSession, owed: Sequence[Owed], now: datetime) -> list[int | None]:
    """Write the outbox rows in one statement; each one's id, or None where that state
    was owed already (the unique key (ticket, state_version) has the last word). It runs
    on the session's connection: nothing pending is flushed."""
    if not owed:
        return []
    connection = await session.connection()
    result = await connection.execute(_OWE[connection.dialect.name], [o.row(now) for o in owed])
    written = {(r.ticket_id, r.state_version, r.topic): r.id for r in result}
    # The same state twice in one batch is written once: the first asker gets it.
    return [written.pop(o.key, None) for o in owed]


async def owe_neutral(
    session: AsyncSession,
    *,
    to: Identity,
    content: Content,
    language: str,
    message_id: int,
    now: datetime,
) -> int:
    """A reply about no ticket: the trust model's one answer to a sender who asks about a
    complaint no verified identity of theirs made. It runs on the session's connection."""
    kind, subject, text = content
    connection = await session.connection()
    return int(
        await connection.scalar(
            insert(_OUTBOX)
            .values(
                ticket_id=None,
                state_version=0,
                topic=NEUTRAL_TOPIC,  # no ticket: never unique, one per message
                message_id=message_id,
                kind=kind,
                channel=to.channel,
                address=to.address,
                subject=subject,
                text=text,
                language=language,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                last_error="",
                created_at=now,
            )
            .returning(_OUTBOX.c.id)
        )
    )


async def owe(
    session: AsyncSession,
    *,
    ticket: Ticket,
    to: Identity,
    content: Content,
    message_id: int | None,
    now: datetime,
    topic: str = "",
) -> int | None:
    """The outbox row for the ticket's current state; None if one is already owed."""
    [outbox_id] = await owe_many(
        session, [Owed(ticket, ticket.state_version, to, content, message_id, topic)], now
    )
    return outbox_id


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    ticket_id: int | None  # None: the neutral answer, about no ticket
    attempts: int  # before this one
    customer_id: int | None
    reply: OutboundReply
    owed_at: datetime  # when the reply was owed: its latency ends when it is sent
    lease_until: datetime  # this pass's lease, written on the row: whose claim it is

    @property
    def address(self) -> Address:
        return self.reply.channel.value, self.reply.to


class Sender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[Channel, ReplySender],
        clock: Clock,
        max_attempts: int = 5,
        daily_cap: int = 20,
        lease: timedelta = LEASE,
    ) -> None:
        self._sessions = sessions
        self._lease = lease
        self._senders = dict(senders)
        self._clock = clock
        self._max_attempts = max_attempts
        self._daily_cap = daily_cap
        self.state = "not running in this process"  # how its loop goes (/readyz)
        # Told, for each reply sent, how long it took from owed to sent (/metrics).
        self.on_sent: Callable[[float], None] | None = None

    def register(self, senders: Mapping[Channel, ReplySender]) -> None:
        """Add channels' adapters once they are built (after the runtime they feed)."""
        self._senders.update(senders)

    def can_send(self, channel: Channel) -> bool:
        return channel in self._senders

    async def send_now(self, reply: OutboundReply) -> SendResult:
        """A message about no change of state (a one-time link): sent at once, not owed
        through the outbox, and refused when its channel is not configured here."""
        adapter = self._senders.get(reply.channel)
        if adapter is None:
            return SendResult(
                ok=False, permanent=True, error=f"{reply.channel.value} is not configured"
            )
        return await adapter.send(reply)

    async def run_once(self, limit: int = 100) -> int:
        """Send what is due on the channels that have an adapter; returns how many were tried."""
        claimed, sent_today = await self._claim(limit)
        done: list[tuple[_Claimed, SendResult]] = []
        settled = time.monotonic()
        for item in claimed:
            with bind(outbox_id=item.reply.outbox_id, ticket_ref=item.reply.ticket_ref or None):
                if not await self._attempting(item):
                    continue  # its lease ran out during this long pass: another sender has it
                result = await self._send(item.reply, sent_today[item.reply.to])
            if result.ok:
                sent_today[result.delivered_to or item.reply.to] += 1
            done.append((item, result))
            if time.monotonic() - settled >= SETTLE_EVERY_S:
                await self._settle(done)
                done, settled = [], time.monotonic()
        await self._settle(done)
        return len(claimed)

    async def _claim(self, limit: int) -> tuple[list[_Claimed], Counter[Inbox]]:
        """Lease a batch; with it, what each reply threads on and each address got today."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await _expire_leases(session, now)
            query = (
                select(
                    OutboxReply.id,
                    OutboxReply.ticket_id,
                    OutboxReply.attempts,
                    OutboxReply.channel,
                    OutboxReply.address,
                    OutboxReply.subject,
                    OutboxReply.text,
                    OutboxReply.language,
                    OutboxReply.human_agent,
                    OutboxReply.created_at,
                    Ticket.ref,
                    Ticket.customer_id,
                )
                .outerjoin(Ticket, Ticket.id == OutboxReply.ticket_id)
                .where(
                    OutboxReply.status == "pending",
                    OutboxReply.next_attempt_at <= now,
                    OutboxReply.channel.in_([c.value for c in self._senders]),
                )
                .order_by(OutboxReply.id)
                .limit(limit)
            )
            query = for_update_skip_locked(query, session, of=OutboxReply)
            rows = (await session.execute(query)).all()
            if not rows:
                return [], Counter()
            await session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id.in_([r.id for r in rows]))
                .values(status="claimed", lease_until=now + self._lease)
            )
            addresses = sorted({(r.channel, r.address) for r in rows})
            latest = await _latest_messages(session, addresses)
            sent_today = await _sent_since(
                session, sorted({a for _, a in addresses}), now - timedelta(hours=24)
            )
        claimed = [
            _Claimed(
                r.ticket_id,
                r.attempts,
                r.customer_id,
                OutboundReply(
                    outbox_id=r.id,
                    channel=Channel(r.channel),
                    to=r.address,
                    text=r.text,
                    language=r.language,
                    ticket_ref=r.ref or "",
                    subject=r.subject,
                    human_agent=r.human_agent,
                    **latest.get((r.channel, r.address), {}),
                ),
                r.created_at,
                now + self._lease,
            )
            for r in rows
        ]
        return claimed, sent_today

    async def _attempting(self, item: _Claimed) -> bool:
        """Written before the hand-over: after a crash, what was never attempted goes out,
        and only what was in the channel's hands is uncertain. False when the row is no
        longer this pass's own (its lease ran out and it was given back)."""
        async with self._sessions.begin() as session:
            taken = await session.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.id == item.reply.outbox_id,
                    _OUTBOX.c.status == "claimed",
                    _OUTBOX.c.lease_until == item.lease_until,  # not another pass's claim
                )
                .values(status="sending", lease_until=self._clock.now() + self._lease)
            )
        return bool(getattr(taken, "rowcount", 0))

    async def _send(self, reply: OutboundReply, sent_today: int) -> SendResult:
        if sent_today >= self._daily_cap:
            return SendResult(
                ok=False,
                permanent=True,
                error=(f"not sent: {reply.to} already got {self._daily_cap} replies in 24 hours"),
            )
        try:
            return await self._senders[reply.channel].send(reply)
        except Exception as exc:
            log.exception("adapter failed")
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    async def _settle(self, done: Sequence[tuple[_Claimed, SendResult]]) -> None:
        """Mark what was tried, in one transaction: sent, due again later, or failed."""
        if not done:
            return
        now = self._clock.now()
        if self.on_sent is not None:
            for item, result in done:
                if result.ok:
                    self.on_sent((now - item.owed_at).total_seconds())
        sent = [
            {
                "b_id": item.reply.outbox_id,
                "b_provider": result.provider_id,
                "b_inbox": result.delivered_to or item.reply.to,
            }
            for item, result in done
            if result.ok
        ]
        retried: list[dict[str, Any]] = []
        exhausted: list[tuple[_Claimed, str]] = []
        window_closed: list[tuple[_Claimed, SendResult]] = []
        for item, result in done:
            if result.ok:
                continue
            if result.window_closed and item.ticket_id is not None:
                window_closed.append((item, result))
                continue
            attempts = item.attempts + 1
            error = (result.error or "")[:2000]
            delay = (
                timedelta(seconds=result.retry_after)
                if result.retry_after is not None
                else _backoff(attempts)
            )
            failed = result.permanent or attempts >= self._max_attempts
            retried.append(
                {
                    "b_id": item.reply.outbox_id,
                    "b_status": "failed" if failed else "pending",
                    "b_attempts": attempts,
                    "b_error": error,
                    "b_next": now + delay,
                }
            )
            if failed:
                exhausted.append((item, error))
        by_id = _OUTBOX.c.id == bindparam("b_id")
        async with self._sessions.begin() as session:
            if sent:
                await session.execute(
                    update(_OUTBOX)
                    .where(by_id)
                    .values(
                        status="sent",
                        sent_at=now,
                        provider_id=bindparam("b_provider"),
                        delivered_to=bindparam("b_inbox"),
                        lease_until=None,
                    ),
                    sent,
                )
            if retried:
                await session.execute(
                    update(_OUTBOX)
                    .where(by_id)
                    .values(
                        status=bindparam("b_status"),
                        attempts=bindparam("b_attempts"),
                        last_error=bindparam("b_error"),
                        next_attempt_at=bindparam("b_next"),
                        lease_until=None,
                    ),
                    retried,
                )
            if exhausted:
                await _note_on_tickets(session, exhausted, now)
            for item, result in window_closed:
                await self._elsewhere(session, item, result, now)

    async def _elsewhere(
        self, session: AsyncSession, item: _Claimed, result: SendResult, now: datetime
    ) -> None:
        """Outside Meta's 24-hour window: the same reply to a verified email or Telegram chat
        of the customer; else, where Meta allows it, with the HUMAN_AGENT tag (7 days); else
        marked `needs_other_channel`, for staff. Never dropped without a trace."""
        assert item.ticket_id is not None  # a neutral answer goes where its question came from
        reply, error = item.reply, (result.error or "")[:2000]
        other = await session.scalar(
            select(Identity)
            .where(
                Identity.customer_id == item.customer_id,
                Identity.verified.is_(True),
                Identity.channel.in_(
                    [c.value for c in _NO_WINDOW if c in self._senders and c != reply.channel]
                ),
            )
            .order_by(Identity.channel == Channel.TELEGRAM.value, Identity.id.desc())
            .limit(1)
        )
        if other is not None:
            values: dict[str, Any] = {"channel": other.channel, "address": other.address}
            note = f"outside the 24-hour window on {reply.channel.value}; sent by {other.channel}"
        elif (
            reply.channel in HUMAN_AGENT_CHANNELS
            and not reply.human_agent
            and reply.last_inbound_at is not None
            and now - reply.last_inbound_at <= HUMAN_AGENT_WINDOW
        ):
            values, note = {"human_agent": True}, ""
        else:
            await session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == reply.outbox_id)
                .values(status=NEEDS_OTHER_CHANNEL, last_error=error, lease_until=None)
            )
            await _note_on_tickets(
                session, [(item, f"{error}; needs another channel: staff, please reach them")], now
            )
            return
        await session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id == reply.outbox_id)
            .values(
                status="pending", next_attempt_at=now, last_error=error, lease_until=None, **values
            )
        )
        if note:
            session.add(
                staff_note(item.ticket_id, await _state(session, item.ticket_id), note, now)
            )

    async def counts(self) -> dict[str, int]:
        """Replies staff must look at, by status (`/healthz`)."""
        async with self._sessions() as session:
            found = await session.execute(
                select(OutboxReply.status, func.count())
                .where(OutboxReply.status.in_([NEEDS_OTHER_CHANNEL, "failed", UNCERTAIN]))
                .group_by(OutboxReply.status)
            )
            counted = {NEEDS_OTHER_CHANNEL: 0, "failed": 0, UNCERTAIN: 0}
            return {**counted, **{row[0]: row[1] for row in found}}

    async def under_cap(self, inbox: Inbox) -> bool:
        """Whether `inbox` may get one more reply today (a channel that delivers somewhere
        other than the reply's own address asks before it does: the form's mail)."""
        async with self._sessions() as session:
            sent = await _sent_since(session, [inbox], self._clock.now() - timedelta(hours=24))
        return sent[inbox] < self._daily_cap

    async def run(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        """Pass after pass until `stop`; an outage is waited out, longer each time (capped),
        and `state` says how it goes (/readyz)."""
        failures = 0
        self.state = "running"
        while not stop.is_set():
            try:
                sent = await self.run_once()
                failures, self.state = 0, "running"
                if sent:
                    continue
            except Exception as exc:
                failures += 1
                self.state = f"failing ({type(exc).__name__}), retrying"
                log.warning("sender pass failed (%s: %s)", type(exc).__name__, exc)
            wait = interval_s if not failures else backoff(failures, cap_s=30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
        self.state = "stopped"


async def _expire_leases(session: AsyncSession, now: datetime) -> None:
    """A dead sender's rows: never attempted, due again; attempted, uncertain (noted on
    their tickets for staff)."""
    await session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.status == "claimed", _OUTBOX.c.lease_until < now)
        .values(status="pending", lease_until=None)
    )
    lost = (
        await session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.status == "sending", _OUTBOX.c.lease_until < now)
            .values(
                status=UNCERTAIN,
                lease_until=None,
                last_error="the sender stopped while handing it over: it may have been "
                "delivered; not retried, to avoid a double reply",
            )
            .returning(_OUTBOX.c.ticket_id, _OUTBOX.c.channel)
        )
    ).all()
    for ticket_id, channel in lost:
        if ticket_id is not None:
            session.add(
                staff_note(
                    ticket_id,
                    await _state(session, ticket_id),
                    f"reply on {channel} uncertain: the sender stopped while handing it over; "
                    "check with the customer",
                    now,
                )
            )


async def _note_on_tickets(
    session: AsyncSession, exhausted: Sequence[tuple[_Claimed, str]], now: datetime
) -> None:
    """Staff see on the ticket that the customer was not told (and why); a neutral answer
    has no ticket, and its failure only its outbox row."""
    about = [(item.ticket_id, item, error) for item, error in exhausted if item.ticket_id]
    ids = {ticket_id for ticket_id, _, _ in about}
    states = {
        t.id: (t.status, t.state_version)
        for t in (
            await session.execute(
                select(Ticket.id, Ticket.status, Ticket.state_version).where(Ticket.id.in_(ids))
            )
        )
    }
    session.add_all(
        [
            staff_note(
                ticket_id,
                states[ticket_id],
                f"reply on {item.reply.channel.value} not sent: {error}",
                now,
            )
            for ticket_id, item, error in about
        ]
    )


async def _state(session: AsyncSession, ticket_id: int) -> tuple[str, int]:
    row = (
        await session.execute(
            select(Ticket.status, Ticket.state_version).where(Ticket.id == ticket_id)
        )
    ).one()
    return row.status, row.state_version


async def _latest_messages(
    session: AsyncSession, addresses: Sequence[Address]
) -> dict[Address, dict[str, Any]]:
    """What each reply threads on: the customer's latest message from that address."""
    wanted: dict[Address, list[Address]] = {}  # as the identity holds it -> as the outbox does
    for channel, address in addresses:
        wanted.setdefault((channel, normalize_address(Channel(channel), address)), []).append(
            (channel, address)
        )
    ranked = (
        select(
            Identity.channel,
            Identity.address,
            Message.external_id,
            Message.thread_refs,
            Message.received_at,
            func.row_number()
            .over(
                partition_by=(Identity.channel, Identity.address),
                order_by=(Message.received_at.desc(), Message.id.desc()),
            )
            .label("n"),
        )
        .join(Identity, Identity.id == Message.identity_id)
        .where(tuple_(Identity.channel, Identity.address).in_(list(wanted)))
    ).subquery()
    latest = await session.execute(select(ranked).where(ranked.c.n == 1))
    return {
        outbox_address: {
            "in_reply_to": m.external_id,
            "references": [*m.thread_refs, m.external_id],
            "last_inbound_at": m.received_at,
        }
        for m in latest
        for outbox_address in wanted[(m.channel, m.address)]
    }


async def _sent_since(
    session: AsyncSession, inboxes: Sequence[Inbox], since: datetime
) -> Counter[Inbox]:
    counts = await session.execute(
        select(OutboxReply.delivered_to, func.count())
        .where(
            OutboxReply.delivered_to.in_(list(inboxes)),
            OutboxReply.status == "sent",
            OutboxReply.sent_at > since,
        )
        .group_by(OutboxReply.delivered_to)
    )
    return Counter({inbox: n for inbox, n in counts if inbox is not None})
