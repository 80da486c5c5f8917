"""One holder at a time, across every process of a deployment: for loops that must not run
twice (an IMAP poller, Telegram's getUpdates, which refuses a second poller).

A lease is a Redis key with this process's token and a time to live, renewed while the
loop runs. A holder that stops releases it; one that dies lets it lapse, and a waiting
process takes over within the time to live. A holder that cannot renew (Redis gone, the
key taken) stops its loop rather than run beside another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from redis.asyncio import Redis

from bot.contract.keys import Keys
from bot.contract.ports import Loop

log = logging.getLogger(__name__)

# Renew or release only a lease that is still ours.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Leases:
    def __init__(self, redis: Redis, prefix: str, ttl_s: float = 15.0) -> None:
        self._redis = redis
        self._keys = Keys(prefix)
        self._ttl_ms = int(ttl_s * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def run_exclusively(self, name: str, stop: asyncio.Event, loop: Loop) -> None:
        key = self._keys.lease(name)
        token = secrets.token_hex(16)
        while not stop.is_set():
            if await self._redis.set(key, token, nx=True, px=self._ttl_ms):
                log.info("lease %s taken: running it here", name)
                await self._hold(key, token, stop, loop)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._ttl_ms / 3000)

    async def _hold(self, key: str, token: str, stop: asyncio.Event, loop: Loop) -> None:
        inner = asyncio.Event()
        running = asyncio.create_task(loop(inner))
        stopping = asyncio.create_task(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {running, stopping},
                    timeout=self._ttl_ms / 3000,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if done:
                    break
                if not await self._still_ours(key, token):
                    log.warning("lease %s lost: stopping its loop here", key)
                    break
        finally:
            stopping.cancel()
            inner.set()
            with contextlib.suppress(Exception):
                await running
            with contextlib.suppress(Exception):
                await self._release(keys=[key], args=[token])

    async def _still_ours(self, key: str, token: str) -> bool:
        try:
            return bool(await self._renew(keys=[key], args=[token, self._ttl_ms]))
        except Exception:  # Redis unreachable: another process may take over; step aside
            log.exception("lease %s could not be renewed", key)
            return False
