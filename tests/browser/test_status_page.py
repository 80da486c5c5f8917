"""The status page in headless Chromium: a link by mail, the same words for any pair, then
the limit."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, Page
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply
from bot.contract.limits import Limiter
from bot.store.models import Message, Ticket
from bot.text import i18n
from channels import page_texts
from tests.browser.conftest import Axe, LiveBot
from tests.browser.test_webform import DOCS, eventually
from tests.channels.test_webform import PNG, form_plug
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


VIEWS = pytest.mark.parametrize(
    ("lang", "viewport"),
    [
        ("en", {"width": 1280, "height": 900}),
        ("it", {"width": 375, "height": 740}),
        ("en", {"width": 375, "height": 740}),
        ("it", {"width": 1280, "height": 900}),
    ],
    ids=["en-desktop", "it-375", "en-375", "it-desktop"],
)
FITS = "document.documentElement.scrollWidth <= window.innerWidth"
ZONE = r"\d{1,2}:\d{2}(\s[AP]M)? (CET|CEST|GMT[+-]\d{2}:\d{2})"  # Babel's, per locale
ZONED = re.compile(ZONE + "$")


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
@VIEWS
async def test_the_verified_viewer_sees_what_it_was_about_and_adds_a_photo(
    live_bot: LiveBot,
    runtime: Runtime,
    clock: VirtualClock,
    browser: Browser,
    tmp_path: Path,
    captured: dict[int, OutboundReply],
    axe: Axe,
    lang: str,
    viewport: dict[str, int],
) -> None:
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 2, 3600)
    base = await live_bot([form_plug(runtime, tmp_path / "uploads")])
    text = "My inverter SE5000H <b>stopped</b> working, order number 55123. I want a replacement."
    await runtime.ingest.accept(complaint(EMAIL, text, clock.now(), channel=Channel.EMAIL))
    await eventually(lambda: _has_ticket(runtime))
    ref = await ticket_ref(runtime)
    assert ref is not None
    texts = page_texts.texts(lang)
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(f"{base}/status?lang={lang}&ref={ref}")
        assert await axe(page) == []
        await look_up(page, ref, EMAIL)
        await runtime.lookup.settled()
        token = captured.pop(0).text.split("\n")[1].strip()
        await page.goto(f"{base}/status/view?token={token}&lang={lang}")
        assert await axe(page) == []
        await page.click("#open")

        assert await page.inner_text("#category") == texts["type_product"]
        assert "SE5000H <b>stopped</b>" in await page.inner_text("#excerpt")  # text, not markup
        assert await page.locator("#excerpt b").count() == 0
        for at in await page.locator("table.history tbody td:first-child").all_inner_texts():
            assert ZONED.search(at), at
        lines = "document.getElementById('view-ref').getClientRects().length"
        assert await page.evaluate(lines) == 1  # C-2026-000001 on one line, even at 375 px
        assert await page.evaluate(FITS)
        assert await axe(page) == []
        if os.environ.get("INTAKE_SCREENSHOTS") == "1" and lang == "it" and viewport["width"] < 400:
            DOCS.mkdir(exist_ok=True)  # the README's picture of the status page
            await page.screenshot(path=DOCS / "status.png", full_page=True)

        await page.fill("#add-message", "Here is a photo of the display.")
        await page.set_input_files(
            "#add-files", files=[FilePayload(name="display.png", mimeType="image/png", buffer=PNG)]
        )
        await page.click("#add-send")
        await page.wait_for_selector("#added")
        assert await page.inner_text("#added") == texts["add_done"].format(ref=ref)
        assert await page.evaluate(FITS)
        assert await axe(page) == []
        await eventually(lambda: _photo_on_ticket(runtime))

        await page.fill("#add-message", "")
        await page.click("#add-send")  # nothing to add: the error, focused and linked
        await page.wait_for_selector("#error-summary")
        assert await page.evaluate("document.activeElement.id") == "error-summary"
        assert await axe(page) == []

        await page.goto(f"{base}/status?lang={lang}")
        await look_up(page, ref, EMAIL)  # the second of two look-ups an hour
        await look_up(page, ref, EMAIL)
        assert await page.inner_text("h1") == texts["too_many_title"]
        detail = await page.inner_text("main")
        assert re.search(ZONE, detail)  # when the limiter's window ends, with its zone
        assert await page.locator("#problem-detail").is_visible()
        assert await page.get_attribute("#alternative a", "href") == f"/form?lang={lang}"
        assert await page.evaluate(FITS)
        assert await axe(page) == []
    finally:
        await context.close()


async def _photo_on_ticket(runtime: Runtime) -> bool:
    async with runtime.sessions() as session:
        rows = list(await session.scalars(select(Message).where(Message.ticket_id.is_not(None))))
    return any(m.attachments and m.text.startswith("Here is a photo") for m in rows)
