"""Time comes from an injected clock so the replay and the tests can run days in milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


# The same clock as a plain callable, for the channels: a Clock's bound `now` (the runtime
# hands them `runtime.clock.now`), `utc_now` when nothing is injected.
Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    def now(self) -> datetime:
        return utc_now()


class VirtualClock:
    """A clock the replay moves forward to each event's `at`; it never goes backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = max(self._now, moment)
