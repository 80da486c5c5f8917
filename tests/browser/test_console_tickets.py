"""An agent in headless Chromium: signs in, opens a ticket from the list, previews the
reply a status change sends, confirms it by keyboard, and the customer gets exactly one;
the pages fit a phone's width whatever the customer wrote."""

from __future__ import annotations

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, InboundMessage, OutboundReply
from bot.staff.accounts import Role
from bot.store.models import Ticket
from bot.text.i18n import status_label
from tests.browser.conftest import LiveBot
from tests.browser.test_webform import eventually
from tests.helpers import outbox_rows, staff_account

PASSWORD = "correct horse battery staple"
NOTE = "Il tecnico verifica il suo inverter questa settimana."
TEXT = (
    "Il mio inverter si spegne ogni mattina con errore E-2032, ordine n. 778812. "
    f"Vorrei la sostituzione. {'E' * 5000} \u202e<script>alert(1)</script>"
)


async def ticket_ref(runtime: Runtime) -> str | None:
    async with runtime.sessions() as session:
        return await session.scalar(select(Ticket.ref))


async def fits(page: Page) -> bool:
    """No horizontal scrolling: the page is no wider than the window."""
    return bool(
        await page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_an_agent_changes_a_status_after_previewing_the_one_reply_it_sends(
    live_bot: LiveBot,
    runtime: Runtime,
    clock: VirtualClock,
    page: Page,
    captured: dict[int, OutboundReply],
) -> None:
    base = await live_bot([])
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.EMAIL,
            external_id="<long@example.it>",
            sender="anna@example.it",
            display_name="Anna" + "R" * 190,  # one long word
            text=TEXT,
            received_at=clock.now(),
        )
    )

    async def numbered() -> bool:
        return await ticket_ref(runtime) is not None

    await eventually(numbered)
    ref = await ticket_ref(runtime)
    assert ref is not None
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    await page.set_viewport_size({"width": 375, "height": 800})

    await page.goto(f"{base}/console/tickets")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console/tickets")
    assert await fits(page)
    await page.click(f"a.ref:text-is('{ref}')")
    await page.wait_for_url(f"{base}/console/tickets/{ref}")
    assert await fits(page)
    assert "<script>" in await page.inner_text("#thread")  # shown as text, not run
    before = len(await outbox_rows(runtime))

    await page.select_option("#c-status", "investigating")
    await page.fill("#c-note", NOTE)
    await page.click("#preview-button")
    preview = await page.inner_text("#preview-text")
    assert NOTE in preview
    assert status_label("investigating", "it") in preview
    assert await page.inner_text("#status") != "investigating"
    assert len(await outbox_rows(runtime)) == before  # a preview saves nothing
    assert await fits(page)

    assert await page.evaluate("document.activeElement.id") == "confirm"
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#done")
    assert await page.inner_text("#status") == "investigating"
    owed = (await outbox_rows(runtime))[before:]
    assert [(r.kind, r.language) for r in owed] == [("status_changed", "it")]

    async def delivered() -> bool:
        return owed[0].id in captured

    await eventually(delivered)  # the running sender sends it
    assert captured[owed[0].id].text.replace("\r\n", "\n") == preview.replace("\r\n", "\n")
    assert len(await outbox_rows(runtime)) == before + 1
