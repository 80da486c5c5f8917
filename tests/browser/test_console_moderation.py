"""The console in headless Chromium: a moderator signs in and works the queue by keyboard;
an agent and a moderator are refused what their roles may not do; an admin switches a
channel on and its next message is answered."""

from __future__ import annotations

from playwright.async_api import Page, expect
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision
from bot.staff.accounts import Role
from bot.store.models import Message
from tests.browser.conftest import LiveBot
from tests.helpers import complaint, outbox_rows, staff_account

PASSWORD = "a long enough password"
RUDE = "Siete degli idioti incompetenti, il mio inverter è rotto! Ordine 88120."


async def decided(runtime: Runtime, message_id: int) -> str:
    """The message's decision once a worker (this test's drain or the bot's own) made it."""
    while True:
        await runtime.worker.drain()
        async with runtime.sessions() as session:
            decision = await session.scalar(
                select(Message.decision).where(Message.id == message_id)
            )
        if decision is not None:
            return decision


async def sign_in(page: Page, url: str, name: str) -> None:
    await page.goto(f"{url}/console/login")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_moderator_releases_a_held_message_by_keyboard_and_the_customer_is_answered(
    live_bot: LiveBot, runtime: Runtime, clock: VirtualClock, page: Page
) -> None:
    url = await live_bot([])
    held = await runtime.ingest.accept(complaint("rude@example.it", RUDE, clock.now()))
    assert await decided(runtime, held.message_id) == Decision.FLAGGED.value
    name, _ = await staff_account(runtime, Role.MODERATOR, "mod.sara", PASSWORD)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await page.goto(f"{url}/console/moderation")  # signed out: to the sign-in and back
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("article.item")).to_have_count(1)  # the worker held it
    await expect(page.locator("#pending-count")).to_have_text("1")
    await page.keyboard.press("j")
    await expect(page.locator("article.item")).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("r")

    await expect(page.locator("#done")).to_contain_text("released")
    await expect(page.locator("#empty")).to_be_visible()
    assert await decided(runtime, held.message_id) == Decision.ANSWERED.value
    rows = await outbox_rows(runtime)
    assert [(r.address, r.kind) for r in rows] == [("rude@example.it", "acknowledgment")]
    assert errors == []


async def test_roles_are_refused_what_they_may_not_do(
    live_bot: LiveBot, runtime: Runtime, page: Page
) -> None:
    url = await live_bot([])
    agent, _ = await staff_account(runtime, Role.AGENT, "ag.tom", PASSWORD)
    moderator, _ = await staff_account(runtime, Role.MODERATOR, "mod.ines", PASSWORD)

    await sign_in(page, url, agent)
    answer = await page.goto(f"{url}/console/moderation")
    assert answer is not None
    assert answer.status == 403
    await expect(page.locator("#forbidden")).to_contain_text("moderator role")
    await expect(page.get_by_role("link", name="Moderation")).to_have_count(0)

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, url, moderator)
    answer = await page.goto(f"{url}/console/channels")
    assert answer is not None
    assert answer.status == 403
    await expect(page.get_by_role("link", name="Channels")).to_have_count(0)


async def test_an_admin_switches_whatsapp_on_and_its_next_message_is_answered(
    live_bot: LiveBot,
    runtime: Runtime,
    clock: VirtualClock,
    page: Page,
) -> None:
    url = await live_bot([])
    admin, _ = await staff_account(runtime, Role.ADMIN, "root", PASSWORD)
    await page.set_viewport_size({"width": 375, "height": 800})
    await sign_in(page, url, admin)
    await page.goto(f"{url}/console/channels")

    await page.get_by_role("button", name="Accept whatsapp").click()
    await expect(page.locator("#channel-whatsapp .state")).to_have_text("accepted")
    sent = await runtime.ingest.accept(
        complaint(
            "+39 333 999 0000", "Inverter rotto, ordine 77.", clock.now(), channel=Channel.WHATSAPP
        )
    )
    assert await decided(runtime, sent.message_id) == Decision.ANSWERED.value
