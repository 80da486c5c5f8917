"""A live bot on a loopback port and a headless Chromium to drive it.

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run); Playwright only
drives it. A failing test leaves a screenshot of every page it opened in
tests/artifacts/ (ignored by git).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.ports import Plug

CHROMIUM = os.environ.get("INTAKE_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"

LiveBot = Callable[[Sequence[Plug]], Coroutine[Any, Any, str]]
Axe = Callable[..., Coroutine[Any, Any, list[dict[str, Any]]]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def live_bot(runtime: Runtime) -> AsyncIterator[LiveBot]:
    """Start the whole bot (web app, worker, sender, the given channels); returns its URL."""
    runners: list[web.AppRunner] = []

    async def start(plugs: Sequence[Plug]) -> str:
        runner = web.AppRunner(make_app(runtime, background=True, plugs=plugs))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path, args=FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def context(
    browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[BrowserContext]:
    """A fresh profile (own localStorage); screenshots of its pages if the test failed."""
    ctx = await browser.new_context()
    yield ctx
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-120:]
        for index, page in enumerate(ctx.pages):
            await page.screenshot(path=ARTIFACTS / f"{name}-{index}.png", full_page=True)
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
def axe() -> Axe:
    """axe-core's violations on a page as it is now (the npm package, injected from disk).

    `within` limits the check to one element (a CSS selector), e.g. the widget on a host page.
    """
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: make install runs npm ci in tests/browser/axe")

    async def violations(page: Page, within: str | None = None) -> list[dict[str, Any]]:
        # Evaluated through the DevTools protocol: the pages' CSP (script-src 'self') would
        # refuse a script tag, and it must stay on while the page is checked.
        await page.evaluate(AXE.read_text(encoding="utf-8"))
        found: list[dict[str, Any]] = await page.evaluate(
            """async (within) => {
                const result = await axe.run(within ? document.querySelector(within) : document);
                return result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map((n) => n.target.join(' ')),
                }));
            }""",
            within,
        )
        return found

    return violations
