"""Every Redis key name, built in one place.

Keys one Lua call touches share the customer's hash tag ``{c:ID}`` so the
script also runs on Redis Cluster. A customer who claims to be another keeps its
throttle state under that one's tag (``{c:CLAIMED}:claim:ID:...``), so one call
reads both windows. The prefix lets several bots (or a replay, or a test) share
one Redis without seeing each other's state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "intake"

    @property
    def stream(self) -> str:
        return f"{self.prefix}:stream"

    @property
    def policy_channel(self) -> str:
        return f"{self.prefix}:policy-changed"

    def _customer(self, customer_id: int, name: str, claims: int | None = None) -> str:
        if claims is None:
            return f"{self.prefix}:{{c:{customer_id}}}:{name}"
        return f"{self.prefix}:{{c:{claims}}}:claim:{customer_id}:{name}"

    def flood(self, customer_id: int, claims: int | None = None) -> str:
        """Sorted set of message ids scored by time: the sliding flood window."""
        return self._customer(customer_id, "flood", claims)

    def fingerprints(self, customer_id: int, claims: int | None = None) -> str:
        """Sorted set of 'simhash-hi:simhash-lo:message' scored by time, for near-duplicates."""
        return self._customer(customer_id, "fp", claims)

    def answered(self, customer_id: int, claims: int | None = None) -> str:
        """Hash ticket id -> the last state_version the customer was answered for."""
        return self._customer(customer_id, "answered", claims)

    def decided(self, customer_id: int, claims: int | None = None) -> str:
        """Hash message id -> verdict, so a retried message gets the same answer."""
        return self._customer(customer_id, "decided", claims)

    def throttle(self, customer_id: int, claims: int | None = None) -> list[str]:
        """The throttle script's keys; with `claims`, the claimed customer's window and
        fingerprints come last (read, never written, by this customer's messages)."""
        own = [self.flood(customer_id, claims), self.fingerprints(customer_id, claims),
               self.answered(customer_id, claims), self.decided(customer_id, claims)]
        if claims is None:
            return [*own, own[0], own[1]]
        return [*own, self.flood(claims), self.fingerprints(claims)]

    def one_time_link(self, kind: str, token_digest: str) -> str:
        """A mailed one-time link (bot.tickets.links): what it is for, under its token's hash."""
        return f"{self.prefix}:link:{kind}:{token_digest}"

    def limit(self, name: str, subject: str, window: int) -> str:
        """A limiter's counter for one subject and window (bot.contract.limits). The subject is
        hashed: an address or a looked-up email never appears in a key name."""
        digest = hashlib.blake2b(subject.encode(), digest_size=12).hexdigest()
        return f"{self.prefix}:limit:{name}:{digest}:{window}"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}:*"
