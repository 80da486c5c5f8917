"""The sweeper over many open tickets, on the embedded store: how long one pass takes
when every ticket's progress date has passed at once (the worst pass: one reply owed per
ticket), then when every resolve date has (one missed-target message each), then a pass
with nothing due (what the worker pays every INTAKE_SWEEP_INTERVAL_S).

Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app.config import Settings
from bot.app.runtime import open_runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, InboundMessage, OutboundReply
from bot.contract.ports import NoClassifier
from channels.capture import capture_senders

TICKETS = 2000
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TEXT = "Il mio inverter si spegne ogni mattina con errore E-2032, ordine n. {n}. Lo voglio nuovo."


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=None, redis_url=None)
        clock = VirtualClock(START)
        captured: dict[int, OutboundReply] = {}
        async with open_runtime(
            settings,
            clock=clock,
            classifier=NoClassifier(),
            senders=capture_senders(captured),
        ) as runtime:
            for n in range(TICKETS):
                await runtime.ingest.accept(
                    InboundMessage(
                        channel=Channel.EMAIL,
                        external_id=f"sweep-{n}",
                        sender=f"customer{n}@example.it",
                        text=TEXT.format(n=700000 + n),
                        received_at=clock.now(),
                    )
                )
            await runtime.worker.drain()
            rows = []
            for label, days in [("progress due", 25), ("resolve due", 50), ("nothing due", 50)]:
                clock.set(START + timedelta(days=days))
                begun = time.perf_counter()
                swept = await runtime.sweeper.sweep()
                elapsed = time.perf_counter() - begun
                rows.append((label, len(swept.owed), elapsed))
    print(f"sweeper, embedded store, {TICKETS} open tickets")
    for label, owed, elapsed in rows:
        print(f"  {label:12} {owed:5} replies owed  {elapsed * 1000:8.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
