"""Every Redis key name, built in one place.

Keys one Lua call touches share the customer's hash tag ``{c:ID}`` so the
script also runs on Redis Cluster. A customer who claims to be another keeps its
throttle state under that one's tag (``{c:CLAIMED}:claim:ID:...``), so one call
reads both windows. The prefix lets several bots (or a replay, or a test) share
one Redis without seeing each other's state. The channel families keep theirs under
``<prefix>:<family>:`` (`Keys.webform`, `Keys.webchat`, `Keys.telegram`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class FormKeys:
    """The web contact form's (channels.webform): what each submission's confirmation shows."""

    prefix: str

    def submission(self, sid: str) -> str:
        return f"{self.prefix}:webform:submission:{sid}"

    def reply(self, sid: str) -> str:
        return f"{self.prefix}:webform:reply:{sid}"

    def polls(self, sid: str) -> str:
        return f"{self.prefix}:webform:polls:{sid}"


@dataclass(frozen=True)
class ChatKeys:
    """The site chat's (channels.chat_sessions): each session's keys, and its live feed."""

    prefix: str

    @property
    def _base(self) -> str:
        return f"{self.prefix}:webchat"

    def session(self, sid: str) -> str:
        return f"{self._base}:s:{sid}"

    def history(self, sid: str) -> str:
        return f"{self._base}:h:{sid}"

    def states(self, sid: str) -> str:
        return f"{self._base}:st:{sid}"

    def client_ids(self, sid: str) -> str:
        return f"{self._base}:cid:{sid}"

    def history_bytes(self, sid: str) -> str:
        return f"{self._base}:hb:{sid}"

    @property
    def live(self) -> str:
        return f"{self._base}:live"


@dataclass(frozen=True)
class TelegramKeys:
    """Telegram's (channels.telegram.Recall): what a retry must not do again."""

    prefix: str

    def done(self, key: str) -> str:
        """Set once a re-deliverable thing (a command's answer) was done."""
        return f"{self.prefix}:telegram:done:{key}"

    def parts_sent(self, outbox_id: int) -> str:
        """How many parts of a split reply went out before it failed."""
        return f"{self.prefix}:telegram:parts:{outbox_id}"


@dataclass(frozen=True)
class Keys:
    prefix: str = "intake"

    @property
    def webform(self) -> FormKeys:
        return FormKeys(self.prefix)

    @property
    def webchat(self) -> ChatKeys:
        return ChatKeys(self.prefix)

    @property
    def telegram(self) -> TelegramKeys:
        return TelegramKeys(self.prefix)

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
        own = [
            self.flood(customer_id, claims),
            self.fingerprints(customer_id, claims),
            self.answered(customer_id, claims),
            self.decided(customer_id, claims),
        ]
        if claims is None:
            return [*own, own[0], own[1]]
        return [*own, self.flood(claims), self.fingerprints(claims)]

    def one_time_link(self, kind: str, token_digest: str) -> str:
        """A mailed one-time link (bot.tickets.links): what it is for, under its token's hash."""
        return f"{self.prefix}:link:{kind}:{token_digest}"

    def staff_session(self, session_digest: str) -> str:
        """A console sign-in (bot.app.web.staff_auth), under its id's hash, until it expires."""
        return f"{self.prefix}:staff-session:{session_digest}"

    def moderation_open(self, message_id: int) -> str:
        """Which moderator has a held message open in the console (expires unless renewed)."""
        return f"{self.prefix}:moderation-open:{message_id}"

    def digest(self, kind: str) -> str:
        """When a staff digest last went (bot.staff.digests): `moderation`, or `sla:<day>`."""
        return f"{self.prefix}:digest:{kind}"

    def lease(self, name: str) -> str:
        """Who runs a loop that must run in one process at a time (bot.store.leases)."""
        return f"{self.prefix}:lease:{name}"

    def limit(self, name: str, subject: str, window: int) -> str:
        """A limiter's counter for one subject and window (bot.contract.limits). The subject is
        hashed: an address or a looked-up email never appears in a key name."""
        digest = hashlib.blake2b(
            subject.encode("utf-8", "surrogatepass"), digest_size=12
        ).hexdigest()
        return f"{self.prefix}:limit:{name}:{digest}:{window}"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}:*"
