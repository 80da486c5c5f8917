"""Small test doubles that speak the core's own interfaces (never patches of our code)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import count

from sqlalchemy import insert, select

from bot.app.runtime import Runtime
from bot.contract.domain import Channel, InboundMessage, OutboundReply, SendResult, TicketView
from bot.contract.ports import Scores
from bot.staff.accounts import Accounts, Role
from bot.store.models import Message, OutboxReply

_ids = count(1)


class KeywordClassifier:
    """Flags texts containing a given word: enough to drive the flagged path in tests."""

    name = "keyword-test"
    reason = "test double"

    def __init__(self, word: str) -> None:
        self.word = word
        self.batches: list[int] = []

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        self.batches.append(len(texts))
        return [
            Scores({"insult": 0.99}) if self.word in t.lower() else Scores({"insult": 0.01})
            for t in texts
        ]


class FlakySender:
    """Fails the first `failures` sends, then succeeds; records every attempt."""

    def __init__(self, channel: Channel, failures: int, retry_after: float | None = None) -> None:
        self.channel = channel
        self.failures = failures
        self.retry_after = retry_after
        self.attempts: list[OutboundReply] = []

    async def send(self, reply: OutboundReply) -> SendResult:
        self.attempts.append(reply)
        if len(self.attempts) <= self.failures:
            return SendResult(ok=False, error="provider said 503", retry_after=self.retry_after)
        return SendResult(ok=True, provider_id=f"p{len(self.attempts)}")


def complaint(
    sender: str,
    text: str,
    at: datetime,
    *,
    channel: Channel = Channel.EMAIL,
    external_id: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        external_id=external_id or f"x{next(_ids)}",
        sender=sender,
        text=text,
        received_at=at,
    )


async def stored_messages(runtime: Runtime) -> list[Message]:
    """Every stored message, in arrival order."""
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def outbox_rows(runtime: Runtime) -> list[OutboxReply]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(OutboxReply).order_by(OutboxReply.id)))


async def view_by_link(
    runtime: Runtime,
    captured: dict[int, OutboundReply],
    ref: str,
    email: str,
    ip: str = "192.0.2.1",
) -> TicketView | None:
    """The status page's way to a ticket: ask for a link, read the mail, follow it once."""
    await runtime.lookup.request_link(ref, email, ip)
    await runtime.lookup.settled()
    mailed = captured.pop(0, None)  # one-time links are sent at once, outbox id 0
    if mailed is None:
        return None
    return await runtime.lookup.redeem(mailed.text.split("\n")[1].strip())


async def poison_message(runtime: Runtime, at: datetime) -> int:
    """A stored message no adapter could have produced (an unknown channel), on the stream:
    the worker fails to decide it. Returns its id."""
    async with runtime.sessions.begin() as session:
        bad_id = (
            await session.execute(
                insert(Message)
                .values(
                    channel="fax",
                    external_id="f1",
                    sender="x",
                    display_name="",
                    subject="",
                    text="?",
                    thread_refs=[],
                    attachments=[],
                    raw={},
                    received_at=at,
                    created_at=at,
                    reason="",
                    scores={},
                )
                .returning(Message.id)
            )
        ).scalar_one()
    await runtime.stream.add(bad_id)
    return int(bad_id)


async def staff_account(
    runtime: Runtime, role: Role, name: str | None = None, password: str | None = None
) -> tuple[str, str]:
    """A console account made as `intake-bot users add` makes one: (name, password)."""
    name = name or f"{role.label}-{next(_ids)}"
    made = await Accounts(runtime.sessions, runtime.clock).add(
        name, role, password=password, actor="test"
    )
    return name, made


async def staff_token(runtime: Runtime, role: Role, name: str | None = None) -> dict[str, str]:
    """The headers of a personal staff token (`intake-bot users token NAME`) of `role`."""
    name, _ = await staff_account(runtime, role, name)
    token = await Accounts(runtime.sessions, runtime.clock).issue_token(
        name, label="test", actor="test"
    )
    return {"Authorization": f"Bearer {token}"}
