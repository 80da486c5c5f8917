"""Dry-run a scenario through the real pipeline on a virtual clock.

Admins replay past traffic to see what a policy would do; tests replay the
policy's cases. Replies are captured instead of sent. One JSON line out per line
in; a bad line yields an error line naming it, and the replay goes on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import AwareDatetime, InboundMessage, OutboundReply
from bot.contract.errors import IntakeError
from bot.rules.policy import parse_channel
from bot.staff.desk import TicketDesk, parse_status
from bot.staff.moderation_queue import ModerationQueue
from bot.store.models import OutboxReply, Ticket


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = None


class MessageEvent(_Event):
    type: Literal["message"]
    channel: str
    sender: str = Field(min_length=1)
    text: str = ""
    name: str = ""
    subject: str = ""
    id: str | None = None


class StatusEvent(_Event):
    type: Literal["status"]
    ticket: str
    status: str
    note: str = ""
    new_resolve_date: date | None = None


class TickEvent(_Event):
    """Time passes: the clocks act as of `at` (progress updates, missed dates, retention)."""

    type: Literal["tick"]
    at: AwareDatetime


class ChannelEvent(_Event):
    type: Literal["channel"]
    channel: str
    accepted: bool


class PolicyEvent(_Event):
    """A policy setting changed (`intake-bot policy NAME VALUE`), e.g. privacy.retention_days."""

    type: Literal["policy"]
    name: str
    value: Any


class ModerateEvent(_Event):
    type: Literal["moderate"]
    message: str
    action: Literal["release", "confirm"]


EVENTS: dict[str, type[_Event]] = {
    "message": MessageEvent,
    "status": StatusEvent,
    "channel": ChannelEvent,
    "moderate": ModerateEvent,
    "tick": TickEvent,
    "policy": PolicyEvent,
}


@dataclass
class Replayer:
    runtime: Runtime
    clock: VirtualClock
    captured: dict[int, OutboundReply]
    ticket_index: dict[str, int] = field(default_factory=dict)
    message_ids: dict[str, int] = field(default_factory=dict)

    async def run(self, lines: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield {"event": number, **await self._apply(_parse(line))}
            except (IntakeError, ValueError) as exc:
                yield {"event": number, "error": f"line {number}: {exc}"}

    async def _apply(self, event: _Event) -> dict[str, Any]:
        if event.at is not None:
            self.clock.set(event.at)
        if isinstance(event, MessageEvent):
            return await self._message(event)
        if isinstance(event, StatusEvent):
            return await self._status(event)
        if isinstance(event, TickEvent):
            return await self._tick()
        if isinstance(event, PolicyEvent):
            await self.runtime.policy.set_value(event.name, event.value, actor="replay")
            return self._line("policy", None, None, None)
        if isinstance(event, ChannelEvent):
            await self.runtime.policy.set_channel(event.channel, event.accepted, actor="replay")
            return self._line("channel", None, None, None)
        assert isinstance(event, ModerateEvent)
        return await self._moderate(event)

    async def _message(self, event: MessageEvent) -> dict[str, Any]:
        channel = parse_channel(event.channel)
        external_id = event.id or f"replay-{uuid.uuid4().hex}"
        inbound = InboundMessage(
            channel=channel,
            external_id=external_id,
            sender=event.sender,
            display_name=event.name,
            subject=event.subject,
            text=event.text,
            received_at=self.clock.now(),
        )
        accepted = await self.runtime.ingest.accept(inbound)
        self.message_ids.setdefault(external_id, accepted.message_id)
        if accepted.duplicate:
            return self._line("message", "duplicate", None, None)
        return await self._decided("message", accepted.message_id)

    async def _decided(self, kind: str, message_id: int) -> dict[str, Any]:
        outcome = next(
            (o for o in await self.runtime.worker.drain() if o.message_id == message_id), None
        )
        if outcome is None:
            raise IntakeError(f"message {message_id} was not decided")
        return self._line(
            kind, outcome.decision.value, outcome.ticket_ref, await self._reply(outcome.outbox_id)
        )

    async def _status(self, event: StatusEvent) -> dict[str, Any]:
        ref = self._ticket_ref(event.ticket)
        desk = TicketDesk(
            self.runtime.sessions, self.runtime.throttle, self.runtime.policy, self.clock
        )
        change = await desk.change_status(
            ref,
            parse_status(event.status),
            note=event.note,
            actor="replay",
            new_resolve_date=event.new_resolve_date,
        )
        return self._line("status", None, change.ref, await self._reply(change.outbox_id))

    async def _tick(self) -> dict[str, Any]:
        swept = await self.runtime.sweeper.sweep()
        while await self.runtime.sender.run_once():
            pass
        replies = []
        async with self.runtime.sessions() as session:
            found = await session.execute(
                select(OutboxReply.id, Ticket.ref)
                .join(Ticket, Ticket.id == OutboxReply.ticket_id)
                .where(OutboxReply.id.in_(swept.owed))
            )
            refs: dict[int, str | None] = {row[0]: row[1] for row in found}
        not_sent = []
        for outbox_id in swept.owed:
            ref = refs.get(outbox_id)
            if ref is not None:
                self.ticket_index.setdefault(ref, len(self.ticket_index) + 1)
            reply = self.captured.get(outbox_id)
            if reply is not None:
                replies.append({"ticket": ref, **_reply_fields(reply)})
            else:
                not_sent.append({"ticket": ref, **await self._unsent(outbox_id)})
        return {
            "type": "tick",
            "replies": replies,
            "not_sent": not_sent,
            "at_risk": swept.at_risk,
            "overdue": swept.overdue,
            "erased": len(swept.erased),
        }

    async def _moderate(self, event: ModerateEvent) -> dict[str, Any]:
        message_id = self.message_ids.get(event.message)
        if message_id is None:
            raise IntakeError(f"no message with id {event.message!r} in this replay")
        queue = ModerationQueue(self.runtime.sessions, self.runtime.stream, self.clock)
        if event.action == "confirm":
            await queue.confirm(message_id, actor="replay")
            return self._line("moderate", None, None, None)
        await queue.release(message_id, actor="replay")
        return await self._decided("moderate", message_id)

    def _ticket_ref(self, name: str) -> str:
        """'@N' names the Nth ticket this replay created; anything else is a reference."""
        if not name.startswith("@"):
            return name
        for ref, index in self.ticket_index.items():
            if f"@{index}" == name:
                return ref
        raise IntakeError(f"no ticket {name} yet in this replay")

    async def _reply(self, outbox_id: int | None) -> dict[str, Any] | None:
        """The reply the sender sent for the outbox row, or why it did not go."""
        if outbox_id is None:
            return None
        while await self.runtime.sender.run_once():  # a reply may be tried again at once
            pass
        reply = self.captured.get(outbox_id)
        return _reply_fields(reply) if reply is not None else await self._unsent(outbox_id)

    async def _unsent(self, outbox_id: int) -> dict[str, Any]:
        async with self.runtime.sessions() as session:
            row = await session.get_one(OutboxReply, outbox_id)
            return {"not_sent": row.status, "channel": row.channel, "error": row.last_error}

    def _line(
        self, kind: str, decision: str | None, ref: str | None, reply: dict[str, Any] | None
    ) -> dict[str, Any]:
        index = (
            None if ref is None else self.ticket_index.setdefault(ref, len(self.ticket_index) + 1)
        )
        return {
            "type": kind,
            "decision": decision,
            "ticket": ref,
            "ticket_index": index,
            "reply": reply,
        }


def _reply_fields(reply: OutboundReply) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "channel": reply.channel.value,
        "to": reply.to,
        "text": reply.text,
        "language": reply.language,
    }
    if reply.human_agent:  # sent with Meta's HUMAN_AGENT tag, after the 24-hour window
        fields["tag"] = "HUMAN_AGENT"
    return fields


def _parse(line: str) -> _Event:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ValueError("an event must be a JSON object")
    kind = data.get("type")
    if kind not in EVENTS:
        raise ValueError(f"unknown event type {kind!r}; known: {', '.join(EVENTS)}")
    try:
        return EVENTS[kind].model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ValueError(problems) from None


def first_time(lines: list[str]) -> datetime:
    """The virtual clock starts at the first event's time (or now, if none has one)."""
    for line in lines:
        try:
            at = json.loads(line).get("at")
            return datetime.fromisoformat(at).astimezone(UTC)
        except (ValueError, TypeError, AttributeError):
            continue
    return datetime.now(UTC)
