"""The sender: owed replies leave the outbox through their channel's adapter.

A row is leased before sending and marked sent after. A row whose lease ran out
(the sender died mid-send) is not retried but marked for staff: the reply may
have left, and the policy prefers a missing reply a human can see to a double.

Whatever else happens, one address gets at most `daily_cap` replies in 24 hours
(the last guard against a mail loop). A reply that is capped, or that its channel
says can never go (outside Meta's 24-hour window), is noted on its ticket for staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.domain import Channel, OutboundReply, SendResult
from bot.identity import normalize_address
from bot.models import Identity, Message, OutboxReply, Ticket, TicketEvent
from bot.ports import ReplySender
from bot.tickets import SYSTEM

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 10 * 2 ** attempts))


class Sender:
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 senders: Mapping[Channel, ReplySender], clock: Clock,
                 max_attempts: int = 5, daily_cap: int = 20) -> None:
        self._sessions = sessions
        self._senders = dict(senders)
        self._clock = clock
        self._max_attempts = max_attempts
        self._daily_cap = daily_cap

    def register(self, senders: Mapping[Channel, ReplySender]) -> None:
        """Add channels' adapters once they are built (after the runtime they feed)."""
        self._senders.update(senders)

    async def run_once(self, limit: int = 100) -> int:
        """Send what is due on the channels that have an adapter; returns how many were tried."""
        claimed = await self._claim(limit)
        for row_id, reply in claimed:
            result = await self._send(reply)
            await self._settle(row_id, result)
        return len(claimed)

    async def _claim(self, limit: int) -> list[tuple[int, OutboundReply]]:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await _expire_leases(session, now)
            query = (select(OutboxReply, Ticket.ref)
                     .join(Ticket, Ticket.id == OutboxReply.ticket_id)
                     .where(OutboxReply.status == "pending", OutboxReply.next_attempt_at <= now,
                            OutboxReply.channel.in_([c.value for c in self._senders]))
                     .order_by(OutboxReply.id).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=OutboxReply)
            rows = (await session.execute(query)).all()
            claimed = []
            for row, ref in rows:
                row.status, row.lease_until = "sending", now + LEASE
                claimed.append((row.id, await _reply(session, row, ref)))
        return claimed

    async def _send(self, reply: OutboundReply) -> SendResult:
        if await self._sent_today(reply) >= self._daily_cap:
            return SendResult(ok=False, permanent=True, error=(
                f"not sent: {reply.to} already got {self._daily_cap} replies in 24 hours"))
        try:
            return await self._senders[reply.channel].send(reply)
        except Exception as exc:
            log.exception("adapter failed", extra={"outbox_id": reply.outbox_id})
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    async def _settle(self, row_id: int, result: SendResult) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            row = await session.get_one(OutboxReply, row_id)
            row.lease_until = None
            if result.ok:
                row.status, row.sent_at, row.provider_id = "sent", now, result.provider_id
                return
            row.attempts += 1
            row.last_error = (result.error or "")[:2000]
            delay = (timedelta(seconds=result.retry_after) if result.retry_after is not None
                     else _backoff(row.attempts))
            exhausted = result.permanent or row.attempts >= self._max_attempts
            row.status = "failed" if exhausted else "pending"
            row.next_attempt_at = now + delay
            if exhausted:
                await _note_on_ticket(session, row, now)

    async def _sent_today(self, reply: OutboundReply) -> int:
        since = self._clock.now() - timedelta(hours=24)
        async with self._sessions() as session:
            return await session.scalar(select(func.count()).where(
                OutboxReply.channel == reply.channel.value, OutboxReply.address == reply.to,
                OutboxReply.status == "sent", OutboxReply.sent_at > since)) or 0

    async def run(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                if await self.run_once():
                    continue
            except Exception:
                log.exception("sender pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def _expire_leases(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        update(OutboxReply)
        .where(OutboxReply.status == "sending", OutboxReply.lease_until < now)
        .values(status="failed", lease_until=None,
                last_error="interrupted while sending; not retried to avoid a double reply"))


async def _note_on_ticket(session: AsyncSession, row: OutboxReply, now: datetime) -> None:
    """Staff see on the ticket that the customer was not told (and why)."""
    ticket = await session.get_one(Ticket, row.ticket_id)
    session.add(TicketEvent(ticket_id=ticket.id, at=now, status=ticket.status,
                            state_version=ticket.state_version, actor=SYSTEM,
                            note=f"reply on {row.channel} not sent: {row.last_error}"[:2000]))


async def _reply(session: AsyncSession, row: OutboxReply, ref: str | None) -> OutboundReply:
    """The reply, threaded on the customer's latest message from the same address."""
    channel = Channel(row.channel)
    latest = (await session.execute(
        select(Message.external_id, Message.thread_refs, Message.received_at)
        .join(Identity, Identity.id == Message.identity_id)
        .where(Identity.channel == channel.value,
               Identity.address == normalize_address(channel, row.address))
        .order_by(Message.received_at.desc(), Message.id.desc()).limit(1))).first()
    return OutboundReply(outbox_id=row.id, channel=channel, to=row.address,
                         text=row.text, language=row.language, ticket_ref=ref or "",
                         subject=row.subject,
                         in_reply_to=latest.external_id if latest else None,
                         references=[*latest.thread_refs, latest.external_id] if latest else [],
                         last_inbound_at=latest.received_at if latest else None)
