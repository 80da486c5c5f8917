"""The console's heavy pages on PostgreSQL: the moderation queue with 100,000 held messages.

A fresh database is migrated and filled in SQL (generate_series: seconds, not minutes),
then each page's queries run as the console runs them, first page and a deep page by
keyset, with every filter. Printed: the median and worst of several runs per query, in
milliseconds, measured around the query (the server's time plus one loopback round
trip). Never asserted.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from aiohttp.test_utils import TestClient, TestServer

from bench.procs import REDIS_URL, forget_keys, temp_database
from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.ports import NoClassifier
from bot.staff.accounts import Accounts, Role
from bot.staff.moderation_queue import Filters, ModerationQueue
from bot.store.db import make_engine, migrate

HELD = 100_000
CUSTOMERS = 20_000
RUNS = 7
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# Each statement with its arguments ($1...): the sizes and the clock.
_FILL: list[tuple[str, tuple[object, ...]]] = [
    (
        """INSERT INTO customers (display_name, language, created_at)
        SELECT 'customer ' || g, 'it', now() FROM generate_series(1, $1::int) g""",
        (CUSTOMERS,),
    ),
    (
        """INSERT INTO identities (customer_id, channel, address, verified, created_at)
        SELECT id, (ARRAY['email','webchat','telegram','facebook'])[1 + id % 4],
               'sender' || id || '@example.it', id % 3 <> 0, now() FROM customers""",
        (),
    ),
    (
        """INSERT INTO messages (channel, external_id, sender, display_name, subject, text,
            thread_refs, attachments, raw, received_at, created_at, language, customer_id,
            identity_id, decision, reason, scores, processed_at, automated, sender_unproven)
        SELECT i.channel, 'held-' || g, i.address, '', '',
               'Siete degli idioti, il mio inverter numero ' || g || ' è rotto di nuovo',
               '[]', '[]', '{}', $1::timestamptz - (g || ' minutes')::interval,
               $1::timestamptz - (g || ' minutes')::interval,
               (ARRAY['it','en','de','nl'])[1 + g % 4], i.customer_id, i.id, 'flagged',
               'insult', '{"insult": 0.9}', now(), '', ''
        FROM generate_series(1, $2::int) g
        JOIN identities i ON i.id = 1 + g % $3::int""",
        (NOW, HELD, CUSTOMERS),
    ),
    (
        """INSERT INTO moderation_items (message_id, status, scores, labels, created_at, worst,
            label_keys)
        SELECT id, CASE WHEN id % 10 = 0 THEN 'confirmed' ELSE 'pending' END,
               json_build_object('insult', 0.5 + (id % 50) / 100.0)::jsonb,
               CASE WHEN id % 7 = 0 THEN '["threat"]'::jsonb ELSE '["insult"]'::jsonb END,
               created_at, 0.5 + (id % 50) / 100.0,
               CASE WHEN id % 7 = 0 THEN ',threat,' ELSE ',insult,' END
        FROM messages""",
        (),
    ),
    ("ANALYZE", ()),
]


async def _timed(call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    samples = []
    for _ in range(RUNS):
        begun = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - begun) * 1000)
    return statistics.median(samples), max(samples)


async def main() -> None:
    async with temp_database() as dsn:
        engine = make_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
        await migrate(engine)
        db = await asyncpg.connect(dsn)
        begun = time.perf_counter()
        for statement, args in _FILL:
            await db.execute(statement, *args)
        filled = time.perf_counter() - begun
        await db.close()
        await engine.dispose()
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"),
                redis_url=REDIS_URL,
                key_prefix=prefix,
            )
            try:
                await _measure(settings, filled)
            finally:
                await forget_keys(prefix)


async def _measure(settings: Settings, filled: float) -> None:
    async with open_runtime(
        settings, clock=VirtualClock(NOW), classifier=NoClassifier()
    ) as runtime:
        queue = ModerationQueue(runtime.sessions, runtime.stream, runtime.clock)
        deep = await queue.page(Filters(), limit=25)
        for _ in range(200):  # 5,000 items in: a deep keyset page
            deep = await queue.page(Filters(), cursor=deep.next_cursor, limit=25)
        worst = await queue.page(Filters(order="worst"), limit=25)
        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("queue, oldest first, page 1", lambda: queue.page(Filters())),
            ("queue, oldest first, page 201", lambda: queue.page(Filters(), deep.next_cursor)),
            ("queue, worst first, page 1", lambda: queue.page(Filters(order="worst"))),
            (
                "queue, worst first, page 2",
                lambda: queue.page(Filters(order="worst"), worst.next_cursor),
            ),
            ("queue, channel telegram", lambda: queue.page(Filters(channel="telegram"))),
            ("queue, label threat", lambda: queue.page(Filters(label="threat"))),
            ("queue, language nl", lambda: queue.page(Filters(language="nl"))),
            ("queue, waited over 7 days", lambda: queue.page(Filters(waited_hours=168))),
            ("pending count", queue.pending_count),
            ("an item's context", lambda: queue.context(5, 5)),
        ]
        print(f"console on PostgreSQL: {HELD:,} held messages (filled in {filled:.1f} s)")
        for name, call in cases:
            median, worst_ms = await _timed(call)
            print(f"  {name:34} median {median:7.1f} ms   worst {worst_ms:7.1f} ms")
        await _pages(runtime)


async def _pages(runtime: Runtime) -> None:
    """Whole pages over HTTP, signed in: the queries, the lexicon's explanations and the
    template together (aiohttp on loopback; the client's share is small)."""
    password = secrets.token_urlsafe(16)
    await Accounts(runtime.sessions, runtime.clock).add(
        "bench", Role.ADMIN, password=password, actor="bench"
    )
    async with TestClient(TestServer(make_app(runtime))) as client:
        form = await (await client.get("/console/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        await client.post(
            "/console/login", data={"name": "bench", "password": password, "csrf": token[1]}
        )
        for path in ("/console/moderation", "/console/moderation?order=worst"):

            async def get(path: str = path) -> None:
                response = await client.get(path)
                await response.read()
                assert response.status == 200, response.status

            median, worst_ms = await _timed(get)
            print(f"  page {path:29} median {median:7.1f} ms   worst {worst_ms:7.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
