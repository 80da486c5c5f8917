"""Issue 11: a claim never unlocks, changes, blocks or throttles someone else's complaint.

Each test reproduces one way a stranger got at another customer's complaint by naming
it (a reference, an email address typed into a form or a chat), on both backends.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, InboundMessage, TicketStatus
from bot.staff.moderation_queue import ModerationQueue
from bot.store.models import Customer, Identity, ModerationItem, OutboxReply, Ticket
from tests.test_pipeline import send, with_classifier

INCOMPLETE = "Il mio inverter si è guastato di nuovo."  # no order, model or solution yet


async def test_a_claim_fills_no_missing_detail_and_mails_the_owner_nothing(
    runtime: Runtime, clock: VirtualClock
) -> None:
    victim = await send(runtime, sender="victim@example.com", text=INCOMPLETE, at=clock.now())
    async with runtime.sessions() as session:
        before = await session.get_one(Ticket, victim.ticket_id)
        assert before.status == TicketStatus.AWAITING_DETAILS.value
    message = InboundMessage(
        channel=Channel.WEBFORM,
        external_id="form:attack",
        sender="b:mallory-browser",
        text=f"I withdraw my complaint.\nOrder number: {victim.ticket_ref}\n"
        "Email: mallory@evil.test",
        received_at=clock.now() + timedelta(minutes=1),
        details={
            "order_number": victim.ticket_ref or "",
            "email": "mallory@evil.test",
            "product_model": "SUN-5K",
            "serial_number": "SN1",
            "desired_solution": "nothing, close it",
            "category": "product",
        },
    )
    await runtime.ingest.accept(message)
    [claim] = await runtime.worker.drain()
    assert claim.ticket_id == victim.ticket_id  # staff see it on the ticket it names
    assert claim.decision is Decision.COLLAPSED
    async with runtime.sessions() as session:
        after = await session.get_one(Ticket, victim.ticket_id)
        sent = await session.scalar(select(func.count()).select_from(OutboxReply))
        mallory = await session.scalar(
            select(Identity).where(Identity.address == "b:mallory-browser")
        )
        assert mallory is not None
        assert mallory.customer_id != after.customer_id
    assert after.status == TicketStatus.AWAITING_DETAILS.value
    assert after.state_version == before.state_version
    assert "desired_solution" not in after.details
    assert sent == 1  # the victim's own acknowledgment, nothing for the claim


async def test_a_moderators_block_falls_on_the_sender_not_on_the_customer_it_named(
    runtime: Runtime, clock: VirtualClock
) -> None:
    worker = with_classifier(runtime, clock, "idiots")
    victim = await send(
        runtime, worker, sender="victim@example.com", text=INCOMPLETE, at=clock.now()
    )
    abuse = await send(
        runtime,
        worker,
        sender="b:troll-browser",
        channel=Channel.WEBFORM,
        text=f"you idiots, about {victim.ticket_ref}",
        at=clock.now() + timedelta(minutes=1),
    )
    assert abuse.decision is Decision.FLAGGED
    queue = ModerationQueue(runtime.sessions, runtime.stream, clock)
    await queue.block(abuse.message_id, days=30, actor="mod")
    later = await send(
        runtime,
        worker,
        sender="victim@example.com",
        text="Ordine 4500123987, modello SUN-5K, voglio la sostituzione.",
        at=clock.now() + timedelta(minutes=2),
    )
    assert later.decision is Decision.ANSWERED
    async with runtime.sessions() as session:
        victim_customer = await session.scalar(
            select(Ticket.customer_id).where(Ticket.id == victim.ticket_id)
        )
        blocked = await session.scalars(
            select(Customer.id).where(Customer.blocked_until.is_not(None))
        )
        items = await session.scalar(select(func.count()).select_from(ModerationItem))
    assert victim_customer not in set(blocked)
    assert items == 1


async def test_a_claimants_flood_throttles_the_claimant_never_the_customer_it_named(
    runtime: Runtime, clock: VirtualClock
) -> None:
    victim = await send(runtime, sender="victim2@example.com", text=INCOMPLETE, at=clock.now())
    decisions = []
    for n in range(12):
        claim = await send(
            runtime,
            sender="chat-mallory",
            channel=Channel.WEBCHAT,
            text=f"victim2@example.com here, message number {n} about "
            f"something entirely different each time {n * 7919}",
            at=clock.now() + timedelta(minutes=1 + n),
        )
        decisions.append(claim.decision)
    assert Decision.THROTTLED in decisions  # the claims flood with the named customer's count
    own = await send(
        runtime,
        sender="victim2@example.com",
        text="Ordine 4500123987, modello SUN-5K, voglio la sostituzione.",
        at=clock.now() + timedelta(minutes=20),
    )
    assert own.decision is Decision.ANSWERED
    assert own.ticket_id == victim.ticket_id


async def test_claims_across_channels_still_collapse_into_one_answered_state(
    runtime: Runtime, clock: VirtualClock
) -> None:
    """The frustrated customer on three channels: one reply, every message kept."""
    first = await send(runtime, sender="mario@example.it", text=INCOMPLETE, at=clock.now())
    others = [
        await send(
            runtime,
            sender=sender,
            channel=channel,
            text="sono mario@example.it, rispondete!",
            at=clock.now() + timedelta(minutes=n + 1),
        )
        for n, (channel, sender) in enumerate(
            [(Channel.INSTAGRAM, "1784"), (Channel.TELEGRAM, "555"), (Channel.WEBCHAT, "chat-9")]
        )
    ]
    assert {o.ticket_id for o in others} == {first.ticket_id}
    assert {o.decision for o in others} == {Decision.COLLAPSED}
