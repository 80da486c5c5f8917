"""Decisions and their precedence, identity claims, held messages and the moderators' queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, OutboundReply, TicketStatus
from bot.contract.errors import IntakeError
from bot.staff.desk import TicketDesk
from bot.staff.moderation_queue import ModerationQueue
from bot.stages.pipeline import Outcome, Pipeline
from bot.stages.worker import Worker
from bot.store.models import (
    AuditEntry,
    Customer,
    Identity,
    Message,
    ModerationItem,
    OutboxReply,
    Ticket,
)
from moderation.lexicon import LexiconClassifier
from tests.helpers import KeywordClassifier, complaint

BROKEN = "Il mio inverter si è guastato di nuovo, voglio la sostituzione."


def with_classifier(runtime: Runtime, clock: VirtualClock, word: str) -> Worker:
    pipeline = Pipeline(
        runtime.sessions, runtime.throttle, KeywordClassifier(word), runtime.policy, clock
    )
    return Worker(
        runtime.stream, pipeline, consumer="mod", batch_size=10, block_ms=10, claim_idle_ms=0
    )


async def send(runtime: Runtime, worker: Worker | None = None, **kwargs: object) -> Outcome:
    message = complaint(**kwargs)  # type: ignore[arg-type]
    accepted = await runtime.ingest.accept(message)
    outcomes = await (worker or runtime.worker).drain()
    return next(o for o in outcomes if o.message_id == accepted.message_id)


async def test_closed_channel_is_stored_but_opens_no_ticket(
    runtime: Runtime, clock: VirtualClock
) -> None:
    outcome = await send(
        runtime, sender="+39 333 1234567", text=BROKEN, at=clock.now(), channel=Channel.WHATSAPP
    )
    assert outcome.decision is Decision.CHANNEL_CLOSED
    assert outcome.ticket_id is None
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0
        stored = await session.get_one(Message, outcome.message_id)
    assert stored.text == BROKEN


async def test_closed_channel_wins_over_flagged(runtime: Runtime, clock: VirtualClock) -> None:
    worker = with_classifier(runtime, clock, "idiots")
    outcome = await send(
        runtime,
        worker,
        sender="+39 333 1234567",
        text="you idiots",
        at=clock.now(),
        channel=Channel.WHATSAPP,
    )
    assert outcome.decision is Decision.CHANNEL_CLOSED


async def test_flagged_message_waits_for_a_moderator_then_release_answers_once(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    worker = with_classifier(runtime, clock, "idiots")
    outcome = await send(
        runtime,
        worker,
        sender="a@example.it",
        text="My inverter broke again, you idiots",
        at=clock.now(),
    )
    assert outcome.decision is Decision.FLAGGED
    assert outcome.ticket_id is None
    async with runtime.sessions() as session:
        item = await session.scalar(select(ModerationItem))
        assert item is not None
        assert (item.status, item.labels) == ("pending", ["insult"])
    queue = ModerationQueue(runtime.sessions, runtime.stream, clock)
    await queue.release(outcome.message_id, actor="mod@company")
    released = await worker.drain()
    assert [o.decision for o in released] == [Decision.ANSWERED]
    await runtime.sender.run_once()
    assert len(captured) == 1
    with pytest.raises(IntakeError, match="already released"):
        await queue.release(outcome.message_id, actor="mod@company")
    async with runtime.sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions == ["moderation.release"]


async def test_a_mail_whose_sender_is_not_proven_waits_for_a_moderator(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    """Answering a forged From would mail someone who never wrote: a human decides first."""
    forged = complaint("victim@example.org", BROKEN, clock.now()).model_copy(
        update={"sender_unproven": "mx.example.net reports dmarc=fail for example.org"}
    )
    accepted = await runtime.ingest.accept(forged)
    [outcome] = await runtime.worker.drain()
    assert (outcome.message_id, outcome.decision, outcome.ticket_id) == (
        accepted.message_id,
        Decision.FLAGGED,
        None,
    )
    assert outcome.reason == (
        "sender not proven: mx.example.net reports dmarc=fail for example.org"
    )
    async with runtime.sessions() as session:
        item = await session.scalar(select(ModerationItem))
        assert item is not None
        assert item.labels == ["unproven_sender"]
    await ModerationQueue(runtime.sessions, runtime.stream, clock).release(
        outcome.message_id, actor="mod@company"
    )
    assert [o.decision for o in await runtime.worker.drain()] == [Decision.ANSWERED]
    await runtime.sender.run_once()
    assert [r.to for r in captured.values()] == ["victim@example.org"]


async def test_confirmed_message_stays_unanswered(runtime: Runtime, clock: VirtualClock) -> None:
    worker = with_classifier(runtime, clock, "idiots")
    outcome = await send(runtime, worker, sender="a@example.it", text="idiots!", at=clock.now())
    await ModerationQueue(runtime.sessions, runtime.stream, clock).confirm(
        outcome.message_id, actor="mod"
    )
    assert await worker.drain() == []
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxReply)) == 0
        item = await session.scalar(select(ModerationItem))
    assert item is not None
    assert (item.status, item.decided_by) == ("confirmed", "mod")


async def test_a_claim_is_shown_on_the_named_ticket_but_changes_and_receives_nothing(
    runtime: Runtime, clock: VirtualClock
) -> None:
    first = await send(runtime, sender="Mario.Rossi@Example.it", text=BROKEN, at=clock.now())
    claim = await send(
        runtime,
        sender="17841400000000001",
        channel=Channel.INSTAGRAM,
        text="sono mario.rossi@example.it, ordine n. 4500123987",
        at=clock.now() + timedelta(minutes=3),
    )
    assert claim.ticket_id == first.ticket_id  # staff see it there
    assert claim.decision is Decision.COLLAPSED
    assert claim.outbox_id is None
    assert "claims to be" in claim.reason
    async with runtime.sessions() as session:
        mario = await session.get_one(Ticket, first.ticket_id)
        instagram = await session.scalar(select(Identity).where(Identity.channel == "instagram"))
        assert instagram is not None
        claimant = await session.get_one(Customer, instagram.customer_id)
        replies = await session.scalar(select(func.count()).select_from(OutboxReply))
    assert "order_number" not in mario.details  # the claim added nothing to Mario's ticket
    assert mario.state_version == 1
    assert replies == 1  # Mario's acknowledgment only
    assert claimant.id != mario.customer_id
    assert claimant.claims_customer_id == mario.customer_id


async def test_a_claim_of_a_customer_without_an_open_ticket_opens_its_own(
    runtime: Runtime, clock: VirtualClock
) -> None:
    first = await send(runtime, sender="a@example.it", text=BROKEN, at=clock.now())
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    await desk.change_status(
        first.ticket_ref or "", TicketStatus.CLOSED, note="done", actor="agent"
    )
    other = await send(
        runtime,
        sender="chat-1",
        channel=Channel.WEBCHAT,
        text=f"About {first.ticket_ref}: my inverter broke again",
        at=clock.now() + timedelta(minutes=5),
    )
    assert other.ticket_id != first.ticket_id
    assert other.decision is Decision.ANSWERED
    async with runtime.sessions() as session:
        reply = await session.get_one(OutboxReply, other.outbox_id)
    assert (reply.channel, reply.address) == ("webchat", "chat-1")


async def test_staff_status_change_is_one_reply_then_repeats_collapse(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    first = await send(runtime, sender="a@example.it", text=BROKEN, at=clock.now())
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    change = await desk.change_status(
        first.ticket_ref or "", TicketStatus.INVESTIGATING, note="Tecnico assegnato", actor="agent"
    )
    assert change.outbox_id is not None
    after = await send(
        runtime,
        sender="a@example.it",
        text="Grazie, attendo il tecnico",
        at=clock.now() + timedelta(hours=1),
    )
    assert after.decision is Decision.COLLAPSED
    with pytest.raises(IntakeError, match="already investigating"):
        await desk.change_status(
            first.ticket_ref or "", TicketStatus.INVESTIGATING, note="", actor="agent"
        )
    await runtime.sender.run_once()
    assert [r.text.count("Tecnico assegnato") for r in captured.values()] == [0, 1]


async def test_a_resolved_ticket_lets_a_new_complaint_open_a_new_one(
    runtime: Runtime, clock: VirtualClock
) -> None:
    first = await send(runtime, sender="a@example.it", text=BROKEN, at=clock.now())
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    await desk.change_status(first.ticket_ref or "", TicketStatus.RESOLVED, note="", actor="agent")
    later = clock.now() + timedelta(days=40)
    clock.set(later)
    second = await send(
        runtime,
        sender="a@example.it",
        text="Ora la fattura è sbagliata, mi avete addebitato due volte.",
        at=later,
    )
    assert second.decision is Decision.ANSWERED
    assert second.ticket_id != first.ticket_id


async def test_a_held_message_keeps_the_lexicon_rules_that_held_it(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """Stored as decided: a moderator sees why, even after the word lists change."""
    lexicon = Pipeline(
        runtime.sessions, runtime.throttle, LexiconClassifier(), runtime.policy, clock
    )
    worker = Worker(
        runtime.stream, lexicon, consumer="lex", batch_size=10, block_ms=10, claim_idle_ms=0
    )
    held = await send(
        runtime, worker, sender="b@example.it", text="You are idiots, all of you.", at=clock.now()
    )
    civil = await send(
        runtime, worker, sender="c@example.it", text="Il frigorifero perde acqua.", at=clock.now()
    )

    assert (held.decision, civil.decision) == (Decision.FLAGGED, Decision.ANSWERED)
    async with runtime.sessions() as session:
        [item] = list(await session.scalars(select(ModerationItem)))
    assert item.reasons
    assert all(reason.startswith("en: ") for reason in item.reasons)
    assert any("idiot" in reason for reason in item.reasons)
