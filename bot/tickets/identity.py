"""Who wrote: the customer behind a (channel, address), and whom a new sender claims to be.

Every identity is one its channel proves: a signed webhook's user id, an authenticated
mail's sender, a chat session or form browser that holds its secret. What a message
says about anyone else (a ticket reference, an email or phone in its text, a contact
typed into a form) is a claim. A new sender whose first message claims a known
customer becomes a customer of its own that records the claim
(`Customer.claims_customer_id`): staff see it and the throttle counts the two
together, but the claim never reaches the claimed customer's tickets, details,
replies, blocks or limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.domain import Channel
from bot.rules.details import Found
from bot.store.models import Customer, Identity, Ticket

_PHONE_CHANNELS = (Channel.WHATSAPP.value,)
_NON_DIGIT = re.compile(r"[^\d+]")


@dataclass(frozen=True)
class Who:
    customer: Customer
    identity: Identity
    # Created by this transaction: whatever Redis holds under its id is not its own (an id
    # SQLite handed out in a transaction that rolled back is handed out again).
    new: bool = False

    @property
    def claims(self) -> int | None:
        """The customer this one said it was (never proof of anything)."""
        return self.customer.claims_customer_id


def normalize_address(channel: Channel, address: str) -> str:
    address = address.strip()
    if channel is Channel.EMAIL:
        return address.lower()
    if channel is Channel.WHATSAPP:
        return _NON_DIGIT.sub("", address).lstrip("+")
    return address


Senders = dict[tuple[str, str], Who]  # (channel, normalized address) -> who it is


async def known_senders(session: AsyncSession, senders: Iterable[tuple[Channel, str]]) -> Senders:
    """The senders already known, with their customers, in one query for a whole batch."""
    wanted = {(channel.value, normalize_address(channel, address)) for channel, address in senders}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Identity, Customer)
        .join(Customer, Customer.id == Identity.customer_id)
        .where(
            Identity.channel.in_({c for c, _ in wanted}),
            Identity.address.in_({a for _, a in wanted}),
        )
    )
    return {(i.channel, i.address): Who(c, i) for i, c in rows if (i.channel, i.address) in wanted}


async def resolve(
    session: AsyncSession,
    channel: Channel,
    address: str,
    display_name: str,
    found: Found,
    now: datetime,
    *,
    language: str | None = None,
    known: Senders | None = None,
) -> Who:
    """The customer behind (channel, address), created on their first message.

    `language`: the message's, for a customer created now (one row written, not two).
    With `known` (what `known_senders` found for the batch, kept current here), a sender
    missing from it is new without asking the database again.
    """
    address = normalize_address(channel, address)
    key = (channel.value, address)
    who = known.get(key) if known is not None else await _lookup(session, *key)
    if who is None:
        who = await _first_message(session, channel, address, display_name, found, now, language)
        if known is not None:
            known[key] = who
    return who


@dataclass(frozen=True)
class NewSender:
    channel: Channel
    address: str
    display_name: str
    language: str | None


async def create_many(session: AsyncSession, new: Sequence[NewSender], now: datetime) -> Senders:
    """New customers with their first identities, for senders whose first messages claim
    nobody: two INSERTs for a whole batch instead of two per sender.

    In the order of their addresses: two workers inserting the same new senders then
    wait for each other in one order, never in a deadlock."""
    new = sorted(new, key=lambda s: (s.channel.value, normalize_address(s.channel, s.address)))
    customers = [
        Customer(display_name=s.display_name[:200], language=s.language, created_at=now)
        for s in new
    ]
    session.add_all(customers)
    await session.flush()
    identities = [
        Identity(
            customer_id=c.id,
            channel=s.channel.value,
            address=normalize_address(s.channel, s.address),
            verified=True,
            created_at=now,
        )
        for c, s in zip(customers, new, strict=True)
    ]
    session.add_all(identities)
    await session.flush()
    return {
        (i.channel, i.address): Who(c, i, new=True)
        for c, i in zip(customers, identities, strict=True)
    }


async def _lookup(session: AsyncSession, channel: str, address: str) -> Who | None:
    identity = await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.address == address)
    )
    if identity is None:
        return None
    customer = await session.get_one(Customer, identity.customer_id)
    return Who(customer, identity)


async def _first_message(
    session: AsyncSession,
    channel: Channel,
    address: str,
    display_name: str,
    found: Found,
    now: datetime,
    language: str | None,
) -> Who:
    """A new customer with its identity, recording whom the message claims to be."""
    claimed = await _claimed_customer(session, found)
    customer = Customer(
        display_name=display_name[:200],
        language=language,
        created_at=now,
        claims_customer_id=None if claimed is None else claimed.id,
    )
    session.add(customer)
    await session.flush()
    identity = Identity(
        customer_id=customer.id,
        channel=channel.value,
        address=address,
        verified=True,
        created_at=now,
    )
    session.add(identity)
    await session.flush()
    return Who(customer, identity, new=True)


async def _claimed_customer(session: AsyncSession, found: Found) -> Customer | None:
    """The customer a message points at by ticket reference, email or phone, if any.

    A claimant's own claim is followed to the customer it named, so a second claimant
    is counted with the first one's target, not with the first claimant."""
    if not (found.ticket_refs or found.emails or found.phones):
        return None
    await session.flush()  # the pipeline does not autoflush: the batch's new rows must show
    if found.ticket_refs:
        customer_id = await session.scalar(
            select(Ticket.customer_id).where(Ticket.ref.in_(found.ticket_refs)).limit(1)
        )
        if customer_id is not None:
            return await _claimed_home(session, customer_id)
    mentions = [(Channel.EMAIL.value, e) for e in found.emails]
    mentions += [(c, p.lstrip("+")) for p in found.phones for c in _PHONE_CHANNELS]
    for channel, address in mentions:
        customer_id = await session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == channel,
                Identity.address == address,
                Identity.verified.is_(True),
            )
        )
        if customer_id is not None:
            return await _claimed_home(session, customer_id)
    return None


async def _claimed_home(session: AsyncSession, customer_id: int) -> Customer | None:
    customer = await session.get(Customer, customer_id)
    if customer is not None and customer.claims_customer_id is not None:
        return await session.get(Customer, customer.claims_customer_id)
    return customer
