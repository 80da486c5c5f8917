"""Every Redis key name, built in one place.

Keys one Lua call touches share the customer's hash tag ``{c:ID}`` so the
script also runs on Redis Cluster. The prefix lets several bots (or a replay,
or a test) share one Redis without seeing each other's state.
"""

from __future__ import annotations

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

    def _customer(self, customer_id: int, name: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:{name}"

    def flood(self, customer_id: int) -> str:
        """Sorted set of message ids scored by time: the sliding flood window."""
        return self._customer(customer_id, "flood")

    def fingerprints(self, customer_id: int) -> str:
        """Sorted set of 'simhash-hi:simhash-lo:message' scored by time, for near-duplicates."""
        return self._customer(customer_id, "fp")

    def answered(self, customer_id: int) -> str:
        """Hash ticket id -> the last state_version the customer was answered for."""
        return self._customer(customer_id, "answered")

    def decided(self, customer_id: int) -> str:
        """Hash message id -> verdict, so a retried message gets the same answer."""
        return self._customer(customer_id, "decided")

    def throttle(self, customer_id: int) -> list[str]:
        return [self.flood(customer_id), self.fingerprints(customer_id),
                self.answered(customer_id), self.decided(customer_id)]

    @property
    def pattern(self) -> str:
        return f"{self.prefix}:*"
