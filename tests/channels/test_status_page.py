"""The status page over HTTP, on both backends: right pair, wrong pair, throttling."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot import i18n
from bot.clock import VirtualClock
from bot.domain import Channel, TicketStatus
from bot.models import Ticket
from bot.runtime import Runtime
from bot.staff import TicketDesk
from bot.web.app import make_app
from channels import page_texts
from tests.channels.test_webform import form_plug
from tests.helpers import complaint

Client = TestClient[web.Request, web.Application]
EMAIL = "marco.bianchi@example.com"
PHONE_TEXT = "Mi chiami al telefono +39 333 765 4321."


@pytest.fixture
async def client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[Client]:
    plug = form_plug(runtime, tmp_path / "uploads", status_attempts_per_ip_per_hour=3)
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as test_client:
        yield test_client


async def open_ticket(runtime: Runtime, clock: VirtualClock) -> str:
    """A complaint by email, decided by the worker; returns its reference."""
    text = ("Il mio inverter Fronius Primo 5.0-1 non funziona più, ordine n. 778812. "
            + PHONE_TEXT)
    await runtime.ingest.accept(complaint(EMAIL, text, clock.now(), channel=Channel.EMAIL))
    await runtime.worker.drain()
    async with runtime.sessions() as session:
        ref = await session.scalar(select(Ticket.ref))
    assert isinstance(ref, str)
    return ref


async def look_up(client: Client, ref: str, contact: str, lang: str = "en",
                  ) -> tuple[int, str]:
    response = await client.post("/status", data={"ref": ref, "contact": contact,
                                                  "lang": lang})
    return response.status, await response.text()


async def test_the_right_pair_shows_status_history_and_next_date(
        client: Client, runtime: Runtime, clock: VirtualClock) -> None:
    ref = await open_ticket(runtime, clock)
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    clock.set(clock.now() + timedelta(hours=26))
    await desk.change_status(ref, TicketStatus.INVESTIGATING, note="A technician <b>checks</b>",
                             actor="staff")
    status, body = await look_up(client, ref.lower(), " Marco.Bianchi@Example.com ", "it")
    assert status == 200
    assert f'<bdi class="ref">{ref}</bdi>' in body
    investigating = i18n.status_label("investigating", "it")
    assert f'<dd id="current-status">{investigating}</dd>' in body
    history = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td>", body)
    assert history == [i18n.status_label("awaiting_details", "it"), investigating]
    assert "A technician &lt;b&gt;checks&lt;/b&gt;" in body
    due = re.search(r'<dd id="next-due">([^<]+)</dd>', body)
    assert due is not None
    assert "2026" in due.group(1)
    assert "novembre" in due.group(1)  # Babel's Italian month
    by_phone, phone_body = await look_up(client, ref, "+39 333 765 4321")
    assert by_phone == 200
    assert i18n.status_label("investigating", "en") in phone_body


async def test_a_wrong_pair_says_so_without_saying_which_half(
        client: Client, runtime: Runtime, clock: VirtualClock) -> None:
    ref = await open_ticket(runtime, clock)
    wrong_contact = await look_up(client, ref, "someone.else@example.com")
    wrong_ref = await look_up(client, "C-2026-999999", EMAIL)
    empty = await look_up(client, "", "")
    for status, body in (wrong_contact, wrong_ref, empty):
        assert status == 404
        assert page_texts.texts("en")["no_match"] in body
        assert 'id="result"' not in body
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong_contact[1]) == strip.sub("", wrong_ref[1])


async def test_repeated_wrong_attempts_are_throttled_even_for_the_right_pair(
        client: Client, runtime: Runtime, clock: VirtualClock) -> None:
    ref = await open_ticket(runtime, clock)
    for attempt in range(3):
        status, _ = await look_up(client, f"C-2026-00000{attempt + 5}", EMAIL)
        assert status == 404
    status, body = await look_up(client, ref, EMAIL)
    assert status == 429
    assert page_texts.texts("en")["too_many_status"] in body
    clock.set(clock.now() + timedelta(hours=1))  # the next hour's window
    status, _ = await look_up(client, ref, EMAIL)
    assert status == 200


async def test_a_reference_in_the_link_is_filled_in(client: Client) -> None:
    response = await client.get("/status?ref=C-2026-000123%22%3E%3Cscript%3E",
                                headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    body = await response.text()
    assert response.status == 200
    assert 'value="C-2026-000123&#34;&gt;&lt;script&gt;"' in body
    assert page_texts.texts("zh")["status_title"] in body
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("trusted_proxies", [0, 1])
async def test_behind_a_trusted_proxy_each_visitor_has_their_own_attempts(
        runtime: Runtime, tmp_path: Path, trusted_proxies: int) -> None:
    """The forwarded address counts only when the operator says a proxy of theirs set it."""
    plug = form_plug(runtime, tmp_path / "uploads", status_attempts_per_ip_per_hour=2,
                     trusted_proxies=trusted_proxies)
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as proxied:
        statuses = []
        for visitor in ("203.0.113.7", "203.0.113.7", "198.51.100.9"):
            response = await proxied.post(
                "/status", data={"ref": "C-2026-000999", "contact": EMAIL},
                headers={"X-Forwarded-For": f"10.9.9.9, {visitor}"})
            statuses.append(response.status)
    # Trusted: the third visitor is someone else. Not trusted: all three are the proxy.
    assert statuses == ([404, 404, 404] if trusted_proxies else [404, 404, 429])
