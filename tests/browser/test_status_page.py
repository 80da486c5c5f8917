"""The status page in headless Chromium: right pair, wrong pair, then throttled."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from bot import i18n
from bot.clock import VirtualClock
from bot.domain import Channel
from bot.models import Ticket
from bot.runtime import Runtime
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
async def test_right_pair_wrong_pair_then_throttled(live_bot: LiveBot, runtime: Runtime,
                                                    clock: VirtualClock, page: Page,
                                                    tmp_path: Path) -> None:
    base = await live_bot([form_plug(runtime, tmp_path / "uploads",
                                     status_attempts_per_ip_per_hour=2)])
    text = "Mijn omvormer SE5000H is kapot, bestelnummer 55123. Ik wil een vervanging."
    await runtime.ingest.accept(complaint(EMAIL, text, clock.now(), channel=Channel.EMAIL))
    await eventually(lambda: _has_ticket(runtime))
    ref = await ticket_ref(runtime)
    assert ref is not None
    texts = page_texts.texts("nl")

    await page.goto(f"{base}/status?lang=nl&ref={ref}")
    assert await page.input_value("#ref") == ref  # filled in from the link
    await look_up(page, ref, EMAIL.upper())
    assert await page.inner_text("#current-status") in (i18n.status_label("new", "nl"),
                                                        i18n.status_label("awaiting_details", "nl"))
    assert "2026" in await page.inner_text("#next-due")
    assert await page.locator("table.history tbody tr").count() == 1

    await look_up(page, ref, "iemand@example.nl")
    assert await page.inner_text("#no-match") == texts["no_match"]
    assert await page.locator("#result").count() == 0
    await look_up(page, "C-2026-424242", EMAIL)
    assert await page.inner_text("#no-match") == texts["no_match"]

    await look_up(page, ref, EMAIL)  # right, but two wrong ones came first from this IP
    assert await page.inner_text("h1") == texts["too_many_title"]
    assert texts["too_many_status"] in await page.inner_text("main")


async def _has_ticket(runtime: Runtime) -> bool:
    return await ticket_ref(runtime) is not None
