"""Leases: a loop runs in one process at a time, and moves when its holder stops or dies.

On both backends' Redis (the embedded Valkey and the real Redis), with a short time to live
so take-overs happen within the test.
"""

from __future__ import annotations

import asyncio

from bot.app.runtime import Runtime
from bot.store.leases import Leases

TTL_S = 0.3


class Poller:
    """A loop that says when it runs and returns once told to stop."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished = asyncio.Event()

    async def __call__(self, stop: asyncio.Event) -> None:
        self.started.set()
        await stop.wait()
        self.finished.set()


async def test_one_holder_at_a_time_and_the_next_takes_over_when_it_stops(runtime: Runtime) -> None:
    leases = [Leases(runtime.redis, runtime.keys.prefix, ttl_s=TTL_S) for _ in range(2)]
    stops = [asyncio.Event(), asyncio.Event()]
    pollers = [Poller(), Poller()]
    first = asyncio.create_task(leases[0].run_exclusively("imap", stops[0], pollers[0]))
    await asyncio.wait_for(pollers[0].started.wait(), 5)
    second = asyncio.create_task(leases[1].run_exclusively("imap", stops[1], pollers[1]))
    # Several renewals pass: the second process keeps waiting.
    done, _ = await asyncio.wait(
        {asyncio.ensure_future(pollers[1].started.wait())}, timeout=TTL_S * 4
    )
    for waiting in _:
        waiting.cancel()
    assert not done
    stops[0].set()
    await asyncio.wait_for(first, 5)
    assert pollers[0].finished.is_set()
    await asyncio.wait_for(pollers[1].started.wait(), 5)  # released: taken at once
    stops[1].set()
    await asyncio.wait_for(second, 5)


async def test_a_dead_holders_lease_lapses_and_another_process_takes_it(runtime: Runtime) -> None:
    key = f"{runtime.keys.prefix}:lease:telegram-polling"
    await runtime.redis.set(key, "a process that died", px=int(TTL_S * 1000))
    stop, poller = asyncio.Event(), Poller()
    waiting = asyncio.create_task(
        Leases(runtime.redis, runtime.keys.prefix, ttl_s=TTL_S).run_exclusively(
            "telegram-polling", stop, poller
        )
    )
    await asyncio.wait_for(poller.started.wait(), 5)
    stop.set()
    await asyncio.wait_for(waiting, 5)
    assert await runtime.redis.get(key) is None  # released on the way out


async def test_a_holder_that_lost_its_lease_stops_its_loop(runtime: Runtime) -> None:
    key = f"{runtime.keys.prefix}:lease:imap"
    stop, poller = asyncio.Event(), Poller()
    holder = asyncio.create_task(
        Leases(runtime.redis, runtime.keys.prefix, ttl_s=TTL_S).run_exclusively(
            "imap", stop, poller
        )
    )
    await asyncio.wait_for(poller.started.wait(), 5)
    await runtime.redis.set(key, "someone else")  # e.g. it lapsed while this one hung
    await asyncio.wait_for(poller.finished.wait(), 5)
    assert await runtime.redis.get(key) == b"someone else"  # not released: not ours
    stop.set()
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
