"""Business-day clocks for the complaint SLA (acknowledge, progress, resolve).

Every number is configuration because companies differ (7/14/30 here, 3/5/10
elsewhere), and holidays count as non-business days because the customer is
promised working days, not calendar days.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

_END_OF_DAY = time(23, 59, 59)
_SATURDAY = 5


@dataclass(frozen=True)
class SlaPolicy:
    """One company's promise; frozen so it can key the caches below."""

    ack_days: int = 7
    progress_days: int = 14
    resolve_days: int = 30
    country: str = "IT"
    timezone: str = "Europe/Rome"
    subdivision: str = ""  # a region's own holidays (holidays' subdiv: "BY", "32", ...)
    # Staff see a ticket at risk this many business days before its resolve date.
    at_risk_days: int = 2
    # A missed resolve date moves this many business days on, and the customer is told.
    extension_days: int = 10
    # Calendar days after resolved/rejected during which an appeal reopens the same ticket.
    appeal_days: int = 30

    def __post_init__(self) -> None:
        # Fail when the configuration is loaded, not on the first complaint.
        days = (
            self.ack_days,
            self.progress_days,
            self.resolve_days,
            self.at_risk_days,
            self.extension_days,
            self.appeal_days,
        )
        if min(days) < 0:
            raise ValueError("SLA days must not be negative")
        if self.extension_days < 1:
            raise ValueError("sla.extension_days must be at least 1: a new date lies ahead")
        _check_timezone(self.timezone)
        if self.country:
            _holidays(self.country, self.subdivision, date.today().year)


@dataclass(frozen=True)
class Deadlines:
    ack_due: datetime
    progress_due: datetime
    resolve_due: datetime


def is_business_day(day: date, policy: SlaPolicy) -> bool:
    if day.weekday() >= _SATURDAY:
        return False
    return not policy.country or day not in _holidays(policy.country, policy.subdivision, day.year)


def add_business_days(start: datetime, days: int, policy: SlaPolicy) -> datetime:
    """End of the business day `days` business days after `start`'s local day.

    With days=0 the clock ends on `start`'s own day, or on the next business day
    when a complaint arrives on a weekend or holiday.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be an aware datetime")
    if days < 0:
        raise ValueError("days must not be negative")
    zone = ZoneInfo(policy.timezone)
    due_day = _nth_business_day(start.astimezone(zone).date(), days, policy)
    return datetime.combine(due_day, _END_OF_DAY, tzinfo=zone).astimezone(UTC)


def deadlines(received_at: datetime, policy: SlaPolicy) -> Deadlines:
    """The progress update is owed `progress_days` after the acknowledgment actually sent,
    and the bot acknowledges at once: so from receipt, like the resolve date."""
    return Deadlines(
        ack_due=add_business_days(received_at, policy.ack_days, policy),
        progress_due=add_business_days(received_at, policy.progress_days, policy),
        resolve_due=add_business_days(received_at, policy.resolve_days, policy),
    )


def end_of_day(day: date, policy: SlaPolicy) -> datetime:
    """A date staff name (a new resolve date) as the end of that day where the company is."""
    return datetime.combine(day, _END_OF_DAY, tzinfo=ZoneInfo(policy.timezone)).astimezone(UTC)


@functools.lru_cache(maxsize=8192)
def _nth_business_day(start: date, days: int, policy: SlaPolicy) -> date:
    # Memoized on the local day: the worker asks the same question for every
    # message received that day, so the walk below runs once per day and policy.
    day = start
    while not is_business_day(day, policy):
        day += timedelta(days=1)
    for _ in range(days):
        day += timedelta(days=1)
        while not is_business_day(day, policy):
            day += timedelta(days=1)
    return day


@functools.lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    # A frozenset per (country, subdivision, year) is far cheaper to probe than a
    # HolidayBase, which expands years lazily on lookup.
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError as exc:
        where = f"{country!r}" + (f" subdivision {subdivision!r}" if subdivision else "")
        raise ValueError(f"no holiday calendar for country {where}") from exc
    return frozenset(calendar)


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
