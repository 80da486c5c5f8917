"""The console dashboard's queries, and the agents' ticket list, over a million messages on
PostgreSQL.

A fresh database (created here, dropped afterwards) is migrated, then filled by a few
INSERT ... SELECT over generate_series: 1,000,000 messages spread over the last 14 days
on every channel and decision, 20,000 customers with one identity each, and 100,000
tickets. Then the dashboard is read as the console reads it, as it would be read after
autovacuum caught up (VACUUM ANALYZE), and each of its queries is timed alone; then the
same without the dashboard's index, to show what the index buys.

Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.procs import temp_database
from bot.contract.clock import VirtualClock
from bot.staff import dashboard_stats
from bot.staff.dashboard_stats import DashboardStats, day_edges, hour_edges
from bot.staff.ticket_list import Filters, TicketList
from bot.store.db import make_engine, migrate

MESSAGES, CUSTOMERS, TICKETS = 1_000_000, 20_000, 100_000
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Rome")
RUNS = 5
INDEX = "ix_messages_dashboard"

# Weights per decision (NULL: not decided yet), cumulative, for a random() in SQL.
_DECISIONS = "CASE WHEN r < .30 THEN 'answered' WHEN r < .62 THEN 'collapsed' " + (
    "WHEN r < .77 THEN 'throttled' WHEN r < .82 THEN 'flagged' WHEN r < .95 THEN "
    "'channel_closed' WHEN r < .96 THEN 'error' ELSE NULL END"
)
_CHANNELS = "(ARRAY['webform','webchat','email','facebook','instagram','telegram','whatsapp'])"

FILL = [
    """INSERT INTO customers (id, display_name, created_at)
       SELECT n, 'customer ' || n, :start FROM generate_series(1, :customers) AS n""",
    f"""INSERT INTO identities (id, customer_id, channel, address, verified, created_at)
       SELECT n, n, {_CHANNELS}[1 + n % 7], 'sender' || n || '@example.test', true, :start
       FROM generate_series(1, :customers) AS n""",  # noqa: S608  # this file's constants
    """INSERT INTO tickets (id, ref, customer_id, origin_identity_id, category, details, status,
           state_version, language, opened_at, updated_at, ack_due, progress_due, resolve_due,
           topic, at_risk_at, overdue_at)
       SELECT n, 'C-' || n, 1 + n % :customers, 1 + n % :customers, 'product', '{}',
           (ARRAY['new','awaiting_details','investigating','waiting_customer','escalated',
                  'resolved','rejected','closed','closed','closed'])[1 + n % 10],
           1, 'it', :start, :start, :start, :start, :start, 'n' || n,
           CASE WHEN n % 7 = 0 THEN CAST(:now AS timestamptz) END,
           CASE WHEN n % 21 = 0 THEN CAST(:now AS timestamptz) END
       FROM generate_series(1, :tickets) AS n""",
    f"""INSERT INTO messages (channel, external_id, sender, display_name, subject, text,
           thread_refs, attachments, raw, received_at, created_at, reason, scores, automated,
           sender_unproven, identity_id, customer_id, decision)
       SELECT {_CHANNELS}[1 + i % 7], 'm' || n, 'sender' || i || '@example.test', '', '',
           'bench message ' || n, '[]', '[]', '{{}}', at, at, '', '{{}}', '', '', i, i,
           {_DECISIONS}
       FROM (SELECT n, random() AS r, 1 + (n * 7919::bigint) % :customers AS i,
                    CAST(:now AS timestamptz) - random() * interval '14 days' AS at
             FROM generate_series(1, :messages) AS n) AS generated""",  # noqa: S608  # as above
]


async def fill(engine: AsyncEngine) -> float:
    begun = time.perf_counter()
    params = {
        "customers": CUSTOMERS,
        "tickets": TICKETS,
        "messages": MESSAGES,
        "start": NOW - timedelta(days=30),
        "now": NOW,
    }
    async with engine.begin() as connection:
        for statement in FILL:
            await connection.execute(text(statement), params)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - begun


async def timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(median, worst) milliseconds of RUNS runs, after one to warm the caches."""
    await run()
    times = []
    for _ in range(RUNS):
        begun = time.perf_counter()
        await run()
        times.append((time.perf_counter() - begun) * 1000)
    return statistics.median(times), max(times)


def parts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Each query of DashboardStats.read alone (its private helpers: this is a bench)."""
    hours, days = hour_edges(NOW, ZONE), day_edges(NOW, ZONE)

    def alone(query: Callable[[AsyncSession], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with sessions() as session:
                return await query(session)

        return run

    return {
        "hourly buckets (24 h)": alone(lambda s: dashboard_stats._timeline(s, hours)),
        "daily buckets (14 d)": alone(lambda s: dashboard_stats._timeline(s, days)),
        "open tickets by status": alone(dashboard_stats._open_tickets),
        "at risk / overdue": alone(dashboard_stats._clocks),
        "top flooding senders": alone(lambda s: dashboard_stats._flooders(s, hours)),
    }


def ticket_list(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[str, Callable[[], Awaitable[Any]]]:
    """The agents' list (/console/tickets) as the page reads it, filter by filter."""
    tickets = TicketList(sessions)

    async def deep() -> Any:
        page = await tickets.page(Filters())
        for _ in range(20):
            page = await tickets.page(Filters(), page.next_cursor)
        return page

    return {
        "tickets, page 1": lambda: tickets.page(Filters()),
        "tickets, page 21": deep,
        "tickets, status": lambda: tickets.page(Filters(status="escalated")),
        "tickets, channel": lambda: tickets.page(Filters(channel="whatsapp")),
        "tickets, overdue": lambda: tickets.page(Filters(clock="overdue")),
        "tickets, language": lambda: tickets.page(Filters(language="it")),
    }


async def measure(engine: AsyncEngine, label: str, *, agents: bool = False) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    stats = DashboardStats(sessions, VirtualClock(NOW), ZONE)
    print(f"\n{label}")
    runs = {**parts(sessions), "the whole page's read": stats.read}
    if agents:
        runs |= ticket_list(sessions)
    for name, run in runs.items():
        median, worst = await timed(run)
        print(f"  {name:24} {median:8.1f} ms median  {worst:8.1f} ms worst of {RUNS}")


async def main() -> None:
    async with temp_database() as dsn:
        engine = make_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            await migrate(engine)
            seconds = await fill(engine)
            print(f"dashboard on PostgreSQL: {MESSAGES:,} messages over 14 days, ", end="")
            print(f"{TICKETS:,} tickets, filled in {seconds:.1f} s")
            daily = await DashboardStats(async_sessionmaker(engine), VirtualClock(NOW), ZONE).read()
            print(f"  (the 14 daily buckets hold {daily.daily.total():,} messages)")
            await measure(engine, "as migrated", agents=True)
            async with engine.begin() as connection:
                found = await connection.scalar(text("SELECT to_regclass(:name)"), {"name": INDEX})
                if found is not None:
                    await connection.execute(text(f"DROP INDEX {INDEX}"))
            if found is not None:
                await measure(engine, f"without {INDEX}")
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
