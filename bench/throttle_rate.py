"""Throttle.decide against the real Redis, beside a bare EVALSHA from the same client.

Two more rows say where the time goes: throttle.lua alone (EVALSHA with its
arguments prepared beforehand) and the SimHash that decide computes in Python;
Redis's own time per call comes from INFO commandstats (other clients of the
same server during the run would blur it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from redis.asyncio import Redis

from bot.contract.keys import Keys
from moderation.fingerprint import simhash
from moderation.throttle import Throttle, ThrottleLimits

CUSTOMERS = 2000  # ~10 calls each in 20,000: windows fill, some are throttled or collapsed


@dataclass(frozen=True)
class Rate:
    name: str
    calls: int
    seconds: float
    server_us: float | None = None  # Redis's own time per EVALSHA (INFO commandstats)

    @property
    def per_s(self) -> float:
        return self.calls / max(self.seconds, 1e-9)


async def _evalsha_stats(redis: Redis) -> tuple[int, int]:
    stats = (await redis.info("commandstats")).get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


async def _rate(
    redis: Redis,
    name: str,
    call: Callable[[int], Awaitable[object]],
    *,
    count: int,
    concurrency: int,
    max_s: float,
) -> Rate:
    numbers = iter(range(count))
    deadline = time.monotonic() + max_s
    done = 0

    async def worker() -> None:
        nonlocal done
        for i in numbers:
            if time.monotonic() > deadline:
                return
            await call(i)
            done += 1

    calls_before, usec_before = await _evalsha_stats(redis)
    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begun
    calls_after, usec_after = await _evalsha_stats(redis)
    server_us = (usec_after - usec_before) / max(calls_after - calls_before, 1)
    return Rate(name, done, elapsed, server_us)


def _simhash_rate(texts: Sequence[str], max_s: float) -> Rate:
    calls, begun = 0, time.perf_counter()
    while time.perf_counter() - begun < max_s:
        for text in texts:
            simhash(text)
        calls += len(texts)
    return Rate("SimHash alone (Python, in-process)", calls, time.perf_counter() - begun)


async def measure(
    redis: Redis, prefix: str, texts: Sequence[str], *, count: int, concurrency: int, max_s: float
) -> list[Rate]:
    limits = ThrottleLimits()
    now = datetime.now(UTC)
    bare = redis.register_script("return 1")
    lua = redis.register_script(
        resources.files("moderation").joinpath("throttle.lua").read_text(encoding="utf-8")
    )
    lua_keys = Keys(f"{prefix}.lua")
    prints = [simhash(t) or 0 for t in texts]
    throttle = Throttle(redis, Keys(f"{prefix}.py"))

    async def call_bare(_i: int) -> object:
        return await bare(keys=[], args=[])

    async def call_lua(i: int) -> object:
        fp = prints[i % len(texts)]
        return await lua(
            keys=lua_keys.throttle(i % CUSTOMERS),
            args=[
                str(i),
                int(now.timestamp() * 1000),
                int(limits.window_s * 1000),
                limits.flood_limit,
                str(i % CUSTOMERS),
                1,
                str(fp >> 32),
                str(fp & 0xFFFFFFFF),
                limits.near_duplicate_bits,
                int(limits.answered_ttl_s * 1000),
                limits.max_fingerprints,
            ],
        )

    async def call_decide(i: int) -> object:
        return await throttle.decide(
            customer_id=i % CUSTOMERS,
            message_id=str(i),
            ticket_id=i % CUSTOMERS,
            state_version=1,
            text=texts[i % len(texts)],
            now=datetime.now(UTC),
            limits=limits,
        )

    await bare(keys=[], args=[])  # load the scripts once, outside the clock
    rates = [
        await _rate(redis, name, call, count=count, concurrency=concurrency, max_s=max_s)
        for name, call in (
            ("bare EVALSHA 'return 1'", call_bare),
            ("throttle.lua EVALSHA (args prepared)", call_lua),
            ("Throttle.decide (SimHash + EVALSHA)", call_decide),
        )
    ]
    return [*rates, _simhash_rate(texts, min(max_s, 2.0))]
