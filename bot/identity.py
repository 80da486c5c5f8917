"""Who wrote: the customer behind a (channel, address), and links a message only claims.

A message that mentions the email address, phone or ticket reference of a known
customer joins that customer for throttling and collapse, but as an unverified
identity: ticket details only ever go to verified identities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.details import Found
from bot.domain import Channel
from bot.models import Customer, Identity, Ticket

_PHONE_CHANNELS = (Channel.WHATSAPP.value,)
_NON_DIGIT = re.compile(r"[^\d+]")


@dataclass(frozen=True)
class Who:
    customer: Customer
    identity: Identity
    claimed: bool  # linked by a mention, not proven


def normalize_address(channel: Channel, address: str) -> str:
    address = address.strip()
    if channel is Channel.EMAIL:
        return address.lower()
    if channel is Channel.WHATSAPP:
        return _NON_DIGIT.sub("", address).lstrip("+")
    return address


Senders = dict[tuple[str, str], Who]  # (channel, normalized address) -> who it is


async def known_senders(session: AsyncSession,
                        senders: Iterable[tuple[Channel, str]]) -> Senders:
    """The senders already known, with their customers, in one query for a whole batch."""
    wanted = {(channel.value, normalize_address(channel, address)) for channel, address in senders}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Identity, Customer).join(Customer, Customer.id == Identity.customer_id)
        .where(Identity.channel.in_({c for c, _ in wanted}),
               Identity.address.in_({a for _, a in wanted})))
    return {(i.channel, i.address): Who(c, i, claimed=not i.verified) for i, c in rows
            if (i.channel, i.address) in wanted}


async def resolve(session: AsyncSession, channel: Channel, address: str, display_name: str,
                  found: Found, now: datetime, *, language: str | None = None,
                  known: Senders | None = None) -> Who:
    """The customer behind (channel, address), created on their first message.

    `language`: the message's, for a customer created now (one row written, not two).
    With `known` (what `known_senders` found for the batch, kept current here), a sender
    missing from it is new without asking the database again.
    """
    address = normalize_address(channel, address)
    key = (channel.value, address)
    who = known.get(key) if known is not None else await _lookup(session, *key)
    if who is None:
        who = await _first_message(session, channel, address, display_name, found, now,
                                   language)
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
    """New customers with their first identities, for senders whose messages claim nobody:
    two INSERTs for a whole batch instead of two per sender."""
    customers = [Customer(display_name=s.display_name[:200], language=s.language,
                          created_at=now) for s in new]
    session.add_all(customers)
    await session.flush()
    identities = [Identity(customer_id=c.id, channel=s.channel.value,
                           address=normalize_address(s.channel, s.address), verified=True,
                           created_at=now) for c, s in zip(customers, new, strict=True)]
    session.add_all(identities)
    await session.flush()
    return {(i.channel, i.address): Who(c, i, claimed=False)
            for c, i in zip(customers, identities, strict=True)}


async def _lookup(session: AsyncSession, channel: str, address: str) -> Who | None:
    identity = await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.address == address))
    if identity is None:
        return None
    customer = await session.get_one(Customer, identity.customer_id)
    return Who(customer, identity, claimed=not identity.verified)


async def _first_message(session: AsyncSession, channel: Channel, address: str,
                         display_name: str, found: Found, now: datetime,
                         language: str | None) -> Who:
    """A new identity: of the customer the message claims to be, else of a new customer."""
    claimed = await _claimed_customer(session, found)
    customer = claimed or Customer(display_name=display_name[:200], language=language,
                                   created_at=now)
    if claimed is None:
        session.add(customer)
        await session.flush()
    identity = Identity(customer_id=customer.id, channel=channel.value, address=address,
                        verified=claimed is None, created_at=now)
    session.add(identity)
    await session.flush()
    return Who(customer, identity, claimed=claimed is not None)


async def _claimed_customer(session: AsyncSession, found: Found) -> Customer | None:
    """The customer a message points at by ticket reference, email or phone, if any."""
    if not (found.ticket_refs or found.emails or found.phones):
        return None
    await session.flush()  # the pipeline does not autoflush: the batch's new rows must show
    if found.ticket_refs:
        customer_id = await session.scalar(
            select(Ticket.customer_id).where(Ticket.ref.in_(found.ticket_refs)).limit(1))
        if customer_id is not None:
            return await session.get(Customer, customer_id)
    mentions = [(Channel.EMAIL.value, e) for e in found.emails]
    mentions += [(c, p.lstrip("+")) for p in found.phones for c in _PHONE_CHANNELS]
    for channel, address in mentions:
        customer_id = await session.scalar(
            select(Identity.customer_id).where(Identity.channel == channel,
                                               Identity.address == address,
                                               Identity.verified.is_(True)))
        if customer_id is not None:
            return await session.get(Customer, customer_id)
    return None
