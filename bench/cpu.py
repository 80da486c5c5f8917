"""CPU seconds by process, from /proc: where a phase's time went on this machine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on


def seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return total


def named(name: str) -> list[int]:
    """Every process whose command name is `name` (e.g. all PostgreSQL backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def children(pid: int) -> list[int]:
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and (f := _stat(int(p.name))) is not None and int(f[1]) == pid
    ]


Group = Callable[[], list[int]]


class Meter:
    """CPU seconds per group of processes between start() and stop().

    Groups are looked up again at stop(), so a backend that started meanwhile
    counts in full; one that exited meanwhile is lost.
    """

    def __init__(self, groups: Mapping[str, Group]) -> None:
        self.groups = dict(groups)
        self._before: dict[int, float] = {}
        self._machine = (0, 0)
        self.used: dict[str, float] = {}
        self.machine_busy = 0.0  # share of all cores busy (any process, kernel included)

    def start(self) -> None:
        self._before = {pid: seconds([pid]) for find in self.groups.values() for pid in find()}
        self._machine = _machine_ticks()

    def stop(self) -> None:
        self.used = {
            name: sum(seconds([pid]) - self._before.get(pid, 0.0) for pid in find())
            for name, find in self.groups.items()
        }
        busy, total = (b - a for a, b in zip(self._machine, _machine_ticks(), strict=True))
        self.machine_busy = busy / max(total, 1)


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return total - idle, total


def system_groups() -> dict[str, Group]:
    """PostgreSQL and Redis (whoever else uses them now) and this process, the client."""
    return {
        "postgres": lambda: named("postgres"),
        "redis": lambda: named("redis-server"),
        "bench client": lambda: [os.getpid()],
    }
