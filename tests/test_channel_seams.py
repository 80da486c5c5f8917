"""What the core gives channels: threaded replies, guards on sending, automated mail, look-ups.

Every test runs on both backends (the `runtime` fixture).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import (
    Channel,
    Decision,
    InboundMessage,
    OutboundReply,
    SendResult,
    TicketStatus,
)
from bot.staff.desk import TicketDesk
from bot.stages.outbox import Sender
from bot.store.models import Message, OutboxReply, Ticket, TicketEvent
from tests.conftest import START
from tests.helpers import FlakySender, view_by_link

BROKEN = (
    "My inverter, model SolarMax 3000, stopped working after two days, order number 778812, "
    "serial number SN4411223. I want a replacement unit."
)


def mail(
    sender: str,
    text: str,
    runtime: Runtime,
    *,
    external_id: str,
    thread_refs: list[str] | None = None,
    automated: str = "",
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=external_id,
        sender=sender,
        text=text,
        received_at=runtime.clock.now(),
        thread_refs=thread_refs or [],
        automated=automated,
    )


class RefusingSender:
    """A channel that can never deliver (outside Meta's window, a bot blocked by its user)."""

    channel = Channel.EMAIL

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, reply: OutboundReply) -> SendResult:
        self.attempts += 1
        return SendResult(ok=False, permanent=True, error="outside the messaging window")


async def notes(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        return [
            e.note
            for e in await session.scalars(select(TicketEvent).order_by(TicketEvent.id))
            if e.note
        ]


async def test_replies_carry_the_thread_of_the_customers_latest_message(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await runtime.ingest.accept(
        mail(
            "Ann@Example.com",
            BROKEN,
            runtime,
            external_id="<m1@mail.example.com>",
            thread_refs=["<older@mail.example.com>"],
        )
    )
    await runtime.worker.drain()
    flaky = FlakySender(Channel.EMAIL, failures=0)
    assert await Sender(runtime.sessions, {Channel.EMAIL: flaky}, clock).run_once() == 1
    [reply] = flaky.attempts
    assert reply.to == "ann@example.com"
    assert reply.in_reply_to == "<m1@mail.example.com>"
    assert reply.references == ["<older@mail.example.com>", "<m1@mail.example.com>"]
    assert reply.last_inbound_at == clock.now()


async def test_one_pass_threads_each_reply_on_its_own_customers_latest_message(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """A pass looks up the threads of its whole batch at once: none may borrow another's."""
    for n, sender in enumerate(["Ann@Example.com", "bob@example.com", "cy@example.com"]):
        await runtime.ingest.accept(mail(sender, BROKEN, runtime, external_id=f"<m{n}@x>"))
        clock.set(clock.now() + timedelta(minutes=1))
        await runtime.ingest.accept(
            mail(sender, f"{BROKEN} Again.", runtime, external_id=f"<m{n}b@x>")
        )
    await runtime.worker.drain()
    flaky = FlakySender(Channel.EMAIL, failures=0)
    assert await Sender(runtime.sessions, {Channel.EMAIL: flaky}, clock).run_once() == 3
    assert sorted((r.to, r.in_reply_to) for r in flaky.attempts) == [
        ("ann@example.com", "<m0b@x>"),
        ("bob@example.com", "<m1b@x>"),
        ("cy@example.com", "<m2b@x>"),
    ]


async def test_a_permanent_failure_is_not_retried_and_is_noted_on_the_ticket(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await runtime.ingest.accept(mail("ann@example.com", BROKEN, runtime, external_id="m1"))
    await runtime.worker.drain()
    refusing = RefusingSender()
    sender = Sender(runtime.sessions, {Channel.EMAIL: refusing}, clock, max_attempts=5)
    assert await sender.run_once() == 1
    clock.set(clock.now() + timedelta(days=1))
    assert await sender.run_once() == 0
    assert refusing.attempts == 1
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxReply))
    assert row is not None
    assert (row.status, row.last_error) == ("failed", "outside the messaging window")
    assert await notes(runtime) == ["reply on email not sent: outside the messaging window"]


async def test_one_address_gets_at_most_the_daily_cap_of_replies(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await runtime.ingest.accept(mail("ann@example.com", BROKEN, runtime, external_id="m1"))
    [first] = await runtime.worker.drain()
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    flaky = FlakySender(Channel.EMAIL, failures=0)
    sender = Sender(runtime.sessions, {Channel.EMAIL: flaky}, clock, daily_cap=2)
    for status in (TicketStatus.INVESTIGATING, TicketStatus.ESCALATED):
        await desk.change_status(first.ticket_ref or "", status, note="", actor="agent")
    assert await sender.run_once() == 3
    assert len(flaky.attempts) == 2
    async with runtime.sessions() as session:
        statuses = list(await session.scalars(select(OutboxReply.status).order_by(OutboxReply.id)))
    assert statuses == ["sent", "sent", "failed"]
    assert "already got 2 replies in 24 hours" in (await notes(runtime))[-1]
    # A day later the cap has room again.
    clock.set(clock.now() + timedelta(hours=25))
    await desk.change_status(first.ticket_ref or "", TicketStatus.RESOLVED, note="", actor="agent")
    assert await sender.run_once() == 1
    assert len(flaky.attempts) == 3


async def test_an_automated_mail_is_stored_and_never_answered_nor_opens_a_ticket(
    runtime: Runtime,
) -> None:
    await runtime.ingest.accept(
        mail(
            "ooo@example.com",
            "I am out of office until Monday.",
            runtime,
            external_id="auto1",
            automated="Auto-Submitted: auto-replied",
        )
    )
    [outcome] = await runtime.worker.drain()
    assert (outcome.decision, outcome.ticket_id, outcome.outbox_id) == (
        Decision.COLLAPSED,
        None,
        None,
    )
    assert outcome.reason == "automated, never answered: Auto-Submitted: auto-replied"
    async with runtime.sessions() as session:
        stored = await session.scalar(select(Message))
        assert stored is not None
        assert stored.automated == "Auto-Submitted: auto-replied"
        assert await session.scalar(select(Ticket)) is None


async def test_an_automated_mail_of_a_customer_attaches_to_their_open_ticket(
    runtime: Runtime,
) -> None:
    await runtime.ingest.accept(mail("ann@example.com", BROKEN, runtime, external_id="m1"))
    [first] = await runtime.worker.drain()
    await runtime.ingest.accept(
        mail(
            "ann@example.com",
            "Out of office.",
            runtime,
            external_id="m2",
            automated="Precedence: bulk",
        )
    )
    [auto] = await runtime.worker.drain()
    assert (auto.decision, auto.ticket_id, auto.outbox_id) == (
        Decision.COLLAPSED,
        first.ticket_id,
        None,
    )


async def test_a_ticket_reference_in_the_thread_joins_that_ticket(runtime: Runtime) -> None:
    await runtime.ingest.accept(mail("ann@example.com", BROKEN, runtime, external_id="m1"))
    [first] = await runtime.worker.drain()
    assert first.ticket_ref is not None
    ours = f"<{first.ticket_ref}.o1.abc@bot.example.com>"
    await runtime.ingest.accept(
        mail("ann.other@example.net", "Any news?", runtime, external_id="m2", thread_refs=[ours])
    )
    [reply] = await runtime.worker.drain()
    assert reply.ticket_id == first.ticket_id


async def test_a_ticket_is_shown_only_by_a_link_mailed_to_its_own_address(
    runtime: Runtime, captured: dict[int, OutboundReply]
) -> None:
    text = f"{BROKEN} You can call me on +39 347 123 4567."
    await runtime.ingest.accept(mail("Ann@Example.com", text, runtime, external_id="m1"))
    [first] = await runtime.worker.drain()
    ref = first.ticket_ref or ""
    view = await view_by_link(runtime, captured, ref.lower(), " ANN@example.com ")
    assert view is not None
    assert (view.ref, view.status) == (ref, TicketStatus.NEW)
    assert [change.status for change in view.history] == [TicketStatus.NEW]
    assert view.next_due is not None
    assert view.next_due > view.opened_at
    for wrong_ref, contact in [
        (ref, "eve@example.com"),
        ("C-2026-999999", "ann@example.com"),
        (ref, ""),
        (ref, "+39 347-123-4567"),
    ]:
        assert await view_by_link(runtime, captured, wrong_ref, contact) is None


async def test_the_status_history_lists_changes_of_status_only(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    await runtime.ingest.accept(mail("ann@example.com", BROKEN, runtime, external_id="m1"))
    [first] = await runtime.worker.drain()
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    ref = first.ticket_ref or ""
    await desk.change_status(
        ref, TicketStatus.INVESTIGATING, note="Technician booked", actor="agent"
    )
    await desk.change_status(ref, TicketStatus.INVESTIGATING, note="Parts ordered", actor="agent")
    await desk.change_status(ref, TicketStatus.RESOLVED, note="Unit replaced", actor="agent")
    view = await view_by_link(runtime, captured, ref, "ann@example.com")
    assert view is not None
    assert [(c.status, c.note) for c in view.history] == [
        (TicketStatus.NEW, ""),
        (TicketStatus.INVESTIGATING, "Technician booked"),
        (TicketStatus.RESOLVED, "Unit replaced"),
    ]
    assert view.next_due is None


async def test_an_open_ticket_is_found_only_through_a_verified_identity(runtime: Runtime) -> None:
    await runtime.ingest.accept(mail("ann@example.com", BROKEN, runtime, external_id="m1"))
    [first] = await runtime.worker.drain()
    # Someone on Telegram claims to be Ann by quoting her address: a claim, never hers.
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.TELEGRAM,
            external_id="t1",
            sender="555",
            text="I am ann@example.com",
            received_at=runtime.clock.now(),
        )
    )
    await runtime.worker.drain()
    mine = await runtime.lookup.open_ticket_of(Channel.EMAIL, "ANN@example.com")
    assert mine is not None
    assert mine.ref == first.ticket_ref
    assert await runtime.lookup.open_ticket_of(Channel.TELEGRAM, "555") is None
    assert await runtime.lookup.open_ticket_of(Channel.EMAIL, "nobody@example.com") is None


async def test_details_given_field_by_field_are_taken_as_given(runtime: Runtime) -> None:
    """A form's fields: a model code the text reading misses, the customer's own category."""
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.WEBFORM,
            external_id="form:1",
            sender="ann@example.com",
            text="It stopped working after the storm.",
            received_at=runtime.clock.now(),
            details={
                "category": "service",
                "order_number": "778812",
                "product_model": "SUN-5K-G03",
                "desired_solution": "a visit of the technician",
                "phone": "0039 347 1234567",
                "email": "Ann@Example.com",
                "serial_number": "  ",
            },
        )
    )
    [outcome] = await runtime.worker.drain()
    async with runtime.sessions() as session:
        ticket = await session.get_one(Ticket, outcome.ticket_id)
    assert ticket.category == "service"
    assert ticket.details == {
        "order_number": "778812",
        "product_model": "SUN-5K-G03",
        "email": "ann@example.com",
        "desired_solution": "a visit of the technician",
        "phone": "+393471234567",
        "description": "It stopped working after the storm.",
    }
    assert ticket.status == TicketStatus.NEW.value  # a service complaint needs no serial


def test_unknown_detail_names_and_categories_are_refused() -> None:
    for details in ({"colour": "red"}, {"category": "billing"}):
        with pytest.raises(ValidationError, match=r"unknown detail names|category must be"):
            InboundMessage(
                channel=Channel.WEBFORM,
                external_id="x",
                sender="a@b.c",
                received_at=START,
                details=details,
            )


async def test_a_ticket_opened_and_completed_in_one_batch_gets_both_replies_right(
    runtime: Runtime, captured: dict[int, OutboundReply]
) -> None:
    """The batch writes its new tickets together: each reply still tells its own state."""
    opening = (
        "My inverter, model SolarMax 3000, stopped working after two days, order number "
        "778812. I want a replacement unit."
    )
    for n, text in enumerate([opening, "The serial number is SN4411223."]):
        await runtime.ingest.accept(mail("ann@example.com", text, runtime, external_id=f"m{n}"))
    first, second = await runtime.worker.drain()  # one batch
    assert (first.decision, second.decision) == (Decision.ANSWERED, Decision.ANSWERED)
    assert first.ticket_ref == second.ticket_ref
    await runtime.sender.run_once()
    ack, detail = (captured[o.outbox_id or 0] for o in (first, second))
    ref = first.ticket_ref or ""
    assert ref in ack.text
    assert ref in detail.text
    assert "we need a little more information" in ack.text  # as it opened: serial missing
    assert "We now have everything we need" in detail.text  # as the second message left it
    view = await view_by_link(runtime, captured, ref, "ann@example.com")
    assert view is not None
    assert [c.status for c in view.history] == [TicketStatus.AWAITING_DETAILS, TicketStatus.NEW]
