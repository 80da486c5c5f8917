"""The dashboard in headless Chromium: an agent signs in through the form and reads the
charts at phone width, by keyboard, with nothing the page's CSP refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import ConsoleMessage, Page

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel
from bot.staff.accounts import Role
from tests.browser.conftest import LiveBot
from tests.helpers import complaint, staff_account

PASSWORD = "correct horse battery staple"
TEXT = "Il mio inverter si è guastato di nuovo."


async def some_messages(runtime: Runtime, clock: VirtualClock) -> None:
    """Three customers over three hours, one of them writing four times."""
    start = clock.now()
    senders = [("anna@example.it", Channel.EMAIL), ("chat-9", Channel.WEBCHAT)]
    senders += [("<script>x</script>@evil.test", Channel.EMAIL)] * 4
    for n, (sender, channel) in enumerate(senders):
        clock.set(start + timedelta(minutes=40 * n))
        await runtime.ingest.accept(
            complaint(sender, f"{TEXT} ({n})", clock.now(), channel=channel)
        )
        await runtime.worker.drain()


async def no_horizontal_scroll(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_an_agent_reads_the_charts_on_a_phone_without_console_errors(
    live_bot: LiveBot, runtime: Runtime, clock: VirtualClock, page: Page
) -> None:
    await some_messages(runtime, clock)
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.set_viewport_size({"width": 375, "height": 812})
    base = await live_bot([])

    await page.goto(f"{base}/console")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console")

    assert await page.inner_text("h1") == "Dashboard"
    charts = page.locator("svg.chart[role=img]")
    assert await charts.count() == 7
    box = await charts.first.bounding_box()
    assert box is not None
    assert 200 < box["width"] <= 375
    assert box["height"] > 50  # drawn at its size: the stylesheet loaded under the CSP
    assert await page.locator("svg.chart rect.bar").count() > 0
    assert await no_horizontal_scroll(page)

    summary = page.locator("details summary").first
    await summary.focus()
    await page.keyboard.press("Enter")
    assert await page.locator("#hourly-channel-table").is_visible()
    await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    assert await no_horizontal_scroll(page)  # the tables scroll in their own box
    assert await page.locator("#flooders-detail bdi").inner_text() == (
        "<script>x</script>@evil.test"
    )
    assert errors == []
