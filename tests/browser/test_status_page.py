"""The status page in headless Chromium: a link by mail, the same words for any pair, then
the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply
from bot.contract.limits import Limiter
from bot.store.models import Ticket
from bot.text import i18n
from channels import page_texts
from tests.browser.conftest import LiveBot
from tests.browser.test_webform import eventually
from tests.channels.test_webform import form_plug
from tests.helpers import complaint

EMAIL = "lena.peters@example.nl"


async def ticket_ref(runtime: Runtime) -> str | None:
    async with runtime.sessions() as session:
        return await session.scalar(select(Ticket.ref))


async def look_up(page: Page, ref: str, contact: str) -> None:
    await page.fill("#ref", ref)
    await page.fill("#contact", contact)
    await page.click("button[type=submit]")


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_a_link_by_mail_shows_the_ticket_and_every_look_up_reads_the_same(
    live_bot: LiveBot,
    runtime: Runtime,
    clock: VirtualClock,
    page: Page,
    tmp_path: Path,
    captured: dict[int, OutboundReply],
) -> None:
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 3, 3600)
    base = await live_bot([form_plug(runtime, tmp_path / "uploads")])
    text = "Mijn omvormer SE5000H is kapot, bestelnummer 55123. Ik wil een vervanging."
    await runtime.ingest.accept(complaint(EMAIL, text, clock.now(), channel=Channel.EMAIL))
    await eventually(lambda: _has_ticket(runtime))
    ref = await ticket_ref(runtime)
    assert ref is not None
    texts = page_texts.texts("nl")

    await page.goto(f"{base}/status?lang=nl&ref={ref}")
    assert await page.input_value("#ref") == ref  # filled in from the link
    await look_up(page, ref, EMAIL.upper())
    assert await page.inner_text("#link-sent") == texts["link_sent"]
    assert await page.locator("#result").count() == 0
    await runtime.lookup.settled()
    token = captured.pop(0).text.split("\n")[1].strip()

    await look_up(page, ref, "iemand@example.nl")  # the same words for a wrong pair
    assert await page.inner_text("#link-sent") == texts["link_sent"]
    await runtime.lookup.settled()
    assert 0 not in captured

    await page.goto(f"{base}/status/view?token={token}&lang=nl")
    await page.click("#open")
    assert await page.inner_text("#current-status") in (
        i18n.status_label("new", "nl"),
        i18n.status_label("awaiting_details", "nl"),
    )
    assert "2026" in await page.inner_text("#next-due")
    assert await page.locator("table.history tbody tr").count() == 1

    await page.goto(f"{base}/status?lang=nl")
    await look_up(page, "C-2026-424242", EMAIL)
    await look_up(page, ref, EMAIL)  # three look-ups came first from this address
    assert await page.inner_text("h1") == texts["too_many_title"]
    assert texts["too_many_status"].split("{time}")[0] in await page.inner_text("main")


async def _has_ticket(runtime: Runtime) -> bool:
    return await ticket_ref(runtime) is not None
