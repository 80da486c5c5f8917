"""The anti-abuse throttle: one atomic Lua call per message decides flood, repeat or answer.

All state lives in Redis under the customer's hash tag, so every worker sees the
same window and two workers can never both answer one state of one ticket.
The call is idempotent per message id: a message retried after a crash gets the
decision it got the first time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from bot.contract.domain import Decision
from bot.contract.keys import Keys
from moderation.fingerprint import simhash

_LOW32 = 0xFFFFFFFF


@dataclass(frozen=True)
class ThrottleLimits:
    flood_limit: int = 10
    window_s: float = 3600.0
    near_duplicate_bits: int = 6
    answered_ttl_s: float = 90 * 86400.0
    max_fingerprints: int = 50


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    messages_in_window: int
    repeat_of: str | None


@dataclass(frozen=True)
class Ask:
    """One message for the throttle: whose, about which state of which ticket, saying what."""

    customer_id: int
    message_id: str
    ticket_id: int | None
    state_version: int
    text: str
    now: datetime
    claims: int | None = None  # the customer the sender claims to be (counted, not touched)
    # What about the state is answered: '' its change; 'status' a question about it (answered
    # once per state besides the change itself).
    topic: str = ""

    @property
    def answers(self) -> str:
        """The throttle's key for "this was answered": the ticket, with the topic if any."""
        if self.ticket_id is None:
            return ""
        return f"{self.ticket_id}:{self.topic}" if self.topic else str(self.ticket_id)


@dataclass(frozen=True)
class Fresh:
    """A customer, or a ticket of one, that the batch asking the throttle has just created.

    PostgreSQL never hands an id out twice, but SQLite reuses the ids of rows written in
    a transaction that rolled back, while what the throttle wrote for them in Redis
    stayed: a new customer would inherit a stranger's window and "already answered".
    So their state is forgotten before the batch is decided.
    """

    customer_id: int
    claims: int | None
    ticket_id: int | None = None  # None: the customer is new, every key of theirs goes
    message_ids: tuple[str, ...] = ()  # the batch's messages about the new ticket


def _script(name: str) -> str:
    return resources.files("moderation").joinpath(name).read_text(encoding="utf-8")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _args(ask: Ask, limits: ThrottleLimits) -> list[Any]:
    fp = simhash(ask.text)
    hi, lo = ("", "") if fp is None else (str(fp >> 32), str(fp & _LOW32))
    return [
        ask.message_id,
        _ms(ask.now),
        int(limits.window_s * 1000),
        limits.flood_limit,
        ask.answers,
        ask.state_version,
        hi,
        lo,
        limits.near_duplicate_bits,
        int(limits.answered_ttl_s * 1000),
        limits.max_fingerprints,
        "" if ask.claims is None else "1",
    ]


def _verdict(reply: Any) -> Verdict:
    decision, count, repeat_of = reply
    return Verdict(Decision(_text(decision)), int(count), _text(repeat_of) or None)


class Throttle:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._decide = redis.register_script(_script("throttle.lua"))
        self._answered = redis.register_script(_script("answered.lua"))
        self._forget_ticket = redis.register_script(_script("forget_ticket.lua"))

    async def decide(
        self,
        *,
        customer_id: int,
        message_id: str,
        ticket_id: int | None,
        state_version: int,
        text: str,
        now: datetime,
        limits: ThrottleLimits,
        claims: int | None = None,
    ) -> Verdict:
        ask = Ask(customer_id, message_id, ticket_id, state_version, text, now, claims)
        return _verdict(
            await self._decide(
                keys=self._keys.throttle(customer_id, claims), args=_args(ask, limits)
            )
        )

    async def decide_many(
        self, asks: Sequence[Ask], limits: ThrottleLimits, fresh: Sequence[Fresh] = ()
    ) -> list[Verdict]:
        """Each message as `decide` would, all in one round trip: the worker's whole batch.

        Every call stays one atomic script run, and Redis runs them in the order given, so
        a customer's messages are decided in their stream order, each seeing the last.
        What `fresh` names is forgotten first, in the same round trip.
        """
        if not asks:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for new in fresh:
                await self._forget(new, pipe)
            for ask in asks:
                await self._decide(
                    keys=self._keys.throttle(ask.customer_id, ask.claims),
                    args=_args(ask, limits),
                    client=pipe,
                )
            replies = await pipe.execute()
            return [_verdict(reply) for reply in replies[len(fresh) :]]

    async def _forget(self, new: Fresh, pipe: Any) -> None:
        if new.ticket_id is None:
            keys = self._keys.throttle(new.customer_id, new.claims)[:4]  # its own, not the claimed
            await pipe.delete(*keys)
            return
        await self._forget_ticket(
            keys=[
                self._keys.answered(new.customer_id, new.claims),
                self._keys.decided(new.customer_id, new.claims),
            ],
            args=[str(new.ticket_id), *new.message_ids],
            client=pipe,
        )

    async def forget_texts(self, customer_id: int, claims: int | None = None) -> None:
        """Drop the customer's fingerprints, the only trace of their texts here (erasure)."""
        await self._redis.delete(self._keys.fingerprints(customer_id, claims))

    async def mark_answered(
        self,
        *,
        customer_id: int,
        ticket_id: int,
        state_version: int,
        limits: ThrottleLimits,
        claims: int | None = None,
    ) -> None:
        """A staff status change answered the customer: their repeats of it now collapse."""
        await self._answered(
            keys=[self._keys.answered(customer_id, claims)],
            args=[str(ticket_id), state_version, int(limits.answered_ttl_s * 1000)],
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
