"""Runtime policy: accepted channels and limits, stored in the database, cached per process.

Admins change it while the bot runs. A change is written with its audit entry,
then announced on Redis pub/sub; every process reloads on the announcement (and
every `refresh_s` in case one was missed), so a toggle is in force everywhere
within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, fields, replace
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import DEFAULT_ACCEPTED, Channel
from bot.contract.errors import IntakeError, UnknownChannel
from bot.contract.keys import Keys
from bot.contract.ports import Scores
from bot.contract.retry import backoff
from bot.rules.sla import SlaPolicy
from bot.store import audit
from bot.store.models import ChannelSetting, PolicySetting
from moderation.throttle import ThrottleLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """A label fires at or above its threshold; `general` covers labels without their own."""

    general: float = 0.8
    toxicity: float = 0.8
    severe_toxicity: float = 0.5
    obscene: float = 0.8
    threat: float = 0.6
    insult: float = 0.7
    identity_attack: float = 0.6

    def fired(self, scores: Scores) -> tuple[str, ...]:
        return tuple(
            label
            for label, value in scores.values.items()
            if value >= getattr(self, label, self.general)
        )


@dataclass(frozen=True)
class PrivacyPolicy:
    """How long personal data outlives a complaint: erased this many days after the
    customer's last ticket closed (0: kept until erasure is asked for)."""

    retention_days: int = 0


@dataclass(frozen=True)
class NotifyPolicy:
    """When staff are told that work waits (bot.staff.digests): moderators once held
    messages have waited `moderation_after_minutes`, at most once per
    `moderation_every_minutes` (a reminder, not an alarm per message); agents once a day at
    `sla_digest_hour`, local time in `sla.timezone` (the start of their working day)."""

    moderation_after_minutes: int = 30
    moderation_every_minutes: int = 60
    sla_digest_hour: int = 8

    def __post_init__(self) -> None:
        # Fail when the setting is made (the policy store names it), not in the worker later.
        if self.moderation_after_minutes < 1:
            raise ValueError("must be at least 1 minute")
        if self.moderation_every_minutes < 5:
            raise ValueError("must be at least 5 minutes: a digest reminds, it is no alarm")
        if not 0 <= self.sla_digest_hour <= 23:
            raise ValueError("must be an hour of the day, 0 to 23")


@dataclass(frozen=True)
class Policy:
    accepted: frozenset[Channel] = DEFAULT_ACCEPTED
    throttle: ThrottleLimits = field(default_factory=ThrottleLimits)
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    toxicity: Thresholds = field(default_factory=Thresholds)
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    notify: NotifyPolicy = field(default_factory=NotifyPolicy)

    def accepts(self, channel: Channel) -> bool:
        return channel in self.accepted


# Setting name -> (section, field). Section objects are frozen dataclasses.
_TUNABLE: dict[str, tuple[str, str]] = {
    **{f"throttle.{f.name}": ("throttle", f.name) for f in fields(ThrottleLimits)},
    **{f"sla.{f.name}": ("sla", f.name) for f in fields(SlaPolicy)},
    **{f"toxicity.{f.name}": ("toxicity", f.name) for f in fields(Thresholds)},
    **{f"privacy.{f.name}": ("privacy", f.name) for f in fields(PrivacyPolicy)},
    **{f"notify.{f.name}": ("notify", f.name) for f in fields(NotifyPolicy)},
}


def tunable_names() -> list[str]:
    return sorted(_TUNABLE)


def parse_channel(name: str) -> Channel:
    try:
        return Channel(name.strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise UnknownChannel(f"unknown channel {name!r}; known: {known}") from None


def _with_setting(policy: Policy, name: str, value: Any) -> Policy:
    if name not in _TUNABLE:
        raise IntakeError(f"unknown setting {name!r}; known: {', '.join(tunable_names())}")
    section_name, attr = _TUNABLE[name]
    section = getattr(policy, section_name)
    current = getattr(section, attr)
    try:
        typed = type(current)(value)
    except (TypeError, ValueError) as exc:
        raise IntakeError(f"{name} must be a {type(current).__name__}: {exc}") from exc
    if isinstance(typed, int | float) and not isinstance(typed, bool) and typed < 0:
        raise IntakeError(f"{name} must not be negative")
    try:  # a section checks its own values (a calendar that exists, a new date ahead)
        return replace(policy, **{section_name: replace(section, **{attr: typed})})
    except ValueError as exc:
        raise IntakeError(f"{name}: {exc}") from exc


async def load(session: AsyncSession, base: Policy | None = None) -> Policy:
    policy = base or Policy()
    accepted = set(policy.accepted)
    for row in await session.scalars(select(ChannelSetting)):
        channel = Channel(row.channel)
        (accepted.add if row.accepted else accepted.discard)(channel)
    policy = replace(policy, accepted=frozenset(accepted))
    for setting in await session.scalars(select(PolicySetting)):
        try:
            policy = _with_setting(policy, setting.key, setting.value)
        except IntakeError:
            log.warning("ignoring stored setting", extra={"key": setting.key})
    return policy


class PolicyStore:
    """Writes policy changes and keeps this process's cached copy fresh."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        keys: Keys,
        clock: Clock,
        base: Policy | None = None,
        refresh_s: float = 30.0,
    ) -> None:
        self._channel = keys.policy_channel
        self._sessions = sessions
        self._redis = redis
        self._clock = clock
        self._base = base or Policy()
        self._refresh_s = refresh_s
        self.current = self._base
        self.reloaded = asyncio.Event()
        self.subscribed = asyncio.Event()

    async def reload(self) -> Policy:
        async with self._sessions() as session:
            self.current = await load(session, self._base)
        self.reloaded.set()
        return self.current

    async def set_channel(self, name: str, accepted: bool, actor: str) -> Policy:
        channel = parse_channel(name)
        async with self._sessions.begin() as session:
            now = self._clock.now()
            row = await session.get(ChannelSetting, channel.value)
            if row is None:
                session.add(
                    ChannelSetting(
                        channel=channel.value, accepted=accepted, updated_at=now, updated_by=actor
                    )
                )
            else:
                row.accepted, row.updated_at, row.updated_by = accepted, now, actor
            audit.record(
                session,
                at=now,
                actor=actor,
                action="channel.set",
                target=channel.value,
                accepted=accepted,
            )
        return await self._announce()

    async def set_value(self, name: str, value: Any, actor: str) -> Policy:
        _with_setting(self.current, name, value)  # validate before writing
        async with self._sessions.begin() as session:
            now = self._clock.now()
            row = await session.get(PolicySetting, name)
            if row is None:
                session.add(PolicySetting(key=name, value=value, updated_at=now, updated_by=actor))
            else:
                row.value, row.updated_at, row.updated_by = value, now, actor
            audit.record(
                session, at=now, actor=actor, action="policy.set", target=name, value=value
            )
        return await self._announce()

    async def _announce(self) -> Policy:
        policy = await self.reload()
        await self._redis.publish(self._channel, "changed")
        return policy

    async def follow(self) -> None:
        """Reload on every announcement from any process; runs until cancelled.

        Redis going away ends the subscription, not the follower: it subscribes again
        with backoff and jitter, and reloads at once (an announcement sent meanwhile was
        missed); between announcements it reloads every `refresh_s` anyway."""
        failures = 0
        while True:
            try:
                await self._follow_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.subscribed.clear()
                log.warning("policy announcements lost (%s); subscribing again", type(exc).__name__)
                await asyncio.sleep(backoff(failures))

    async def _follow_once(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            await self._reload_quietly()  # whatever changed while nobody listened
            while True:
                message = await pubsub.get_message(timeout=self._refresh_s)
                await self._reload_quietly()
                if message is not None:
                    log.info("policy reloaded after announcement")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
        except Exception:
            log.exception("policy reload failed; keeping the last one")
