"""The anti-abuse throttle: one atomic Lua call per message decides flood, repeat or answer.

All state lives in Redis under the customer's hash tag, so every worker sees the
same window and two workers can never both answer one state of one ticket.
The call is idempotent per message id: a message retried after a crash gets the
decision it got the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from bot.domain import Decision
from bot.keys import Keys
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


def _script(name: str) -> str:
    return resources.files("moderation").joinpath(name).read_text(encoding="utf-8")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Throttle:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._keys = keys
        self._decide = redis.register_script(_script("throttle.lua"))
        self._answered = redis.register_script(_script("answered.lua"))

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
    ) -> Verdict:
        fp = simhash(text)
        hi, lo = ("", "") if fp is None else (str(fp >> 32), str(fp & _LOW32))
        args: list[Any] = [
            message_id, _ms(now), int(limits.window_s * 1000), limits.flood_limit,
            "" if ticket_id is None else str(ticket_id), state_version, hi, lo,
            limits.near_duplicate_bits, int(limits.answered_ttl_s * 1000),
            limits.max_fingerprints,
        ]
        decision, count, repeat_of = await self._decide(
            keys=self._keys.throttle(customer_id), args=args
        )
        return Verdict(Decision(_text(decision)), int(count), _text(repeat_of) or None)

    async def mark_answered(
        self, *, customer_id: int, ticket_id: int, state_version: int, limits: ThrottleLimits
    ) -> None:
        """A staff status change answered the customer: their repeats of it now collapse."""
        await self._answered(
            keys=[self._keys.answered(customer_id)],
            args=[str(ticket_id), state_version, int(limits.answered_ttl_s * 1000)],
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
