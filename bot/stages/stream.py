"""The Redis Stream that carries message ids from ingest to the workers.

The stream holds only pointers: the message itself is already durable in the
database before it is added, so the stream can be rebuilt from the inbox.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)
FIELD = b"m"


def lost_group(exc: BaseException) -> bool:
    """Redis answered that the stream or its group does not exist: it restarted without
    its data (or someone deleted the key)."""
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


@dataclass(frozen=True)
class Entry:
    entry_id: bytes
    message_id: int | None  # None: a poison entry, acked without processing


def _entries(raw: Any) -> list[Entry]:
    """Parse XREADGROUP/XAUTOCLAIM entries; deleted entries come back as None."""
    out = []
    for item in raw:
        if item is None:
            continue
        entry_id, fields = item
        value = (fields or {}).get(FIELD, b"")
        out.append(Entry(entry_id, int(value) if value.isdigit() else None))
    return out


class Stream:
    def __init__(self, redis: Redis, name: str, group: str) -> None:
        self.redis = redis
        self.name = name
        self.group = group

    async def ensure_group(self) -> bool:
        """Make the consumer group (and the stream) unless it exists; True if it was made."""
        try:
            await self.redis.xgroup_create(self.name, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def add(self, message_id: int) -> bytes:
        entry = await self.redis.xadd(self.name, {FIELD: str(message_id)})
        return entry if isinstance(entry, bytes) else str(entry).encode()

    async def add_many(self, message_ids: Sequence[int]) -> None:
        """One round trip for a whole ingest batch, in its order."""
        if not message_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.xadd(self.name, {FIELD: str(message_id)})
            await pipe.execute()

    async def read(self, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        reply = await self.redis.xreadgroup(
            self.group, consumer, {self.name: ">"}, count=count, block=block_ms
        )
        if not reply:
            return []
        return _entries(reply[0][1])  # type: ignore[index]

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries a dead worker read but never acknowledged."""
        reply = await self.redis.xautoclaim(
            self.name, self.group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        return _entries(reply[1])

    async def ack(self, entries: list[Entry]) -> None:
        if entries:
            await self.redis.xack(self.name, self.group, *[e.entry_id for e in entries])

    async def backlog(self) -> int | None:
        """Entries added but not yet read by any worker (None where the server cannot tell)."""
        for group in await self.redis.xinfo_groups(self.name):
            name = group.get("name")
            if name in (self.group, self.group.encode()):
                lag = group.get("lag")
                return None if lag is None else int(lag)
        return None

    async def forget_dead(self, me: str, idle_ms: int) -> list[str]:
        """Remove consumers idle that long with nothing pending: a worker that died and
        whose entries were taken over (XAUTOCLAIM moved them), so the group lists the living."""
        gone = []
        for consumer in await self.redis.xinfo_consumers(self.name, self.group):
            name = consumer.get("name")
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name != me and consumer.get("pending") == 0 and consumer.get("idle", 0) >= idle_ms:
                await self.redis.xgroup_delconsumer(self.name, self.group, name)
                gone.append(name)
        return gone

    async def pending_count(self) -> int:
        info = await self.redis.xpending(self.name, self.group)
        return int(info["pending"])
