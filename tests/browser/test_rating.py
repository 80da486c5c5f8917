"""The satisfaction rating in headless Chromium, end to end: an agent resolves a complaint in
the console, the customer opens the link in the reply actually sent, rates it (a page
without a line of JavaScript), and the agent sees the rating on the ticket. In English and Italian, on a
desktop and a 375 px phone; axe-core finds nothing. And the customer pages log no console
error (the favicon is there)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page
from sqlalchemy import select

from bot.app.channel_setup import rating_plug
from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply
from bot.staff.accounts import Role
from bot.staff.desk import TicketDesk
from bot.store.models import Rating, Ticket
from channels import page_texts
from tests.browser.conftest import Axe, LiveBot
from tests.browser.test_console_tickets import PASSWORD, fits
from tests.browser.test_webform import eventually
from tests.channels.test_webform import form_plug
from tests.helpers import complaint, outbox_rows, staff_account

COMPLAINTS = {
    "en": "My SolarEdge SE5000H inverter stopped working, order 55123. Please replace it.",
    "it": "Il mio inverter SolarEdge SE5000H non funziona più, ordine 55123. Vorrei la sostituzione.",
}
LINK = re.compile(r"http://127\.0\.0\.1:\d+/rate/\S+")
COMMENT = "<b>Grazie</b> & thanks"


def console_errors(page: Page) -> list[str]:
    """What the page logs as errors (and its uncaught exceptions), from now on."""
    errors: list[str] = []

    def logged(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", logged)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def resolve_in_console(page: Page, base: str, runtime: Runtime, ref: str) -> None:
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    await page.goto(f"{base}/console/tickets/{ref}")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console/tickets/{ref}")
    await page.select_option("#c-status", "resolved")
    await page.fill("#c-note", "Replaced under warranty.")
    await page.click("#preview-button")
    assert "/rate/" in await page.inner_text("#preview-text")
    await page.click("#confirm")
    await page.wait_for_selector("#done")


async def sent_link(runtime: Runtime, captured: dict[int, OutboundReply]) -> str:
    """The rating link in the resolution reply the sender actually sent."""
    [owed] = [r for r in await outbox_rows(runtime) if "/rate/" in r.text]

    async def delivered() -> bool:
        return owed.id in captured

    await eventually(delivered)
    found = LINK.search(captured[owed.id].text)
    assert found is not None, captured[owed.id].text
    return found.group(0)


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("lang", ["en", "it"])
async def test_a_customer_rates_the_resolution_from_the_link_in_the_reply(
    live_bot: LiveBot,
    runtime: Runtime,
    clock: VirtualClock,
    browser: Browser,
    page: Page,
    axe: Axe,
    captured: dict[int, OutboundReply],
    tmp_path: Path,
    lang: str,
    width: int,
) -> None:
    base = await live_bot([form_plug(runtime, tmp_path / "uploads"), rating_plug(runtime)])
    # The console's desk, told where customers reach this bot (INTAKE_PUBLIC_URL).
    runtime.desk = TicketDesk(
        runtime.sessions, runtime.throttle, runtime.policy, clock, public_url=base
    )
    email = f"customer-{lang}@example.com"
    await runtime.ingest.accept(
        complaint(email, COMPLAINTS[lang], clock.now(), channel=Channel.EMAIL)
    )

    async def numbered() -> bool:
        async with runtime.sessions() as session:
            return await session.scalar(select(Ticket.ref)) is not None

    await eventually(numbered)
    async with runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket is not None
    assert ticket.ref is not None
    assert ticket.language == lang
    await resolve_in_console(page, base, runtime, ticket.ref)
    link = await sent_link(runtime, captured)
    texts = page_texts.texts(lang)

    # The customer: another browser profile, their own window's width.
    customer = await browser.new_context(viewport={"width": width, "height": 800})
    try:
        phone = await customer.new_page()
        errors = console_errors(phone)
        await phone.goto(link)
        assert await phone.get_attribute("html", "lang") == lang
        assert await phone.inner_text("h1") == texts["rate_title"]
        assert ticket.ref in await phone.inner_text("main")
        assert await phone.locator("script").count() == 0  # a plain form: no JavaScript
        assert await axe(phone) == []
        assert await fits(phone)
        await phone.click(f"label:has(#score-{4})")
        await phone.fill("#comment", COMMENT)
        await phone.click("#send-rating")
        assert await phone.inner_text("#rating-result") == texts["rate_thanks"]
        assert await axe(phone) == []
        await phone.go_back()
        await phone.reload()  # the link again: the rating is there, nothing to send twice
        assert await phone.inner_text("#rating-result") == texts["rate_already"]
        assert errors == []
    finally:
        await customer.close()

    async with runtime.sessions() as session:
        ratings = [(r.score, r.comment) for r in await session.scalars(select(Rating))]
    assert ratings == [(4, COMMENT)]
    await page.reload()
    assert await page.inner_text("#rating-score") == "4/5"
    assert await page.inner_text("#rating-comment") == COMMENT  # markup shown as text


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "it"])
async def test_the_form_and_the_status_page_log_no_console_error(
    live_bot: LiveBot, page: Page, tmp_path: Path, runtime: Runtime, lang: str
) -> None:
    base = await live_bot([form_plug(runtime, tmp_path / "uploads")])
    errors = console_errors(page)
    for path in ("/form", "/status"):
        await page.goto(f"{base}{path}?lang={lang}")
        await page.wait_for_load_state("networkidle")
    icon = await page.request.get(f"{base}/favicon.ico")
    assert icon.ok
    assert errors == []
