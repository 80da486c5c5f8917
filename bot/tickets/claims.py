"""Proving a claim: a chat or a form browser that names an email address follows a link
mailed there, and from then on writes as that address's customer.

A chat session or a form browser is proven only as itself. Typing an email address
into it is a claim (bot.tickets.identity). When the address is a verified email identity of
a customer, a one-time link goes to it (bot.tickets.links); following the link moves the
chat or browser identity to that customer, verified, so its next messages add to
their complaint and get its replies. Nothing is mailed for an address nobody wrote
from, and the asking page says the same either way; asks are counted per client
address and per email address before anything is looked up.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import Channel
from bot.contract.limits import Allowance, Limiter
from bot.store import audit
from bot.store.models import Customer, Identity
from bot.text import i18n
from bot.tickets.identity import normalize_address
from bot.tickets.links import OneTimeLinks

VERIFY = "verify"  # the link's path and kind
PROVABLE = (Channel.WEBCHAT, Channel.WEBFORM)  # whose senders prove only themselves


class ClaimProofs:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        links: OneTimeLinks,
        clock: Clock,
        *,
        per_ip: Limiter,
        per_email: Limiter,
    ) -> None:
        self._sessions, self._links, self._clock = sessions, links, clock
        self.per_ip, self.per_email = per_ip, per_email

    async def request(
        self, channel: Channel, address: str, email: str, ip: str, language: str
    ) -> Allowance:
        """Mail a link to `email` if a customer wrote from it; say only whether the limits
        allowed the ask."""
        now, email = self._clock.now(), normalize_address(Channel.EMAIL, email)
        by_ip = await self.per_ip.hit(ip, now)
        by_email = await self.per_email.hit(email, now)
        if not (by_ip.allowed and by_email.allowed) or channel not in PROVABLE:
            return by_ip if not by_ip.allowed else by_email
        owner = await self._owner(email)
        if owner is not None and self._links.can_mail:
            payload = {"channel": channel.value, "address": address, "customer": owner}
            self._links.send(
                VERIFY,
                payload,
                email,
                language,
                "",
                lambda link: i18n.claim_link(channel.value, language, link),
            )
        return by_ip

    async def _owner(self, email: str) -> int | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Identity.customer_id).where(
                    Identity.channel == Channel.EMAIL.value,
                    Identity.address == email,
                    Identity.verified.is_(True),
                )
            )

    async def confirm(self, token: str) -> bool:
        """Follow a mailed link: the chat or browser becomes the address owner's identity."""
        payload = await self._links.redeem(VERIFY, token)
        if payload is None:
            return False
        channel, address = Channel(str(payload["channel"])), str(payload["address"])
        now = self._clock.now()
        async with self._sessions.begin() as session:
            owner = await session.get(Customer, int(payload["customer"]))
            if owner is None:
                return False
            identity = await session.scalar(
                select(Identity).where(
                    Identity.channel == channel.value, Identity.address == address
                )
            )
            if identity is None:  # proven before its first message was decided
                session.add(
                    Identity(
                        customer_id=owner.id,
                        channel=channel.value,
                        address=address,
                        verified=True,
                        created_at=now,
                    )
                )
            else:
                identity.customer_id, identity.verified = owner.id, True
            audit.record(
                session,
                at=now,
                actor="customer",
                action="claim.proven",
                target=f"customer:{owner.id}",
                channel=channel.value,
            )
        return True
