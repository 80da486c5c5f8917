"""One limiter for every per-address, per-session and per-target limit: count, then decide.

A check followed by a separate count lets 80 parallel requests all pass a limit
of 10: each reads the count before any of them adds to it. Here one atomic Lua
call adds the hit and reads the total, so the 11th request of a window is refused
however many arrive at once. Windows are fixed (a key per window, expiring with
it): cheap, and a visitor refused is told when the window ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from bot.contract.keys import Keys

_HIT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
"""


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    count: int  # hits in this window, this one included
    retry_after_s: int  # until the window ends (what a refused visitor is told)


class Limiter:
    """At most `limit` hits per subject in each window of `window_s` seconds.

    `name` keeps limits apart (``form-ip``, ``status-target``, ...); the subject is an
    address, a session id or a looked-up target, hashed into the key by `Keys.limit`.
    """

    def __init__(self, redis: Redis, keys: Keys, name: str, limit: int, window_s: int) -> None:
        self.name, self.limit, self.window_s = name, limit, window_s
        self._redis, self._keys = redis, keys
        self._hit = redis.register_script(_HIT)

    def _window(self, now: datetime) -> tuple[int, int]:
        start = math.floor(now.timestamp()) // self.window_s
        retry = (start + 1) * self.window_s - now.timestamp()
        return start, max(1, math.ceil(retry))

    async def hit(self, subject: str, now: datetime, cost: int = 1) -> Allowance:
        """Count this hit, then say whether it is within the limit."""
        window, retry = self._window(now)
        key = self._keys.limit(self.name, subject, window)
        count = int(await self._hit(keys=[key], args=[cost, self.window_s * 2000]))
        return Allowance(count <= self.limit, count, retry)

    async def peek(self, subject: str, now: datetime) -> Allowance:
        """The window's count without adding to it (a page saying when to come back)."""
        window, retry = self._window(now)
        count = int(await self._redis.get(self._keys.limit(self.name, subject, window)) or 0)
        return Allowance(count < self.limit, count, retry)
