"""A customer's personal data on request: all of it exported, or all of it erased.

Erasure keeps the records the business needs (that a ticket existed, its reference,
status history, dates, decisions, counts) and blanks what identifies or was written
by the person: names, addresses, texts, provider payloads, attachments, given
details, staff notes. The rows stay so that statistics, SLA reports and the outbox's
"one reply per change" keys keep holding; an erased address is replaced by a
placeholder unique to its row, so the same person writing again starts afresh.
Each erasure is audited (who, when, which customer, how many rows), without the data.

Outside the rows: the throttle's fingerprints of the texts, and what each channel family
keeps in Redis or on disk (a form's confirmation record, a chat session, uploaded files)
through its Plug.forget hook. bot.app.channel_setup.erase_customer then rewrites the
stores' files (SQLite's write-ahead log, Valkey's append-only file) so no old copy stays.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.domain import Channel
from bot.contract.errors import IntakeError
from bot.contract.ports import Forget, Traces
from bot.store import audit
from bot.store.models import (
    Customer,
    Identity,
    Message,
    ModerationItem,
    OutboxReply,
    Rating,
    Ticket,
    TicketEvent,
    table_of,
)
from bot.tickets import lifecycle
from bot.tickets.identity import normalize_address
from moderation.throttle import Throttle

ERASED = "erased"


async def find_customer(session: AsyncSession, who: str) -> int:
    """`who`: a ticket reference, `channel:address`, or an email address."""
    who = who.strip()
    if lifecycle.REF.fullmatch(who.upper()):
        ticket = await lifecycle.by_ref(session, who)
        found = ticket.customer_id if ticket is not None else None
    else:
        channel_name, _, address = who.partition(":") if ":" in who else ("email", "", who)
        try:
            channel = Channel(channel_name.strip().lower())
        except ValueError:
            known = ", ".join(c.value for c in Channel)
            raise IntakeError(
                f"unknown channel {channel_name!r} in {who!r}; known: {known}"
            ) from None
        found = await session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == channel.value,
                Identity.address == normalize_address(channel, address),
            )
        )
    if found is None:
        raise IntakeError(f"no customer known by {who!r}")
    return int(found)


def _row(obj: Any, columns: Sequence[str]) -> dict[str, Any]:
    values = {name: getattr(obj, name) for name in columns}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


async def export(sessions: async_sessionmaker[AsyncSession], customer_id: int) -> dict[str, Any]:
    """Everything stored about one customer, as JSON-ready data."""
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            raise IntakeError(f"no customer {customer_id}")
        identities = list(
            await session.scalars(
                select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
            )
        )
        tickets = list(
            await session.scalars(
                select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
            )
        )
        ticket_ids = [t.id for t in tickets]
        events = list(
            await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id.in_(ticket_ids))
                .order_by(TicketEvent.id)
            )
        )
        messages = list(
            await session.scalars(
                select(Message).where(Message.customer_id == customer_id).order_by(Message.id)
            )
        )
        replies = list(
            await session.scalars(
                select(OutboxReply)
                .where(OutboxReply.ticket_id.in_(ticket_ids))
                .order_by(OutboxReply.id)
            )
        )
    return {
        "customer": _row(
            customer, ["id", "display_name", "language", "blocked_until", "created_at"]
        ),
        "identities": [
            _row(i, ["channel", "address", "verified", "created_at"]) for i in identities
        ],
        "tickets": [
            {
                **_row(
                    t,
                    [
                        "ref",
                        "category",
                        "details",
                        "status",
                        "language",
                        "opened_at",
                        "updated_at",
                        "closed_at",
                    ],
                ),
                "history": [
                    _row(e, ["at", "status", "note"]) for e in events if e.ticket_id == t.id
                ],
            }
            for t in tickets
        ],
        "messages": [
            _row(
                m,
                [
                    "channel",
                    "external_id",
                    "sender",
                    "display_name",
                    "subject",
                    "text",
                    "thread_refs",
                    "attachments",
                    "details",
                    "raw",
                    "received_at",
                    "language",
                    "decision",
                    "reason",
                ],
            )
            for m in messages
        ],
        "replies": [
            _row(
                r,
                [
                    "channel",
                    "address",
                    "subject",
                    "text",
                    "language",
                    "status",
                    "created_at",
                    "sent_at",
                ],
            )
            for r in replies
        ],
    }


@dataclass(frozen=True)
class Erasure:
    customer_id: int
    rows: dict[str, int]  # table -> rows blanked
    attachment_urls: list[str]  # the channels' stores hold these files (Plug.forget)
    # What the channels deleted outside the database (Plug.forget), by kind: redis_keys, files
    forgotten: dict[str, int] = field(default_factory=dict)


async def erase(
    sessions: async_sessionmaker[AsyncSession],
    throttle: Throttle,
    customer_id: int,
    *,
    actor: str,
    now: datetime,
    forget: Sequence[Forget] = (),
) -> Erasure:
    """Blank one customer's personal data in one transaction, and audit it; then drop the
    throttle's fingerprints of their texts, and what each channel family keeps about them
    (`forget`: the plugs' hooks, given the customer's addresses and message ids).

    The whole erasure, with the old copies in the stores' files, is
    bot.app.channel_setup.erase_customer: that is what the CLI and the console call.
    """
    async with sessions.begin() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            raise IntakeError(f"no customer {customer_id}")
        claims = customer.claims_customer_id  # where the throttle keeps its fingerprints
        ticket_ids = list(
            await session.scalars(select(Ticket.id).where(Ticket.customer_id == customer_id))
        )
        traces = await _traces(session, customer_id)
        rows = {
            "customers": await _blank(
                session, Customer, Customer.id == customer_id, display_name="", erased_at=now
            ),
            "identities": await _blank(
                session,
                Identity,
                Identity.customer_id == customer_id,
                verified=False,
                address=_placeholder(Identity.id),
            ),
            "messages": await _blank(
                session,
                Message,
                Message.customer_id == customer_id,
                sender=_placeholder(Message.id),
                external_id=_placeholder(Message.id),
                display_name="",
                subject="",
                text="",
                thread_refs=[],
                attachments=[],
                raw={},
                details=None,
            ),
            "tickets": await _blank(session, Ticket, Ticket.customer_id == customer_id, details={}),
            "ticket_events": await _blank(
                session, TicketEvent, TicketEvent.ticket_id.in_(ticket_ids), note=""
            ),
            # The satisfaction rating's comment is the customer's words; the score stays.
            "ratings": await _blank(session, Rating, Rating.ticket_id.in_(ticket_ids), comment=""),
            # A provider's id points at the conversation (a chat session, a form
            # submission, a mail's Message-ID) and an error may quote the address.
            "outbox": await _blank(
                session,
                OutboxReply,
                OutboxReply.ticket_id.in_(ticket_ids),
                address=ERASED,
                subject="",
                text="",
                provider_id=None,
                last_error="",
                delivered_to=ERASED,
            ),
            "unsent_replies": await _blank(
                session,
                OutboxReply,
                OutboxReply.ticket_id.in_(ticket_ids),
                OutboxReply.status == "pending",
                status="failed",
                last_error="not sent: the customer's data was erased",
            ),
            "moderation_items": await _count(
                session,
                ModerationItem.message_id.in_(
                    select(Message.id).where(Message.customer_id == customer_id)
                ),
            ),
        }
        audit.record(
            session,
            at=now,
            actor=actor,
            action="privacy.erase",
            target=f"customer:{customer_id}",
            rows=rows,
        )
    await throttle.forget_texts(customer_id, claims)
    forgotten: Counter[str] = Counter()
    for hook in forget:
        forgotten.update(await hook(traces))
    return Erasure(customer_id, rows, sorted(traces.attachment_urls), dict(forgotten))


async def _traces(session: AsyncSession, customer_id: int) -> Traces:
    """The customer's addresses, message ids and attachment URLs, before they are blanked:
    the channels' own stores know them by these."""
    addresses: dict[Channel, set[str]] = defaultdict(set)
    external_ids: dict[Channel, set[str]] = defaultdict(set)
    for channel, address in await session.execute(
        select(Identity.channel, Identity.address).where(Identity.customer_id == customer_id)
    ):
        addresses[Channel(channel)].add(address)
    urls: set[str] = set()
    for channel, external_id, sender, attachments in await session.execute(
        select(Message.channel, Message.external_id, Message.sender, Message.attachments).where(
            Message.customer_id == customer_id
        )
    ):
        addresses[Channel(channel)].add(sender)
        external_ids[Channel(channel)].add(external_id)
        urls.update(a["url"] for a in attachments if a.get("url"))
    return Traces(
        addresses={c: frozenset(a) for c, a in addresses.items()},
        external_ids={c: frozenset(e) for c, e in external_ids.items()},
        attachment_urls=frozenset(urls),
    )


def _placeholder(row_id: Any) -> Any:
    """'erased-<row id>': unique where the address or provider id had to be."""
    return literal(f"{ERASED}-") + cast(row_id, String)


async def _blank(session: AsyncSession, model: type[Any], *where: Any, **values: Any) -> int:
    result = await session.execute(update(table_of(model)).where(*where).values(**values))
    return int(getattr(result, "rowcount", 0) or 0)


async def _count(session: AsyncSession, where: Any) -> int:
    """Moderation items hold no personal data (scores, labels): counted, kept."""
    return int(
        await session.scalar(select(func.count()).select_from(ModerationItem).where(where)) or 0
    )
