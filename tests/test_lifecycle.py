"""The lifecycle's rules beyond the replayed scenarios: the table of transitions, notes for
staff, the sweeper's single runner and retention, replies owed outside Meta's window."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import OPEN_STATUSES, Channel, Decision, OutboundReply, TicketStatus
from bot.contract.errors import IntakeError
from bot.rules.sla import SlaPolicy, is_business_day
from bot.staff.desk import TicketDesk
from bot.staff.sweeper import Sweeper
from bot.stages.outbox import NEEDS_OTHER_CHANNEL
from bot.store.models import AuditEntry, Customer, Identity, OutboxReply, Ticket, TicketEvent
from bot.text.i18n import status_label
from bot.tickets.lifecycle import TRANSITIONS, check_change
from tests.helpers import complaint, outbox_rows

FULL = (
    "Il mio inverter si spegne ogni mattina con errore E-2032, ordine n. 778812. "
    "Vorrei la sostituzione."
)


def desk(runtime: Runtime) -> TicketDesk:
    return TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, runtime.clock)


async def open_one(
    runtime: Runtime, clock: VirtualClock, sender: str = "a@example.it", **kw: object
) -> Ticket:
    await runtime.ingest.accept(complaint(sender, FULL, clock.now(), **kw))  # type: ignore[arg-type]
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    while await runtime.sender.run_once():  # the acknowledgment goes at once
        pass
    async with runtime.sessions() as session:
        return await session.get_one(Ticket, outcome.ticket_id)


async def ticket(runtime: Runtime, ticket_id: int) -> Ticket:
    async with runtime.sessions() as session:
        return await session.get_one(Ticket, ticket_id)


# --- the table of transitions ---------------------------------------------------------------


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(TicketStatus, repeat=2)))
def test_every_pair_of_statuses_is_allowed_or_refused_by_the_table(
    current: TicketStatus, wanted: TicketStatus
) -> None:
    stub = Ticket(ref="C-2026-000001", status=current.value)
    if wanted in TRANSITIONS[current] or wanted is current:  # the same again: a note only
        check_change(stub, wanted, note="because", new_resolve_date=None)
    else:
        with pytest.raises(IntakeError, match="cannot go from"):
            check_change(stub, wanted, note="because", new_resolve_date=None)


def test_closed_is_final_and_decided_tickets_can_be_reopened() -> None:
    assert TRANSITIONS[TicketStatus.CLOSED] == frozenset()
    for decided in (TicketStatus.RESOLVED, TicketStatus.REJECTED):
        assert TicketStatus.ESCALATED in TRANSITIONS[decided]
    for status in OPEN_STATUSES:
        assert TicketStatus.REJECTED in TRANSITIONS[status]


def test_rejection_and_a_new_date_need_an_explanation() -> None:
    stub = Ticket(ref="C-2026-000001", status=TicketStatus.INVESTIGATING.value)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    for status, due in ((TicketStatus.REJECTED, None), (TicketStatus.INVESTIGATING, later)):
        with pytest.raises(IntakeError, match="explanation"):
            check_change(stub, status, note="   ", new_resolve_date=due)
    with pytest.raises(IntakeError, match="open status"):
        check_change(stub, TicketStatus.RESOLVED, note="done", new_resolve_date=later)
    with pytest.raises(IntakeError, match="already investigating"):
        check_change(stub, TicketStatus.INVESTIGATING, note="", new_resolve_date=None)


# --- the desk -------------------------------------------------------------------------------


async def test_the_same_status_with_a_note_is_for_staff_and_owes_nothing(
    runtime: Runtime, clock: VirtualClock
) -> None:
    opened = await open_one(runtime, clock)
    first = await desk(runtime).change_status(
        opened.ref or "", TicketStatus.INVESTIGATING, note="Tecnico inviato.", actor="ana"
    )
    assert first.outbox_id is not None
    again = await desk(runtime).change_status(
        opened.ref or "", TicketStatus.INVESTIGATING, note="Cliente richiamato.", actor="ana"
    )
    assert again.outbox_id is None
    assert again.state_version == first.state_version
    assert (await ticket(runtime, opened.id)).state_version == first.state_version
    async with runtime.sessions() as session:
        events = list(
            await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == opened.id)
                .order_by(TicketEvent.id)
            )
        )
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert [(e.note, e.told) for e in events[-2:]] == [
        ("Tecnico inviato.", True),
        ("Cliente richiamato.", False),
    ]
    assert actions[-2:] == ["ticket.status", "ticket.note"]
    assert len(await outbox_rows(runtime)) == 2  # the acknowledgment and the one change


async def test_a_new_resolve_date_is_told_once_and_clears_the_clocks_marks(
    runtime: Runtime, clock: VirtualClock
) -> None:
    opened = await open_one(runtime, clock)
    clock.set(clock.now() + timedelta(days=60))
    swept = await runtime.sweeper.sweep()
    assert swept.overdue == [opened.ref]
    assert (await ticket(runtime, opened.id)).overdue_at is not None
    new_day = (clock.now() + timedelta(days=20)).date()
    change = await desk(runtime).change_status(
        opened.ref or "",
        TicketStatus.INVESTIGATING,
        note="Il fornitore ha ritardato.",
        actor="ana",
        new_resolve_date=new_day,
    )
    assert change.outbox_id is not None
    changed = await ticket(runtime, opened.id)
    assert changed.overdue_at is None
    assert changed.at_risk_at is None
    assert changed.resolve_due.astimezone(UTC).date() == new_day
    with pytest.raises(IntakeError, match="not in the future"):
        await desk(runtime).change_status(
            opened.ref or "",
            TicketStatus.INVESTIGATING,
            note="x",
            actor="ana",
            new_resolve_date=date(2020, 1, 1),
        )


# --- the sweeper ----------------------------------------------------------------------------


async def test_two_sweepers_at_once_owe_each_update_once(
    runtime: Runtime, clock: VirtualClock
) -> None:
    opened = [await open_one(runtime, clock, f"c{n}@example.it") for n in range(5)]
    clock.set(clock.now() + timedelta(days=25))  # past the progress date, before the resolve date
    other = Sweeper(runtime.sessions, runtime.throttle, runtime.policy, clock)
    first, second = await asyncio.gather(runtime.sweeper.sweep(), other.sweep())
    assert len(first.owed) + len(second.owed) == len(opened)
    rows = [r for r in await outbox_rows(runtime) if r.kind == "progress_update"]
    assert sorted(r.ticket_id or 0 for r in rows) == sorted(t.id for t in opened)
    assert (await runtime.sweeper.sweep()).owed == []  # nothing twice


async def test_retention_erases_only_customers_whose_tickets_all_closed_long_ago(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await runtime.policy.set_value("privacy.retention_days", 30, actor="admin")
    gone = await open_one(runtime, clock, "gone@example.it")
    kept = await open_one(runtime, clock, "kept@example.it")
    await desk(runtime).change_status(gone.ref or "", TicketStatus.CLOSED, note="", actor="ana")
    clock.set(clock.now() + timedelta(days=31))
    swept = await runtime.sweeper.sweep()
    assert swept.erased == [gone.customer_id]
    async with runtime.sessions() as session:
        erased = await session.get_one(Customer, gone.customer_id)
        still = await session.get_one(Customer, kept.customer_id)
        addresses = set(await session.scalars(select(Identity.address)))
        audit = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase"))
        )
    assert erased.erased_at is not None
    assert still.erased_at is None
    assert "gone@example.it" not in addresses
    assert "kept@example.it" in addresses
    assert [(a.actor, a.target) for a in audit] == [("retention", f"customer:{gone.customer_id}")]
    assert (await runtime.sweeper.sweep()).erased == []  # once


async def test_retention_is_off_by_default(runtime: Runtime, clock: VirtualClock) -> None:
    gone = await open_one(runtime, clock)
    await desk(runtime).change_status(gone.ref or "", TicketStatus.CLOSED, note="", actor="ana")
    clock.set(clock.now() + timedelta(days=3650))
    assert (await runtime.sweeper.sweep()).erased == []


# --- status on demand, appeals --------------------------------------------------------------


async def test_the_reference_alone_asks_for_the_status(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    opened = await open_one(runtime, clock)
    clock.set(clock.now() + timedelta(hours=5))
    await runtime.ingest.accept(complaint("a@example.it", f"  {opened.ref}. ", clock.now()))
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    await runtime.sender.run_once()
    assert outcome.outbox_id is not None
    reply = captured[outcome.outbox_id]
    assert (opened.ref or "?") in reply.text
    assert status_label(opened.status, "it") in reply.text  # in the customer's language
    async with runtime.sessions() as session:
        row = await session.get_one(OutboxReply, outcome.outbox_id)
    assert (row.kind, row.topic) == ("status_answer", "status")


async def test_a_status_question_from_a_stranger_gets_one_answer_whatever_it_names(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    owner = await open_one(runtime, clock)
    asks = [
        ("chat-claims-the-ref", f"Qual è lo stato del reclamo {owner.ref}?"),
        ("chat-names-no-ticket", "Qual è lo stato del reclamo C-2026-999999?"),
        ("chat-claims-the-email", "Sono a@example.it: qual è lo stato del mio reclamo?"),
        ("chat-ref-alone", f"{owner.ref}"),
        ("chat-other-ref-alone", "C-2026-999999"),
    ]
    for sender, text in asks:
        await runtime.ingest.accept(complaint(sender, text, clock.now(), channel=Channel.WEBCHAT))
    outcomes = await runtime.worker.drain()
    while await runtime.sender.run_once():
        pass

    assert [o.decision for o in outcomes] == [Decision.ANSWERED] * len(asks)
    sent = [captured[o.outbox_id or 0] for o in outcomes]
    italian, bare = sent[:3], sent[3:]  # a bare reference says nothing of its language
    assert len({(r.subject, r.text, r.ticket_ref, r.language) for r in italian}) == 1
    assert len({(r.subject, r.text, r.ticket_ref, r.language) for r in bare}) == 1
    assert sent[0].ticket_ref == ""
    assert (owner.ref or "?") not in sent[0].text
    assert status_label(owner.status, "it") not in sent[0].text
    rows = [r for r in await outbox_rows(runtime) if r.id in {o.outbox_id for o in outcomes}]
    assert {(r.ticket_id, r.kind) for r in rows} == {(None, "status_unverified")}
    after = await ticket(runtime, owner.id)
    assert after.state_version == owner.state_version  # nothing of the owner's changed
    async with runtime.sessions() as session:
        opened = await session.scalar(select(func.count()).select_from(Ticket))
    assert opened == 1  # a question is not a new complaint


async def test_a_strangers_repeated_status_question_is_answered_once(
    runtime: Runtime, clock: VirtualClock
) -> None:
    answered = []
    for minutes, text in [(0, "Ci sono novità sul mio reclamo?"), (30, "Stato del reclamo?")]:
        clock.set(clock.now() + timedelta(minutes=minutes))
        await runtime.ingest.accept(complaint("chi@example.org", text, clock.now()))
        [outcome] = await runtime.worker.drain()
        answered.append(outcome.decision)
    assert answered == [Decision.ANSWERED, Decision.COLLAPSED]


async def test_an_appeal_after_the_window_opens_a_linked_ticket_with_the_old_details(
    runtime: Runtime, clock: VirtualClock
) -> None:
    opened = await open_one(runtime, clock)
    await desk(runtime).change_status(
        opened.ref or "", TicketStatus.REJECTED, note="Fuori garanzia.", actor="ana"
    )
    clock.set(clock.now() + timedelta(days=45))
    await runtime.ingest.accept(complaint("a@example.it", "Voglio fare ricorso.", clock.now()))
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    assert outcome.ticket_id != opened.id
    appeal = await ticket(runtime, outcome.ticket_id or 0)
    assert appeal.appeal_of_id == opened.id
    assert appeal.status == TicketStatus.ESCALATED.value
    assert appeal.details["order_number"] == opened.details["order_number"]
    assert (await ticket(runtime, opened.id)).status == TicketStatus.REJECTED.value


# --- Meta's 24-hour window ------------------------------------------------------------------


async def test_outside_metas_window_a_reply_goes_to_the_customers_verified_email(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    await runtime.policy.set_channel("whatsapp", True, actor="admin")
    opened = await open_one(runtime, clock, "+39 333 1112223", channel=Channel.WHATSAPP)
    async with runtime.sessions.begin() as session:  # proven by a claim link (bot.tickets.claims)
        session.add(
            Identity(
                customer_id=opened.customer_id,
                channel=Channel.EMAIL.value,
                address="wa.customer@example.it",
                verified=True,
                created_at=clock.now(),
            )
        )
    clock.set(clock.now() + timedelta(days=3))
    change = await desk(runtime).change_status(
        opened.ref or "", TicketStatus.INVESTIGATING, note="Tecnico inviato.", actor="ana"
    )
    while await runtime.sender.run_once():
        pass
    assert change.outbox_id is not None
    reply = captured[change.outbox_id]
    assert (reply.channel, reply.to) == (Channel.EMAIL, "wa.customer@example.it")
    assert "Tecnico inviato." in reply.text
    async with runtime.sessions() as session:
        notes = list(
            await session.scalars(
                select(TicketEvent.note).where(
                    TicketEvent.ticket_id == opened.id, TicketEvent.told.is_(False)
                )
            )
        )
    assert any("sent by email" in n for n in notes)


async def test_a_reply_no_channel_can_carry_is_counted_for_staff(
    runtime: Runtime, clock: VirtualClock
) -> None:
    await runtime.policy.set_channel("whatsapp", True, actor="admin")
    opened = await open_one(runtime, clock, "+39 333 1112224", channel=Channel.WHATSAPP)
    clock.set(clock.now() + timedelta(days=2))
    await desk(runtime).change_status(
        opened.ref or "", TicketStatus.INVESTIGATING, note="Tecnico inviato.", actor="ana"
    )
    while await runtime.sender.run_once():
        pass
    assert await runtime.sender.counts() == {NEEDS_OTHER_CHANNEL: 1, "failed": 0, "uncertain": 0}
    async with runtime.sessions() as session:
        noted = await session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id == opened.id, TicketEvent.note.contains("another channel"))
        )
    assert noted == 1


# --- the business calendar ------------------------------------------------------------------


def test_a_regions_own_holidays_count() -> None:
    epiphany = date(2027, 1, 6)
    assert is_business_day(epiphany, SlaPolicy(country="DE", timezone="Europe/Berlin"))
    bavaria = SlaPolicy(country="DE", subdivision="BY", timezone="Europe/Berlin")
    assert not is_business_day(epiphany, bavaria)
    with pytest.raises(ValueError, match="subdivision"):
        SlaPolicy(country="DE", subdivision="XX")
