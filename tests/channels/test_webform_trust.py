"""Issue 11 on the contact form: the browser is who writes, what it types is a claim."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import ClientSession, DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.domain import Channel, Decision, InboundMessage, OutboundReply, TicketStatus
from bot.staff.desk import TicketDesk
from bot.stages.outbox import Sender
from bot.store.models import Ticket
from channels import page_texts
from channels.webform import FormKeys, WebformSender
from tests.channels.test_webform import (
    VALID,
    done_page,
    form_plug,
    messages,
    send,
    settle,
    token_of,
)
from tests.helpers import FlakySender

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def app(runtime: Runtime, tmp_path: Path) -> web.Application:
    return make_app(
        runtime,
        plugs=[form_plug(runtime, tmp_path / "uploads", frame_ancestors="https://shop.example")],
    )


@pytest.fixture
async def victim(runtime: Runtime) -> Ticket:
    """A customer who wrote by email; the form's attacker knows their address."""
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.EMAIL,
            external_id="<v1@example.com>",
            sender="anna.rossi@example.com",
            text="My inverter Fronius Primo 5.0-1 is broken, order 100234, I want a refund.",
            received_at=runtime.clock.now(),
        )
    )
    await runtime.worker.drain()
    async with runtime.sessions() as session:
        ticket = await session.get_one(Ticket, 1)
        session.expunge(ticket)
    return ticket


async def test_a_form_typing_a_customers_email_adds_nothing_and_says_nothing_of_them(
    app: web.Application, runtime: Runtime, victim: Ticket
) -> None:
    """Issue 11, 2: the attacker's own confirmation said "we have added ... to C-..."."""
    async with TestClient(TestServer(app)) as attacker:
        _, location, _ = await send(
            attacker, {"csrf": await token_of(attacker), **VALID, "serial": "SN-ATTACKER"}
        )
        [outcome] = await runtime.worker.drain()
        await runtime.sender.run_once()
        pages = [await done_page(attacker, location) for _ in range(10)]
    assert outcome.decision is Decision.COLLAPSED  # a claim: never answered about C-...1
    assert page_texts.texts("en")["done_added"] not in pages[-1]
    assert str(victim.ref) not in pages[-1]
    async with runtime.sessions() as session:
        ticket = await session.get_one(Ticket, victim.id)
    assert ticket.details == victim.details
    assert ticket.state_version == victim.state_version


async def test_the_confirmation_shows_what_was_typed_only_to_the_browser_that_typed_it(
    app: web.Application, runtime: Runtime
) -> None:
    async with TestClient(TestServer(app)) as visitor, ClientSession() as stranger:
        _, location, _ = await send(visitor, {"csrf": await token_of(visitor), **VALID})
        await settle(runtime)
        mine = await done_page(visitor, location)
        response = await stranger.get(visitor.make_url(location))  # the URL, elsewhere
        theirs = await response.text()
    assert "Anna Rossi" in mine
    assert "Anna Rossi" not in theirs
    assert VALID["description"] not in theirs
    assert 'id="ticket-ref"' in theirs  # the reference alone is no personal data


async def test_parallel_posts_from_one_address_are_counted_before_any_is_stored(
    runtime: Runtime, tmp_path: Path
) -> None:
    """Issue 11, 4: 30 parallel posts from one address all got through a limit of 20."""
    limited = form_plug(runtime, tmp_path / "uploads", per_ip_per_hour=20)
    async with TestClient(TestServer(make_app(runtime, plugs=[limited]))) as client:
        tokens = [await token_of(client) for _ in range(30)]
        answers = await asyncio.gather(
            *[
                send(client, {"csrf": token, **VALID, "contact": f"c{n}@example.com"})
                for n, token in enumerate(tokens)
            ]
        )
    statuses = sorted(status for status, _, _ in answers)
    assert statuses.count(303) == 20
    assert statuses.count(429) == 10
    assert len(await messages(runtime)) == 20


async def test_a_token_is_bound_to_its_browser_and_foreign_pages_cannot_post_it(
    app: web.Application, runtime: Runtime
) -> None:
    async with (
        TestClient(TestServer(app)) as browser,
        TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as iframe,
    ):
        await token_of(browser)  # the first visit sets the visitor cookie
        bound = await token_of(browser)
        stolen = await iframe.post(
            "/form",
            data={"csrf": bound, **VALID},
            headers={"Origin": "https://shop.example"},
            allow_redirects=False,
        )
        foreign = await browser.post(
            "/form",
            data={"csrf": bound, **VALID},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )
        unbound = await token_of(iframe)  # a cross-site frame that keeps no cookie
        refused = [
            await iframe.post(
                "/form",
                data={"csrf": unbound, **VALID},
                headers={"Origin": "https://evil.example"},
                allow_redirects=False,
            )
        ]
        framed = await iframe.post(
            "/form",
            data={"csrf": unbound, **VALID},
            headers={"Origin": "https://shop.example"},
            allow_redirects=False,
        )
    assert stolen.status == 403  # bound to the browser's cookie, which the frame lacks
    assert foreign.status == 403  # the right cookie, but posted from a foreign page
    assert [r.status for r in refused] == [403]
    assert framed.status == 303  # a site allowed to frame the form
    assert len(await messages(runtime)) == 1


async def test_a_browser_that_proves_the_email_it_typed_writes_as_that_customer(
    app: web.Application, runtime: Runtime, victim: Ticket, captured: dict[int, OutboundReply]
) -> None:
    """A claim becomes proof by a one-time link mailed to the typed address."""
    async with TestClient(TestServer(app)) as customer:
        _, location, _ = await send(customer, {"csrf": await token_of(customer), **VALID})
        await runtime.worker.drain()
        page = await done_page(customer, location)
        assert 'id="proof-sent"' in page
        await runtime.lookup.settled()
        mailed = captured.pop(0)
        assert mailed.to == "anna.rossi@example.com"
        token = mailed.text.split("\n")[1].strip()
        opened = await customer.get(f"/verify?token={token}")
        assert opened.status == 200
        proven = await customer.post("/verify", data={"token": token})
        assert proven.status == 200
        again = await customer.post("/verify", data={"token": token})
        assert again.status == 410
        await send(
            customer,
            {
                "csrf": await token_of(customer),
                **VALID,
                "description": "The inverter still shows error F23 each morning.",
                "serial": "SN-PROVEN-1",
            },
        )
        [outcome] = await runtime.worker.drain()
    assert outcome.ticket_id == victim.id
    assert "claims" not in outcome.reason
    async with runtime.sessions() as session:
        ticket = await session.get_one(Ticket, victim.id)
    assert ticket.details.get("serial_number") == "SN-PROVEN-1"  # it was waiting for it


async def test_the_daily_cap_counts_an_inbox_whatever_channel_reached_it(
    app: web.Application, runtime: Runtime
) -> None:
    """Issue 11, 9: form + email gave one inbox 40 replies a day (20 per channel)."""
    mail = FlakySender(Channel.EMAIL, failures=0)
    sender = Sender(runtime.sessions, {Channel.EMAIL: mail}, runtime.clock, daily_cap=2)
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.EMAIL,
            external_id="<a1@example.com>",
            sender="anna.rossi@example.com",
            text="My inverter Fronius Primo 5.0-1 is broken.",
            received_at=runtime.clock.now(),
        )
    )
    [by_mail] = await runtime.worker.drain()
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, runtime.clock)
    await desk.change_status(
        by_mail.ticket_ref or "", TicketStatus.INVESTIGATING, note="", actor="agent"
    )
    assert await sender.run_once() == 2  # the acknowledgment and the status change
    async with TestClient(TestServer(app)) as browser:
        _, location, _ = await send(
            browser, {"csrf": await token_of(browser), **VALID, "contact": "a.stranger@example.com"}
        )
    sid = location.split("/")[-1].split("?")[0]
    form_sender = WebformSender(
        runtime.redis,
        FormKeys(runtime.keys.prefix),
        ttl_s=60,
        later=mail,
        under_cap=sender.under_cap,
    )
    reply = OutboundReply(
        outbox_id=99,
        channel=Channel.WEBFORM,
        to="b:visitor",
        text="Hi",
        language="en",
        ticket_ref="C-2026-000002",
        in_reply_to=f"form:{sid}",
    )
    assert (await form_sender.send(reply)).ok  # on its confirmation page
    mailed = await form_sender.send(reply.model_copy(update={"outbox_id": 100}))
    assert mailed.ok
    assert mailed.delivered_to == "a.stranger@example.com"
    async with TestClient(TestServer(app)) as browser:  # now the inbox that had two
        _, location, _ = await send(browser, {"csrf": await token_of(browser), **VALID})
    sid = location.split("/")[-1].split("?")[0]
    anna = reply.model_copy(update={"outbox_id": 101, "in_reply_to": f"form:{sid}"})
    assert (await form_sender.send(anna)).ok
    capped = await form_sender.send(anna.model_copy(update={"outbox_id": 102}))
    assert capped.permanent
    assert "already got" in (capped.error or "")
