"""The chat widget in headless Chromium, embedded in a page of another origin.

The host page is served by its own loopback aiohttp server; the widget comes from the
live bot (worker and sender running). Every request the page makes is recorded: the
widget may only talk to the bot's origin. With INTAKE_SCREENSHOTS=1 the intake test
also writes docs/widget.png for the README.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, WebSocketRoute, expect
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.contract.domain import Decision
from bot.rules.reading import CoreReader
from bot.store.models import Message, OutboxReply
from bot.text import i18n
from bot.tickets.decisions import MessageDecisions
from channels import chat_texts
from channels.webchat import WebchatConfig, build, plug_of
from tests.browser.conftest import LiveBot

DOCS = Path(__file__).resolve().parents[2] / "docs"
WIDGET = "[data-intake-chat]"
XSS_NAME = '<img src=x onerror="window.__pwned=1">\u202eAnna'
ANSWERS = [
    "product",
    XSS_NAME,
    "anna.rossi@example.com",
    "ORD-884213",
    "SUN2000-5KTL-M1",
    "skip",
    "The inverter shows error F23 <script>window.__pwned=2</script> since Monday.",
    "I want a replacement",
]
HostPage = Callable[[str, str], Awaitable[str]]
# Interface-only flows run on the embedded store; the intake runs on both.
EMBEDDED = pytest.mark.parametrize("settings", ["embedded"], indirect=True)


@pytest.fixture
async def host_page() -> AsyncIterator[HostPage]:
    """Serve a shop page embedding the widget from `bot`; returns its URL (another origin)."""
    runners: list[web.AppRunner] = []

    async def start(bot: str, attributes: str = "") -> str:
        html = (
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Shop</title><style>* {{ color: red !important; }} button "
            f"{{ display: none; }}</style></head><body><h1>Solar shop</h1>"
            f"<p>Our products.</p><script src='{bot}/widget.js' {attributes} async>"
            f"</script></body></html>"
        )

        async def index(request: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_get("/", index)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        server = site._server
        assert isinstance(server, asyncio.Server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"

    yield start
    for runner in runners:
        await runner.cleanup()


async def start_bot(runtime: Runtime, live_bot: LiveBot, **overrides: Any) -> str:
    """The bot with the chat wired as bot.app wires it: the core's reading and decisions."""
    config = WebchatConfig(
        key_prefix=runtime.keys.prefix,
        now=runtime.clock.now,
        timezone=lambda: runtime.policy.current.sla.timezone,
        status_label=i18n.status_label,
        rate_per_s=50.0,
        burst=50,
        reader=CoreReader(),
        decisions=MessageDecisions(runtime.sessions),
        **overrides,
    )
    chat = build(
        config,
        runtime.ingest,
        runtime.lookup,
        runtime.redis,
        lambda: runtime.policy.current.accepted,
    )
    return await live_bot([plug_of(chat)])


def requests_of(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    return seen


async def open_widget(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator(f"{WIDGET}[data-ready=true]")).to_have_count(1)
    await page.locator(f"{WIDGET} .bubble").click()
    await expect(page.locator(f"{WIDGET} .panel")).to_be_visible()


async def answer(page: Page, text: str) -> None:
    """Type an answer and wait for the bot's next message (two after an email address: the
    note that a link went there if a customer wrote from it, then the next question)."""
    bots = page.locator(f"{WIDGET} .msg.bot")
    before = await bots.count()
    await page.locator(f"{WIDGET} textarea").fill(text)
    await page.locator(f"{WIDGET} textarea").press("Enter")
    await expect(bots).to_have_count(before + (2 if "@" in text else 1), timeout=10_000)


async def decided(runtime: Runtime, expected: int) -> None:
    """Wait until the worker decided `expected` messages."""

    async def count() -> int:
        async with runtime.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(Message).where(Message.decision.is_not(None))
                )
                or 0
            )

    async with asyncio.timeout(20):
        while await count() < expected:  # noqa: ASYNC110  # a database has no event to await
            await asyncio.sleep(0.05)


async def sent_replies(runtime: Runtime) -> list[tuple[int, str]]:
    """The outbox rows and their statuses, once the sender has none left to send."""

    async def rows() -> list[tuple[int, str]]:
        async with runtime.sessions() as session:
            return [
                (row.id, row.status)
                for row in await session.execute(
                    select(OutboxReply.id, OutboxReply.status).order_by(OutboxReply.id)
                )
            ]

    async with asyncio.timeout(20):
        while True:
            listed = await rows()
            if all(status not in {"pending", "claimed", "sending"} for _, status in listed):
                return listed
            await asyncio.sleep(0.05)  # a database has no event to await


async def test_intake_flood_and_reload_in_a_page_of_another_origin(
    runtime: Runtime, live_bot: LiveBot, host_page: HostPage, page: Page
) -> None:
    bot = await start_bot(runtime, live_bot)
    url = await host_page(bot, "")
    seen = requests_of(page)
    await open_widget(page, url)
    await expect(page.locator(f"{WIDGET} .msg.bot")).to_have_count(3)
    for text in ANSWERS:
        await answer(page, text)
    reply = page.locator(f"{WIDGET} .msg.bot[data-ref]")
    await expect(reply).to_have_count(1, timeout=20_000)  # the acknowledgment, live
    ref = await reply.get_attribute("data-ref")
    assert ref is not None
    assert re.fullmatch(r"C-2026-\d{6}", ref)
    await expect(reply).to_contain_text(ref)
    customer = page.locator(f"{WIDGET} .msg.customer")
    await expect(customer.locator(".state")).to_have_text(
        [chat_texts.say("delivered", "en")] * len(ANSWERS)
    )
    # Markup and direction overrides are text: nothing ran, nothing was parsed as HTML.
    await expect(customer.nth(1)).to_contain_text('<img src=x onerror="window.__pwned=1">')
    await expect(customer.nth(1)).to_contain_text("\u27e8U+202E\u27e9Anna")
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator(f"{WIDGET} .log img, {WIDGET} .log script").count() == 0

    # A flood: every message is kept and delivered, and no new reply comes: one receipt.
    bots_before = await page.locator(f"{WIDGET} .msg.bot").count()
    replies_before = await sent_replies(runtime)
    for n in range(8):
        await page.locator(f"{WIDGET} textarea").fill(f"hello?? anyone there {n}")
        await page.locator(f"{WIDGET} textarea").press("Enter")
    await expect(customer).to_have_count(len(ANSWERS) + 8)
    await expect(customer.locator(".state")).to_have_text(
        [chat_texts.say("delivered", "en")] * (len(ANSWERS) + 8)
    )
    await decided(runtime, 1 + 8)
    # All decided, none answered, and no outbox row more with nothing left to send: a wrong
    # reply would be a new row, so none can still be on its way to the panel.
    async with runtime.sessions() as session:
        flood = list(
            await session.scalars(
                select(Message.decision).where(Message.text.like("hello?? anyone there %"))
            )
        )
    assert len(flood) == 8
    assert Decision.ANSWERED not in flood
    assert await sent_replies(runtime) == replies_before
    await expect(page.locator(f"{WIDGET} .msg.bot")).to_have_count(bots_before + 1)
    await expect(page.locator(f"{WIDGET} .msg.bot .text").last).to_have_text(
        chat_texts.say("receipt", "en")
    )

    # Reload: the same session, its history, and the ticket's status.
    await page.reload()
    await expect(page.locator(f"{WIDGET}[data-ready=true]")).to_have_count(1)
    await page.locator(f"{WIDGET} .bubble").click()
    await expect(customer).to_have_count(len(ANSWERS) + 8)
    await expect(page.locator(f"{WIDGET} .msg.bot")).to_have_count(bots_before + 1)
    await expect(page.locator(f"{WIDGET} .banner")).to_contain_text(ref)
    host = url.rstrip("/")
    strangers = [u for u in seen if not u.startswith((bot, host, bot.replace("http", "ws")))]
    assert strangers == []


@EMBEDDED
async def test_phone_width_and_keyboard_only(
    runtime: Runtime, live_bot: LiveBot, host_page: HostPage, browser: Browser
) -> None:
    bot = await start_bot(runtime, live_bot)
    url = await host_page(bot, "")
    context = await browser.new_context(
        viewport={"width": 360, "height": 640}, locale="it-IT", has_touch=True
    )
    try:
        page = await context.new_page()
        await page.goto(url)
        await expect(page.locator(f"{WIDGET}[data-ready=true]")).to_have_count(1)
        bubble = page.locator(f"{WIDGET} .bubble")
        await expect(bubble).to_have_attribute("aria-label", chat_texts.say("open", "it"))
        for _ in range(5):  # Tab until the bubble has focus: no mouse
            await page.keyboard.press("Tab")
            if await bubble.evaluate("b => b.getRootNode().activeElement === b"):
                break
        await page.keyboard.press("Enter")
        panel = page.locator(f"{WIDGET} [role=dialog]")
        await expect(panel).to_be_visible()
        title_id = await panel.get_attribute("aria-labelledby")
        await expect(page.locator(f"{WIDGET} #{title_id}")).to_have_text(
            chat_texts.say("title", "it")
        )
        await expect(page.locator(f"{WIDGET} [role=log]")).to_have_attribute("aria-live", "polite")
        await expect(page.get_by_label(chat_texts.say("input_label", "it"))).to_be_focused()
        await expect(page.locator(f"{WIDGET} .msg.bot").first).to_have_text(
            re.compile(re.escape(chat_texts.say("greeting", "it")))
        )
        box = await panel.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 360
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= 640
        await page.keyboard.type("prodotto")
        await page.keyboard.press("Enter")
        await expect(page.locator(f"{WIDGET} .msg.bot").last).to_contain_text(
            chat_texts.say("ask_name", "it")
        )
        await page.keyboard.insert_text("x" * 4001)  # as a paste: typing it takes seconds
        await page.keyboard.press("Enter")
        await expect(page.locator(f"{WIDGET} .notice")).to_have_text(
            chat_texts.say("too_long", "it", limit="4000")
        )
        await page.keyboard.press("Escape")
        await expect(panel).to_be_hidden()
        assert await bubble.evaluate("b => b.getRootNode().activeElement === b")
    finally:
        await context.close()


@EMBEDDED
async def test_closed_channel_points_to_the_accepted_channels(
    runtime: Runtime, live_bot: LiveBot, host_page: HostPage, page: Page
) -> None:
    await runtime.policy.set_channel("webchat", False, actor="admin")
    bot = await start_bot(runtime, live_bot)
    await open_widget(page, await host_page(bot, "data-lang='nl'"))
    notice = page.locator(f"{WIDGET} .unavailable")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text(chat_texts.say("ch_webform", "nl"))
    await expect(page.locator(f"{WIDGET} textarea")).to_be_hidden()
    await expect(page.locator(f"{WIDGET} .msg")).to_have_count(0)


@EMBEDDED
async def test_falls_back_to_polling_when_websockets_are_blocked(
    runtime: Runtime, live_bot: LiveBot, host_page: HostPage, page: Page
) -> None:
    bot = await start_bot(runtime, live_bot)

    async def refuse(ws: WebSocketRoute) -> None:
        await ws.close(code=1006, reason="blocked by a proxy")

    await page.route_web_socket(re.compile(r".*/chat/ws$"), refuse)
    await open_widget(page, await host_page(bot, ""))
    await expect(page.locator(f"{WIDGET} .msg.bot")).to_have_count(3, timeout=15_000)
    await answer(page, "product")
    await expect(page.locator(f"{WIDGET} .msg.bot .text").last).to_have_text(
        chat_texts.say("ask_name", "en")
    )
    await expect(page.locator(f"{WIDGET} .msg.customer .state")).to_have_text(
        chat_texts.say("sent", "en")
    )


@EMBEDDED
@pytest.mark.skipif(
    os.environ.get("INTAKE_SCREENSHOTS") != "1",
    reason="writes docs/widget.png only with INTAKE_SCREENSHOTS=1",
)
async def test_readme_screenshots(
    runtime: Runtime, live_bot: LiveBot, host_page: HostPage, browser: Browser
) -> None:
    """docs/widget.png (a completed intake) and docs/widget-phone.png (phone width)."""
    bot = await start_bot(runtime, live_bot)
    url = await host_page(bot, "")
    clean = [
        "product",
        "Anna Rossi",
        "anna.rossi@example.com",
        "ORD-884213",
        "SUN2000-5KTL-M1",
        "SN88990011",
        "The inverter shows error F23 since Monday.",
        "A replacement, please",
    ]
    DOCS.mkdir(exist_ok=True)
    for name, viewport in (
        ("widget.png", {"width": 1100, "height": 720}),
        ("widget-phone.png", {"width": 390, "height": 760}),
    ):
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        try:
            page = await context.new_page()
            await open_widget(page, url)
            await expect(page.locator(f"{WIDGET} .msg.bot")).to_have_count(3)
            for text in clean:
                await answer(page, text)
            await expect(page.locator(f"{WIDGET} .msg.bot[data-ref]")).to_have_count(
                1, timeout=20_000
            )
            await page.screenshot(path=DOCS / name)
        finally:
            await context.close()
