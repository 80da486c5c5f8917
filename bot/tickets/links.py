"""One-time links mailed to an address: what turns a claim about an address into proof.

Whoever can read the mail owns the address. A link carries a random token; Redis
keeps only the token's hash with what the link is for, for 24 hours, and the first
use deletes it (GETDEL), so a link works once. The mail goes out in the background:
a page that asks for one answers at once and the same whether a mail was sent or not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from bot.contract.domain import Channel, OutboundReply, SendResult
from bot.contract.keys import Keys

log = logging.getLogger(__name__)
LINK_TTL_S = 24 * 3600
MAX_TOKEN = 64

# (link or code) -> (subject, text), in the recipient's language
Compose = Callable[[str], tuple[str, str]]


class Mailer(Protocol):
    """The runtime's sender (bot.stages.outbox.Sender): the email adapter, if configured."""

    def can_send(self, channel: Channel) -> bool: ...

    async def send_now(self, reply: OutboundReply) -> SendResult: ...


class OneTimeLinks:
    def __init__(self, redis: Redis, keys: Keys, mailer: Mailer, public_url: str = "") -> None:
        self._redis, self._keys, self._mailer = redis, keys, mailer
        self._public_url = public_url.rstrip("/")
        self._mailing: set[asyncio.Task[None]] = set()

    @property
    def can_mail(self) -> bool:
        return self._mailer.can_send(Channel.EMAIL)

    def send(
        self, kind: str, payload: dict[str, Any], to: str, language: str, ref: str, compose: Compose
    ) -> None:
        """Mail a link for `payload` to `to`, in the background."""
        task = asyncio.create_task(self._send(kind, payload, to, language, ref, compose))
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)

    async def settled(self) -> None:
        """Wait for the links being mailed (tests, and a clean shutdown)."""
        while self._mailing:
            await asyncio.gather(*self._mailing, return_exceptions=True)

    async def _send(
        self, kind: str, payload: dict[str, Any], to: str, language: str, ref: str, compose: Compose
    ) -> None:
        token = secrets.token_urlsafe(24)
        await self._redis.set(
            self._keys.one_time_link(kind, digest(token)), json.dumps(payload), ex=LINK_TTL_S
        )
        # Without a public URL a link cannot be built: the token is the code to enter.
        link = f"{self._public_url}/{kind}?token={token}" if self._public_url else token
        subject, text = compose(link)
        reply = OutboundReply(
            outbox_id=0,
            channel=Channel.EMAIL,
            to=to,
            text=text,
            subject=subject,
            language=language,
            ticket_ref=ref,
        )
        try:
            result = await self._mailer.send_now(reply)
        except Exception:
            log.exception("one-time link not mailed", extra={"link_kind": kind})
            return
        if not result.ok:
            log.warning("one-time link not mailed: %s", result.error, extra={"link_kind": kind})

    async def redeem(self, kind: str, token: str) -> dict[str, Any] | None:
        """What the link was for, once; None for an unknown, used or expired token."""
        if not 16 <= len(token) <= MAX_TOKEN:
            return None
        raw = await self._redis.getdel(self._keys.one_time_link(kind, digest(token)))
        if raw is None:
            return None
        payload = json.loads(raw)
        return payload if isinstance(payload, dict) else None

    async def grant(self, kind: str, payload: dict[str, Any], ttl_s: int) -> str:
        """A token handed out on a page (not mailed), good for `ttl_s` and many uses."""
        token = secrets.token_urlsafe(24)
        await self._redis.set(
            self._keys.one_time_link(kind, digest(token)), json.dumps(payload), ex=ttl_s
        )
        return token

    async def peek(self, kind: str, token: str) -> dict[str, Any] | None:
        """What a granted token is for, without spending it; None once it expired."""
        if not 16 <= len(token) <= MAX_TOKEN:
            return None
        raw = await self._redis.get(self._keys.one_time_link(kind, digest(token)))
        payload = json.loads(raw) if raw is not None else None
        return payload if isinstance(payload, dict) else None


def digest(token: str) -> str:
    """Only a token's hash is stored: a copy of Redis shows no usable link."""
    return hashlib.sha256(token.encode()).hexdigest()
