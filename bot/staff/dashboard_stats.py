"""The dashboard's figures, as of the clock's now: what came in, and what the bot did with it.

Messages are counted per time bucket by the database, not in Python: fourteen days may
hold a million rows, and the answer is at most buckets x channels x decisions rows. A
message's bucket is the last edge at or before its received_at, found by a CASE of plain
comparisons with bound edges: SQLite and PostgreSQL read it alike (no date functions of
either), and the edges can be whole hours and midnights of the company's time zone, so a
day of 23 or 25 hours is still one bar. The index ix_messages_dashboard holds every column
these queries read, so a window is read from it alone; fourteen days are most of the table
all the same, about a third of a second per million messages (bench/dashboard_rate.py).

The 24-hour figures (flagged rate, flooding senders) cover exactly the hourly chart's
window, and the 14-day ones the daily chart's, so the numbers beside a chart add up to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.domain import OPEN_STATUSES, Channel, Decision, TicketStatus
from bot.store.models import Identity, Message, Ticket

HOURS = 24
DAYS = 14
TOP_FLOODERS = 10
UNDECIDED = "undecided"  # stored, not decided yet (the worker is behind, or it failed)
DECISIONS = (*(d.value for d in Decision if d is not Decision.DUPLICATE), UNDECIDED)
CHANNELS = tuple(c.value for c in Channel)
OPEN = tuple(s.value for s in TicketStatus if s in OPEN_STATUSES)
FLOODING = (Decision.THROTTLED.value, Decision.COLLAPSED.value)


@dataclass(frozen=True)
class Timeline:
    """Messages per bucket; bucket i holds those received in [edges[i], edges[i + 1])."""

    edges: tuple[datetime, ...]
    counts: dict[tuple[int, str, str], int]  # (bucket, channel, decision) -> messages

    @property
    def starts(self) -> tuple[datetime, ...]:
        return self.edges[:-1]

    def per_channel(self) -> dict[str, list[int]]:
        return self._per(1, CHANNELS)

    def per_decision(self) -> dict[str, list[int]]:
        return self._per(2, DECISIONS)

    def total(self, decision: str | None = None) -> int:
        return sum(n for key, n in self.counts.items() if decision in (None, key[2]))

    def flagged_rate(self) -> float | None:
        """Flagged among the decided; None while nothing is decided."""
        decided = self.total() - self.total(UNDECIDED)
        return self.total(Decision.FLAGGED) / decided if decided else None

    def _per(self, part: Literal[1, 2], known: Sequence[str]) -> dict[str, list[int]]:
        """Every known name in a fixed order (stable colours), then any other that occurs."""
        others = sorted({key[part] for key in self.counts} - set(known))
        table = {name: [0] * len(self.starts) for name in (*known, *others)}
        for key, n in self.counts.items():
            table[key[part]][key[0]] += n
        return table


@dataclass(frozen=True)
class Flooder:
    """A sender whose messages the throttle caught: too many, or nothing new."""

    channel: str
    address: str
    throttled: int
    collapsed: int

    @property
    def total(self) -> int:
        return self.throttled + self.collapsed


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    any_messages: bool  # ever, not only in the windows: an empty database reads differently
    hourly: Timeline
    daily: Timeline
    open_tickets: dict[str, int]  # every open status, in lifecycle order
    at_risk: int  # open tickets whose resolve date came near (overdue ones were at risk too)
    overdue: int  # open tickets whose resolve date passed
    flooders: list[Flooder]


def hour_edges(now: datetime, zone: tzinfo, hours: int = HOURS) -> tuple[datetime, ...]:
    """The last `hours` whole hours of the zone's clock, the current (still filling) last."""
    current = now.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return tuple(current + timedelta(hours=k) for k in range(1 - hours, 2))


def day_edges(now: datetime, zone: tzinfo, days: int = DAYS) -> tuple[datetime, ...]:
    """The zone's midnights bounding the last `days` days, today (still filling) last."""
    today = now.astimezone(zone).date()
    return tuple(
        datetime.combine(today + timedelta(days=k), time(), tzinfo=zone).astimezone(UTC)
        for k in range(1 - days, 2)
    )


def _bucket(edges: Sequence[datetime]) -> ColumnElement[Any]:
    """The index of the last edge at or before received_at (rows outside are filtered)."""
    later_first = [(Message.received_at >= edges[i], i) for i in range(len(edges) - 2, 0, -1)]
    return case(*later_first, else_=0) if later_first else literal(0)


def _within(edges: Sequence[datetime]) -> tuple[ColumnElement[bool], ...]:
    return Message.received_at >= edges[0], Message.received_at < edges[-1]


class DashboardStats:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, zone: tzinfo
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._zone = zone

    async def read(self) -> Dashboard:
        now = self._clock.now()
        hours, days = hour_edges(now, self._zone), day_edges(now, self._zone)
        async with self._sessions() as session:
            any_messages = await session.scalar(select(Message.id).limit(1)) is not None
            hourly = await _timeline(session, hours)
            daily = await _timeline(session, days)
            open_tickets = await _open_tickets(session)
            at_risk, overdue = await _clocks(session)
            flooders = await _flooders(session, hours)
        return Dashboard(now, any_messages, hourly, daily, open_tickets, at_risk, overdue, flooders)


async def _timeline(session: AsyncSession, edges: tuple[datetime, ...]) -> Timeline:
    # Grouped outside a subquery: PostgreSQL would not match a GROUP BY CASE whose edges
    # are bound a second time to the SELECT's, as different parameters.
    inner = (
        select(
            _bucket(edges).label("bucket"),
            Message.channel,
            func.coalesce(Message.decision, UNDECIDED).label("decision"),
        )
        .where(*_within(edges))
        .subquery()
    )
    rows = await session.execute(
        select(inner.c.bucket, inner.c.channel, inner.c.decision, func.count()).group_by(
            inner.c.bucket, inner.c.channel, inner.c.decision
        )
    )
    return Timeline(edges, {(int(b), str(c), str(d)): int(n) for b, c, d, n in rows})


async def _open_tickets(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Ticket.status, func.count()).where(Ticket.status.in_(OPEN)).group_by(Ticket.status)
    )
    found = {str(status): int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in OPEN}


async def _clocks(session: AsyncSession) -> tuple[int, int]:
    """(at risk, overdue) among open tickets: COUNT of a column counts where it is set."""
    row = (
        await session.execute(
            select(func.count(Ticket.at_risk_at), func.count(Ticket.overdue_at)).where(
                Ticket.status.in_(OPEN)
            )
        )
    ).one()
    return int(row[0]), int(row[1])


def _count_of(decision: str) -> ColumnElement[Any]:
    return func.sum(case((Message.decision == decision, 1), else_=0))


async def _flooders(session: AsyncSession, edges: tuple[datetime, ...]) -> list[Flooder]:
    caught = (
        select(
            Message.identity_id,
            _count_of(Decision.THROTTLED).label("throttled"),
            _count_of(Decision.COLLAPSED).label("collapsed"),
            func.count().label("total"),
        )
        .where(*_within(edges), Message.decision.in_(FLOODING), Message.identity_id.is_not(None))
        .group_by(Message.identity_id)
        .order_by(func.count().desc(), Message.identity_id)
        .limit(TOP_FLOODERS)
        .subquery()
    )
    rows = await session.execute(
        select(Identity.channel, Identity.address, caught.c.throttled, caught.c.collapsed)
        .join(caught, caught.c.identity_id == Identity.id)
        .order_by(caught.c.total.desc(), Identity.id)
    )
    return [Flooder(str(c), str(a), int(t), int(k)) for c, a, t, k in rows]
