"""The README's console screenshots, made again: `.venv/bin/python -m bench.screenshots`.

A throwaway embedded bot (SQLite + Valkey in a temp dir) gets a few days of complaints
(some abusive, some flooding) through the real ingest and worker, an admin signs in in
headless Chromium (Debian's, as the tests use), and the queue, the channels page, a
ticket and the dashboard are saved under docs/.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from playwright.async_api import async_playwright

from bot.app import channel_setup
from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, InboundMessage, OutboundReply, TicketStatus
from bot.staff.accounts import Accounts, Role
from channels.capture import capture_senders

DOCS = Path(__file__).resolve().parent.parent / "docs"
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
COMPLAINTS = [
    (
        Channel.EMAIL,
        "mario.rossi@example.it",
        "Il mio inverter Fronius si spegne ogni mattina, ordine 55120.",
    ),
    (
        Channel.WEBCHAT,
        "chat-4f1a",
        "My heat pump HP-12 leaks water since installation, order 99001.",
    ),
    (Channel.TELEGRAM, "88112233", "Die Wallbox lädt nicht mehr, Bestellung 77310."),
    (
        Channel.EMAIL,
        "anna.bianchi@example.it",
        "Siete degli idioti incompetenti, rimborsatemi subito!",
    ),
    (
        Channel.FACEBOOK,
        "7012345678901234",
        "You are idiots, my panels stopped working again. Order 44120.",
    ),
    (
        Channel.EMAIL,
        "jan.devries@example.nl",
        "Mijn omvormer geeft foutcode E-2032, bestelling 66210.",
    ),
]


async def _seed(runtime: Runtime, clock: VirtualClock) -> str:
    ref = ""
    for day in range(3):
        for n, (channel, sender, text) in enumerate(COMPLAINTS):
            clock.set(START + timedelta(days=day, hours=n))
            await runtime.ingest.accept(
                InboundMessage(
                    channel=channel,
                    external_id=f"shot-{day}-{n}",
                    sender=sender if day == 0 else f"{day}{sender}",
                    text=text,
                    received_at=clock.now(),
                )
            )
            for outcome in await runtime.worker.drain():
                ref = ref or (outcome.ticket_ref or "")
        for burst in range(8):  # one customer writes the same again and again
            await runtime.ingest.accept(
                InboundMessage(
                    channel=Channel.WEBCHAT,
                    external_id=f"flood-{day}-{burst}",
                    sender="chat-flood",
                    text="Allora? Nessuno risponde? Il mio inverter è ancora spento!",
                    received_at=clock.now(),
                )
            )
        await runtime.worker.drain()
    await runtime.desk.change_status(
        ref, TicketStatus.INVESTIGATING, note="Un tecnico è stato assegnato.", actor="ana"
    )
    return ref


async def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clock = VirtualClock(START)
        captured: dict[int, OutboundReply] = {}
        settings = Settings(data_dir=Path(tmp), database_url=None, redis_url=None, smtp_listen="")
        senders = capture_senders(captured)
        async with open_runtime(settings, clock=clock, senders=senders) as runtime:
            ref = await _seed(runtime, clock)
            password = secrets.token_urlsafe(16)
            await Accounts(runtime.sessions, runtime.clock).add(
                "anna", Role.ADMIN, password=password, actor="docs"
            )
            runner = web.AppRunner(make_app(runtime, plugs=channel_setup.plugs(runtime)))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            url = f"http://{host}:{port}"
            try:
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
                    )
                    page = await browser.new_page(viewport={"width": 1200, "height": 900})
                    await page.goto(f"{url}/console/login")
                    await page.get_by_label("User name").fill("anna")
                    await page.get_by_label("Password").fill(password)
                    await page.get_by_role("button", name="Sign in").click()
                    for name, path in [
                        ("console-moderation", "/console/moderation"),
                        ("console-channels", "/console/channels"),
                        ("console-ticket", f"/console/tickets/{ref}"),
                        ("console-dashboard", "/console"),
                    ]:
                        await page.goto(url + path)
                        await page.screenshot(path=DOCS / f"{name}.png", full_page=False)
                        print(f"docs/{name}.png")
                    await browser.close()
            finally:
                await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
