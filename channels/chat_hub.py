"""The live feed of the site chat: each web process's open panels, fed across processes.

Every new entry and state change of a session is published on one Redis channel; each
web process forwards it to its own panels of that session (a socket's writer queue, a
waiting poll). What a panel misses while away is in the history on its next hello.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import weakref
from typing import Any

from aiohttp import WSCloseCode, web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.contract.retry import backoff
from channels.chat_sessions import SessionStore

log = logging.getLogger(__name__)
Frame = dict[str, Any]


class Hub:
    """This process's open panels per session, fed locally and from the other processes."""

    MAX_QUEUED = 500

    def __init__(self, redis: Redis, store: SessionStore) -> None:
        self.origin = secrets.token_hex(8)
        self._redis, self._store = redis, store
        self._listeners: dict[str, set[asyncio.Queue[Frame]]] = {}
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        # Every open socket's writer queue, with a session or not (a closed chat's panel).
        self.panels: set[asyncio.Queue[Frame]] = set()
        self.ready = asyncio.Event()
        self.state = "not started"  # how its live feed goes (/readyz)
        self._failures = 0  # in a row, for the backoff

    def listen(self, sid: str, queue: asyncio.Queue[Frame]) -> None:
        self._listeners.setdefault(sid, set()).add(queue)

    def unlisten(self, sid: str, queue: asyncio.Queue[Frame]) -> None:
        queues = self._listeners.get(sid)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._listeners[sid]

    def dispatch(self, sid: str, frame: Frame) -> None:
        for queue in self._listeners.get(sid, ()):
            if queue.qsize() < self.MAX_QUEUED:  # a stalled panel resyncs from the history
                queue.put_nowait(frame)

    def broadcast(self, frame: Frame) -> None:
        """To every panel of this process: sockets, and polls waiting for news."""
        queues = set(self.panels).union(*self._listeners.values())
        for queue in queues:
            if queue.qsize() < self.MAX_QUEUED:
                queue.put_nowait(frame)

    async def publish(self, sid: str, frame: Frame) -> None:
        self.dispatch(sid, frame)
        await self._store.publish(sid, self.origin, frame)

    async def run(self, stop: asyncio.Event) -> None:
        """Forward other processes' frames until `stop`; then close the open sockets.

        A lost Redis connection is retried with backoff: meanwhile panels still get what
        this process sends, and what they missed is in the history on their next hello.
        """
        try:
            while not stop.is_set():
                try:
                    await self._follow(stop)
                except (RedisError, OSError) as exc:
                    self._failures += 1
                    self.state = f"reconnecting ({type(exc).__name__})"
                    log.warning("chat live feed lost; resubscribing", exc_info=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff(self._failures))
        finally:
            self.state = "stopped"
            await self.close_all()

    async def _follow(self, stop: asyncio.Event) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._store.keys.live)
            self.ready.set()
            self.state, self._failures = "subscribed", 0
            while not stop.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is not None:
                    self._forward(message["data"])
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _forward(self, data: bytes) -> None:
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if isinstance(payload, dict) and payload.get("origin") != self.origin:
            self.dispatch(str(payload.get("sid")), payload.get("frame") or {})

    async def close_all(self) -> None:
        """For the app's shutdown: open sockets would otherwise hold it up."""
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
