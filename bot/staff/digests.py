"""Staff digests: moderators hear that held messages wait, agents that tickets are late.

Nobody watches a queue all day, and a held message nobody sees is a customer nobody answers.
The worker looks every `INTAKE_DIGEST_INTERVAL_S` (one process at a time, under a lease):
- held messages that waited `notify.moderation_after_minutes` get moderators and admins one
  digest, then at most one per `notify.moderation_every_minutes` while any still wait;
- once a local day, from `notify.sla_digest_hour` in `sla.timezone`, every active account
  gets the open tickets at risk or overdue; a day with none stays quiet.
A digest is mailed to each active account of those roles that has an email (through the
email adapter, when one is configured) and posted as {"text": ...} to
INTAKE_NOTIFY_WEBHOOK_URL (Slack's and Teams' incoming webhooks both read `text`). It may
land in a shared chat room, so it holds counts, labels, channels and ticket references:
never a customer's words or address.

When a digest went is kept in Redis and claimed in one atomic step, so two processes (or a
lease handed over in the middle of a pass) never both send one. The interval is measured on
the injected clock, which Redis's own expiry could not follow in the replay or the tests;
the expiry only clears old keys. A digest that reached nobody it was meant for gives its
claim back, so a passing outage costs one interval of the loop, not a whole one of digests.
The webhook's URL is its secret: the logs say only that a post went or failed, with the
HTTP status or the kind of error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import OPEN_STATUSES, Channel, OutboundReply
from bot.contract.keys import Keys
from bot.rules.policy import Policy, PolicyStore
from bot.staff.accounts import Accounts, Role
from bot.store.models import Message, ModerationItem, Ticket
from bot.tickets.links import Mailer

log = logging.getLogger(__name__)
_OPEN = [s.value for s in OPEN_STATUSES]
_PENDING = ModerationItem.status == "pending"
_LATE = or_(Ticket.overdue_at.is_not(None), Ticket.at_risk_at.is_not(None))
# Labels and channels are the system's own names; anything else is counted as "other", so
# nothing that could have come from a customer reaches a chat room.
_NAME = re.compile(r"[a-z0-9_]{1,40}")
_MAX_LISTED = 50  # tickets the SLA digest names; the rest are counted
_DAY_KEPT_MS = 2 * 86_400_000
_MS = timedelta(milliseconds=1)  # a day's claim outlives the day in every time zone

# KEYS[1]: when the last digest of its kind went, as "<ms>:<token>". ARGV: now (ms), the
# interval (ms), this claim's token, how long the key is kept (ms). 1: claimed, 0: too soon.
_CLAIM = """
local last = redis.call('get', KEYS[1])
if last then
  local at = tonumber(string.match(last, '^(%-?%d+):'))
  if at and tonumber(ARGV[1]) < at + tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('set', KEYS[1], ARGV[1] .. ':' .. ARGV[3], 'PX', ARGV[4])
return 1
"""
# Give a claim back only if it is still this one.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Delivery:
    """One digest as it went: its words, the addresses that took the mail, the webhook's
    answer (None: no webhook is set; False: it failed)."""

    subject: str
    text: str
    mailed: tuple[str, ...] = ()
    webhook: bool | None = None

    @property
    def reached(self) -> bool:
        return bool(self.mailed) or self.webhook is True


@dataclass(frozen=True)
class Sent:
    """What one pass sent (None: that digest was not due)."""

    moderation: Delivery | None = None
    sla: Delivery | None = None


@dataclass(frozen=True)
class _Waiting:
    count: int
    oldest: datetime
    labels: Counter[str]
    channels: Counter[str]


@dataclass(frozen=True)
class _Late:
    ref: str
    status: str
    resolve_due: datetime
    overdue_at: datetime | None


class Digests:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        keys: Keys,
        policy: PolicyStore,
        clock: Clock,
        mailer: Mailer,
        *,
        webhook_url: str = "",
        public_url: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._keys = keys
        self._policy = policy
        self._clock = clock
        self._mailer = mailer
        self._accounts = Accounts(sessions, clock)
        self._webhook = _usable(webhook_url)
        self._console = f"{public_url.rstrip('/')}/console" if public_url else ""
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self.state = "not running in this process"  # how its loop goes (/readyz)

    async def run_once(self) -> Sent:
        """Send what is due as of the clock's now."""
        now, policy = self._clock.now(), self._policy.current
        return Sent(
            moderation=await self._moderation(policy, now), sla=await self._sla(policy, now)
        )

    async def run(self, stop: asyncio.Event, interval_s: float = 60.0) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
                self.state = "running"
            except Exception as exc:
                self.state = f"failing ({type(exc).__name__}), retrying"
                log.exception("digests failed; trying again at the next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
        self.state = "stopped"

    # --- moderators --------------------------------------------------------------------------

    async def _moderation(self, policy: Policy, now: datetime) -> Delivery | None:
        notify, key = policy.notify, self._keys.digest("moderation")
        every = timedelta(minutes=notify.moderation_every_minutes)
        if await self._went_within(key, now, every):  # the usual case: no query at all
            return None
        waiting = await self._waiting()
        if waiting is None or waiting.oldest > now - timedelta(
            minutes=notify.moderation_after_minutes
        ):
            return None
        claim = await self._claim_interval(key, now, every)
        if claim is None:  # another process sent it a moment ago
            return None
        subject, text = _moderation_text(waiting, now, self._console)
        return await self._deliver("moderation", subject, text, Role.MODERATOR, key, claim)

    async def _went_within(self, key: str, now: datetime, every: timedelta) -> bool:
        raw = await self._redis.get(key)
        at = _millis_of(raw)
        return at is not None and _millis(now) < at + every // _MS

    async def _claim_interval(self, key: str, now: datetime, every: timedelta) -> str | None:
        at, token, every_ms = _millis(now), secrets.token_hex(8), every // _MS
        kept_ms = max(2 * every_ms, 86_400_000)  # past the interval, whatever it is set to
        claimed = await self._claim(keys=[key], args=[at, every_ms, token, kept_ms])
        return f"{at}:{token}" if claimed else None

    async def _waiting(self) -> _Waiting | None:
        """The pending queue in counts: how many, the oldest, per label and per channel."""
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(ModerationItem.created_at)).where(_PENDING)
                )
            ).one()
            if not count or oldest is None:
                return None
            by_labels = await session.execute(
                select(ModerationItem.label_keys, func.count())
                .where(_PENDING)
                .group_by(ModerationItem.label_keys)
            )
            by_channel = await session.execute(
                select(Message.channel, func.count())
                .select_from(ModerationItem)
                .join(Message, Message.id == ModerationItem.message_id)
                .where(_PENDING)
                .group_by(Message.channel)
            )
            labels, channels = Counter[str](), Counter[str]()
            for keys, n in by_labels:
                for label in filter(None, keys.split(",")):
                    labels[_shown(label)] += n
            for channel, n in by_channel:
                channels[_shown(channel)] += n
        return _Waiting(count, oldest, labels, channels)

    # --- agents ------------------------------------------------------------------------------

    async def _sla(self, policy: Policy, now: datetime) -> Delivery | None:
        """The day's look is the first pass at or after the hour; it claims the day, so a
        day with nothing late stays quiet rather than asking the database every minute."""
        zone = ZoneInfo(policy.sla.timezone)
        local = now.astimezone(zone)
        if local.hour < policy.notify.sla_digest_hour:
            return None
        key, claim = self._keys.digest(f"sla:{local.date().isoformat()}"), secrets.token_hex(8)
        if not await self._redis.set(key, claim, nx=True, px=_DAY_KEPT_MS):
            return None
        late, overdue, at_risk = await self._late()
        if not late:
            return None
        subject, text = _sla_text(late, overdue, at_risk, local, zone, self._console)
        return await self._deliver("sla", subject, text, Role.AGENT, key, claim)

    async def _late(self) -> tuple[list[_Late], int, int]:
        """Open tickets overdue (first) and at risk, by resolve date; and how many of each."""
        where = (Ticket.status.in_(_OPEN), _LATE)
        async with self._sessions() as session:
            total, overdue = (
                await session.execute(
                    select(func.count(), func.count(Ticket.overdue_at)).where(*where)
                )
            ).one()
            rows = await session.execute(
                select(Ticket.id, Ticket.ref, Ticket.status, Ticket.resolve_due, Ticket.overdue_at)
                .where(*where)
                .order_by(Ticket.overdue_at.is_(None), Ticket.resolve_due, Ticket.id)
                .limit(_MAX_LISTED)
            )
            late = [_Late(r.ref or f"#{r.id}", r.status, r.resolve_due, r.overdue_at) for r in rows]
        return late, overdue, total - overdue

    # --- delivery ----------------------------------------------------------------------------

    async def _deliver(
        self, kind: str, subject: str, text: str, least: Role, key: str, claim: str
    ) -> Delivery:
        addresses = await self._addresses(least)
        mailed = await self._mail(kind, subject, text, addresses)
        posted = await self._post(kind, text) if self._webhook else None
        delivery = Delivery(subject, text, mailed, posted)
        log.info(
            "%s digest: mailed to %d of %d staff, webhook %s",
            kind,
            len(mailed),
            len(addresses),
            {None: "not set", True: "posted", False: "failed"}[posted],
        )
        if not delivery.reached and (addresses or self._webhook):
            await self._release(keys=[key], args=[claim])  # try again at the next pass
        elif not delivery.reached:
            log.warning("%s digest: nobody to tell (no staff email, no webhook)", kind)
        return delivery

    async def _addresses(self, least: Role) -> list[str]:
        """Active accounts of `least`'s role or above that have an email, each address once."""
        listing = await self._accounts.listing()
        return list(
            dict.fromkeys(
                staff.email.strip().lower()
                for staff, active in listing
                if active and staff.email.strip() and staff.may(least)
            )
        )

    async def _mail(
        self, kind: str, subject: str, text: str, addresses: Sequence[str]
    ) -> tuple[str, ...]:
        if not addresses:
            return ()
        if not self._mailer.can_send(Channel.EMAIL):
            log.info("%s digest not mailed: email is not configured (INTAKE_SMTP_RELAY)", kind)
            return ()
        mailed: list[str] = []
        for to in addresses:
            reply = OutboundReply(
                outbox_id=0,
                channel=Channel.EMAIL,
                to=to,
                text=text,
                subject=subject,
                language="en",
                ticket_ref="",
            )
            try:
                result = await self._mailer.send_now(reply)
            except Exception:
                log.exception("%s digest not mailed to one of the staff", kind)
                continue
            if result.ok:
                mailed.append(to)
            else:
                log.warning("%s digest not mailed to one of the staff: %s", kind, result.error)
        return tuple(mailed)

    async def _post(self, kind: str, text: str) -> bool:
        """POST {"text": ...}; never logs the URL or an error's text (either may show it)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as http,
                http.post(self._webhook, json={"text": text}) as response,
            ):
                status = response.status
        except Exception as exc:  # any failure: the URL stays out of the log and traceback
            log.warning("%s digest not posted to the webhook: %s", kind, type(exc).__name__)
            return False
        if not 200 <= status < 300:
            log.warning("%s digest not posted to the webhook: HTTP %d", kind, status)
            return False
        log.info("%s digest posted to the webhook: HTTP %d", kind, status)
        return True


# --- the words ------------------------------------------------------------------------------


def _moderation_text(waiting: _Waiting, now: datetime, console: str) -> tuple[str, str]:
    n = waiting.count
    verb = "waits" if n == 1 else "wait"
    subject = f"{_plural(n, 'held message')} {verb} for a moderator"
    lines = [
        f"{subject}; the oldest has waited {_age(now - waiting.oldest)}.",
        f"By label: {_counts(waiting.labels)}",
        f"By channel: {_counts(waiting.channels)}",
    ]
    if console:
        lines.append(f"Review them: {console}/moderation")
    return subject, "\n".join(lines)


def _sla_text(
    late: list[_Late], overdue: int, at_risk: int, local: datetime, zone: ZoneInfo, console: str
) -> tuple[str, str]:
    subject = f"Tickets {local:%Y-%m-%d}: {overdue} overdue, {at_risk} at risk"
    lines = [f"{subject}."]
    for title, shown, count in (
        ("Overdue", [t for t in late if t.overdue_at is not None], overdue),
        ("At risk", [t for t in late if t.overdue_at is None], at_risk),
    ):
        if count:
            lines += ["", f"{title}:", *(_ticket_line(t, zone) for t in shown)]
        if count > len(shown):
            lines.append(f"- and {count - len(shown)} more")
    if console:
        lines += ["", f"Open them: {console}/tickets"]
    return subject, "\n".join(lines)


def _ticket_line(ticket: _Late, zone: ZoneInfo) -> str:
    due = ticket.resolve_due.astimezone(zone)
    line = f"- {ticket.ref} ({ticket.status}), resolve by {due:%Y-%m-%d}"
    if ticket.overdue_at is not None:
        line += f", overdue since {ticket.overdue_at.astimezone(zone):%Y-%m-%d}"
    return line


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counter.most_common()) or "none"


def _age(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 120:
        return _plural(minutes, "minute")
    if minutes < 48 * 60:
        return _plural(minutes // 60, "hour")
    return _plural(minutes // (24 * 60), "day")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _shown(name: str) -> str:
    return name if _NAME.fullmatch(name) else "other"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _millis_of(raw: bytes | str | None) -> int | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    stamp, _, _ = text.partition(":")
    try:
        return int(stamp)
    except ValueError:
        return None


def _usable(url: str) -> str:
    """The webhook URL if it can be posted to; the reason is logged, never the URL."""
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme if url else ""
    except ValueError:
        scheme = "?"
    if url and scheme not in {"http", "https"}:
        log.warning("INTAKE_NOTIFY_WEBHOOK_URL is not an http(s) URL: digests are not posted")
        return ""
    return url
