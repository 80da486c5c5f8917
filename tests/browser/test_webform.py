"""The contact form in headless Chromium, against the whole bot (worker and sender running).

The core flow runs on both backends over HTTP (tests/channels/test_webform.py); here
the browser's own behaviour is the subject (rendering, no JavaScript, back button,
phone width, markup shown as text, iframes), on the embedded backend.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, FilePayload, Page
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.store.models import Message, Ticket
from channels import page_texts
from channels.webform import MIN_DESCRIPTION_CHARS
from tests.browser.conftest import Axe, LiveBot
from tests.channels.test_webform import PNG, VALID, form_plug

EMBEDDED = pytest.mark.parametrize("settings", ["embedded"], indirect=True)
DOCS = Path(__file__).resolve().parents[2] / "docs"
REF = re.compile(r"C-\d{4}-\d{6}")
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">\u202eevil'


async def start(live_bot: LiveBot, runtime: Runtime, tmp_path: Path) -> str:
    return await live_bot([form_plug(runtime, tmp_path / "uploads")])


async def fill(page: Page, values: dict[str, str]) -> None:
    await page.check(f'input[name="type"][value="{values["type"]}"]')
    for name in ("name", "contact", "order", "model", "serial", "description", "solution"):
        await page.fill(f"#{name}", values[name])


async def count(runtime: Runtime, model: type[Message] | type[Ticket]) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a condition the running worker brings about, or fail after 10 s."""
    async with asyncio.timeout(10):
        while not await check():  # noqa: ASYNC110  # a database has no event to await
            await asyncio.sleep(0.05)


async def reference_on(page: Page) -> str:
    """The confirmation page refreshes itself (meta refresh) until the reference is there."""
    await page.wait_for_selector("#ticket-ref", timeout=20_000)
    text = await page.inner_text("#ticket-ref")
    assert REF.fullmatch(text), text
    return text


@EMBEDDED
async def test_errors_per_field_then_a_reference(
    live_bot: LiveBot, runtime: Runtime, page: Page, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)
    await page.goto(f"{base}/form?lang=it")
    await fill(page, {**VALID, "contact": "not-a-contact", "model": ""})
    await page.click("#send")
    texts = page_texts.texts("it")
    assert await page.inner_text("#err-contact") == texts["err_contact"]
    assert await page.inner_text("#err-model") == texts["err_required"]
    assert await page.locator(".error").count() == 3  # the summary and the two fields
    assert await page.input_value("#name") == VALID["name"]
    assert await page.input_value("#description") == VALID["description"]
    assert await page.is_checked('input[name="type"][value="product"]')
    await page.fill("#contact", VALID["contact"])
    await page.fill("#model", VALID["model"])
    await page.set_input_files(
        "#attachments", files=[FilePayload(name="inverter.png", mimeType="image/png", buffer=PNG)]
    )
    await page.click("#send")
    ref = await reference_on(page)
    assert texts["done_ref"] in await page.inner_text("main")
    assert "inverter.png" in await page.inner_text(".summary")
    async with runtime.sessions() as session:
        assert await session.scalar(select(Ticket.ref)) == ref
        message = await session.scalar(select(Message))
    assert message is not None
    assert message.language == "it"
    assert [a["content_type"] for a in message.attachments] == ["image/png"]


@EMBEDDED
async def test_sending_the_same_form_twice_makes_one_ticket(
    live_bot: LiveBot, runtime: Runtime, page: Page, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)
    await page.goto(f"{base}/form")
    await fill(page, VALID)
    await page.click("#send", click_count=2)  # an impatient double click
    await page.wait_for_url(re.compile(r".*/form/done/.*"))
    ref = await reference_on(page)
    assert await count(runtime, Message) == 1  # both posts carried one token: one message
    await page.go_back()  # the form again (a fresh token), sent once more
    await page.wait_for_selector("#name")
    if not await page.input_value("#name"):  # the browser may not restore typed values
        await fill(page, VALID)
    await page.click("#send")
    await page.wait_for_selector("#added", timeout=20_000)
    assert ref not in await page.inner_text("#added")  # told it joined, not which one
    assert await count(runtime, Ticket) == 1


@EMBEDDED
async def test_the_form_works_without_javascript(
    live_bot: LiveBot, runtime: Runtime, browser: Browser, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)
    context = await browser.new_context(java_script_enabled=False, locale="nl-NL")
    try:
        page = await context.new_page()
        await page.goto(f"{base}/form")
        assert await page.inner_text("h1") == page_texts.texts("nl")["form_title"]
        await page.click("#send")  # everything empty
        assert await page.locator("p.error[id^=err-]").count() == 5  # the order is optional
        # Focused by the page itself (autofocus), not by a script: keyboard users start there.
        assert await page.locator("#error-summary:focus").count() == 1
        await fill(page, {**VALID, "type": "service", "model": ""})
        await page.click("#send")
        await reference_on(page)
    finally:
        await context.close()


@EMBEDDED
async def test_phone_width_has_no_sideways_scrolling(
    live_bot: LiveBot, runtime: Runtime, browser: Browser, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="ru-RU"
    )
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    try:
        page = await context.new_page()
        await page.goto(f"{base}/form")
        assert await page.evaluate(fits)
        button = await page.locator("#send").bounding_box()
        assert button is not None
        assert button["width"] > 250  # the card's full width, easy to tap
        await fill(page, {**VALID, "description": "Очень длинное описание " * 40})
        await page.click("#send")
        await reference_on(page)
        assert await page.evaluate(fits)
        await page.goto(f"{base}/status")
        assert await page.evaluate(fits)
    finally:
        await context.close()


@EMBEDDED
async def test_markup_in_every_field_is_shown_as_text(
    live_bot: LiveBot, runtime: Runtime, page: Page, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)
    await page.goto(f"{base}/form")
    hostile = {name: f"{VALID[name]} {XSS}" for name in VALID if name != "type"}
    await fill(page, {**hostile, "type": "product"})
    await page.click("#send")  # the contact is not valid: the form again
    assert await page.is_visible("#err-contact")
    assert await page.input_value("#contact") == hostile["contact"]
    assert await page.evaluate("window.__xss") is None
    await page.fill("#contact", VALID["contact"])
    await page.set_input_files(
        "#attachments", files=[FilePayload(name=f"{XSS}.png", mimeType="image/png", buffer=PNG)]
    )
    await page.click("#send")
    await reference_on(page)
    summary = await page.inner_text(".summary")
    assert summary.count("<script>window.__xss=1</script>") == 6  # every field but the contact
    assert 'script><img src=x onerror="window.__xss=2">\u202eevil.png' in summary  # no path
    assert "\u202e" in summary
    assert await page.locator(".summary img, .summary script").count() == 0
    assert await page.evaluate("window.__xss") is None


@EMBEDDED
async def test_the_form_works_inside_an_iframe(
    live_bot: LiveBot, runtime: Runtime, page: Page, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)

    async def shop(request: web.Request) -> web.Response:  # another site embedding the form
        return web.Response(
            content_type="text/html",
            text=(f'<h1>Shop</h1><iframe src="{base}/form" width="400" height="900"></iframe>'),
        )

    app = web.Application()
    app.router.add_get("/contact", shop)
    async with TestServer(app, host="localhost") as other_site:
        await page.goto(str(other_site.make_url("/contact")))
        await fill_in_frame(page)


async def fill_in_frame(page: Page) -> None:
    frame = page.frame_locator("iframe")
    await frame.locator("#name").fill(VALID["name"])
    for name in ("contact", "order", "model", "description", "solution"):
        await frame.locator(f"#{name}").fill(VALID[name])
    await frame.locator('input[name="type"][value="product"]').check()
    await frame.locator("#send").click()
    ref = frame.locator("#ticket-ref")
    await ref.wait_for(timeout=20_000)
    assert REF.fullmatch(await ref.inner_text())


@EMBEDDED
@pytest.mark.skipif(
    os.environ.get("INTAKE_SCREENSHOTS") != "1",
    reason="writes docs/form.png and docs/form-errors.png only with INTAKE_SCREENSHOTS=1",
)
async def test_screenshot_for_the_readme(
    live_bot: LiveBot, runtime: Runtime, browser: Browser, tmp_path: Path
) -> None:
    base = await start(live_bot, runtime, tmp_path)
    context = await browser.new_context(
        viewport={"width": 420, "height": 900}, device_scale_factor=1
    )
    try:
        page = await context.new_page()
        await page.goto(f"{base}/form")
        await fill(page, VALID)
        DOCS.mkdir(exist_ok=True)
        await page.screenshot(path=DOCS / "form.png", full_page=True)
        await page.set_viewport_size({"width": 375, "height": 900})
        await page.goto(f"{base}/form?lang=it")
        await fill(page, {**VALID, "contact": "anna.rossi@", "model": "", "order": ""})
        await page.fill("#description", "Non va")
        await page.click("#send")
        await page.wait_for_selector("#error-summary")
        await page.screenshot(path=DOCS / "form-errors.png", full_page=True)
    finally:
        await context.close()
    assert (DOCS / "form.png").stat().st_size > 10_000
    assert (DOCS / "form-errors.png").stat().st_size > 10_000


# --- issue 17: a form that asks only what it must, accessible, in every width ------------

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
VIEWS = pytest.mark.parametrize(
    ("lang", "viewport"),
    [("en", DESKTOP), ("it", PHONE), ("en", PHONE), ("it", DESKTOP)],
    ids=["en-desktop", "it-375", "en-375", "it-desktop"],
)
FITS = "document.documentElement.scrollWidth <= window.innerWidth"


@EMBEDDED
@VIEWS
async def test_errors_are_linked_focused_and_survive_a_language_switch(
    live_bot: LiveBot,
    runtime: Runtime,
    browser: Browser,
    tmp_path: Path,
    axe: Axe,
    lang: str,
    viewport: dict[str, int],
) -> None:
    """The pages run no script at all (CSP script-src 'none'): what the browser does here
    (autofocus, fragment links, the language buttons) is what it does without JavaScript."""
    base = await start(live_bot, runtime, tmp_path)
    other = "it" if lang == "en" else "en"
    texts, other_texts = page_texts.texts(lang), page_texts.texts(other)
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(f"{base}/form?lang={lang}")
        assert await axe(page) == []
        assert texts["order_optional"] in await page.inner_text("label[for=order]")
        assert texts["model_condition"] in await page.inner_text("label[for=model]")
        assert str(MIN_DESCRIPTION_CHARS) in await page.inner_text("#form-conditions")
        assert texts["privacy_text"] in await page.inner_text("#privacy")
        await fill(page, {**VALID, "contact": "not-a-contact", "model": "", "order": ""})
        await page.fill("#description", "Too short")
        await page.press("#name", "Enter")  # Enter sends the form; it does not switch language
        await page.wait_for_selector("#error-summary")
        assert await page.evaluate("document.activeElement.id") == "error-summary"
        assert await page.evaluate(FITS)
        assert await axe(page) == []
        links = page.locator("#error-summary a")
        assert await links.count() == 3  # contact, model, description; never the order
        await page.click("#error-summary a[href='#contact']")
        assert await page.evaluate("location.hash") == "#contact"
        assert await page.locator("#contact").is_visible()

        await page.click(f"button[name=relang][value={other}]")  # typed values go along
        await page.wait_for_selector(f"html[lang={other}]")
        assert await page.input_value("#contact") == "not-a-contact"
        assert await page.input_value("#name") == VALID["name"]
        assert await page.input_value("#description") == "Too short"
        assert await page.is_checked("#type-product")
        assert await page.inner_text("#err-contact") == other_texts["err_contact"]
        assert await count(runtime, Message) == 0

        await page.fill("#contact", VALID["contact"])
        await page.fill("#model", VALID["model"])
        await page.fill("#description", VALID["description"])
        await page.click("#send")
        await reference_on(page)
        assert await page.evaluate(FITS)
        assert await axe(page) == []
    finally:
        await context.close()


@EMBEDDED
async def test_the_privacy_notice_links_the_configured_page(
    live_bot: LiveBot, runtime: Runtime, page: Page, tmp_path: Path
) -> None:
    base = await live_bot(
        [form_plug(runtime, tmp_path / "uploads", privacy_url="https://shop.example/privacy")]
    )
    await page.goto(f"{base}/form?lang=it")
    link = page.locator("#privacy a")
    assert await link.get_attribute("href") == "https://shop.example/privacy"
    assert await link.inner_text() == page_texts.texts("it")["privacy_link"]
