"""The status page over HTTP, on both backends: a one-time link mailed to the ticket's own
address, one answer for every look-up, limits counted before they decide."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply, TicketStatus
from bot.contract.limits import Limiter
from bot.staff.desk import TicketDesk
from bot.store.models import Ticket
from bot.text import i18n
from channels import page_texts
from tests.channels.test_webform import form_plug
from tests.helpers import complaint, outbox_rows

Client = TestClient[web.Request, web.Application]
EMAIL = "marco.bianchi@example.com"
PHONE_TEXT = "Mi chiami al telefono +39 333 765 4321."


@pytest.fixture
async def client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[Client]:
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 3, 3600)
    plug = form_plug(runtime, tmp_path / "uploads")
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as test_client:
        yield test_client


async def open_ticket(runtime: Runtime, clock: VirtualClock) -> str:
    """A complaint by email, decided by the worker; returns its reference."""
    text = "Il mio inverter Fronius Primo 5.0-1 non funziona più, ordine n. 778812. " + PHONE_TEXT
    await runtime.ingest.accept(complaint(EMAIL, text, clock.now(), channel=Channel.EMAIL))
    await runtime.worker.drain()
    async with runtime.sessions() as session:
        ref = await session.scalar(select(Ticket.ref))
    assert isinstance(ref, str)
    return ref


async def look_up(
    client: Client,
    ref: str,
    contact: str,
    lang: str = "en",
) -> tuple[int, str]:
    response = await client.post("/status", data={"ref": ref, "contact": contact, "lang": lang})
    return response.status, await response.text()


async def mailed_links(runtime: Runtime, captured: dict[int, OutboundReply]) -> list[str]:
    """The tokens mailed so far (one-time links go out at once, not through the outbox)."""
    await runtime.lookup.settled()
    links = [r for r in captured.values() if r.outbox_id == 0]
    captured.pop(0, None)
    return [r.text.split("\n")[1].strip() for r in links]


async def test_the_right_pair_gets_a_link_by_mail_that_shows_the_ticket_once(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    ref = await open_ticket(runtime, clock)
    desk = TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock)
    clock.set(clock.now() + timedelta(hours=26))
    await desk.change_status(
        ref, TicketStatus.INVESTIGATING, note="A technician <b>checks</b>", actor="staff"
    )
    status, body = await look_up(client, ref.lower(), " Marco.Bianchi@Example.com ", "it")
    assert status == 200
    assert 'id="result"' not in body  # nothing shown to whoever typed the pair
    assert 'id="link-sent"' in body
    [token] = await mailed_links(runtime, captured)
    opened = await client.get(f"/status/view?token={token}&lang=it")
    assert opened.status == 200
    assert 'id="result"' not in await opened.text()  # a scanner's GET spends nothing
    shown = await client.post("/status/view", data={"token": token, "lang": "it"})
    body = await shown.text()
    assert shown.status == 200
    assert f'<bdi class="ref" id="view-ref">{ref}</bdi>' in body
    investigating = i18n.status_label("investigating", "it")
    assert f'<dd id="current-status">{investigating}</dd>' in body
    history = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td>", body)
    assert history == [i18n.status_label("awaiting_details", "it"), investigating]
    assert "A technician &lt;b&gt;checks&lt;/b&gt;" in body
    due = re.search(r'<dd id="next-due">([^<]+)</dd>', body)
    assert due is not None
    assert "novembre" in due.group(1)  # Babel's Italian month
    again = await client.post("/status/view", data={"token": token})
    assert again.status == 410
    assert 'id="result"' not in await again.text()


async def test_every_look_up_answers_the_same_and_only_the_owner_gets_mail(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 10, 3600)
    ref = await open_ticket(runtime, clock)
    answers = [
        await look_up(client, ref, "someone.else@example.com"),
        await look_up(client, "C-2026-999999", EMAIL),
        await look_up(client, ref, "+39 333 765 4321"),
    ]  # a phone gets no mail
    assert await mailed_links(runtime, captured) == []
    right = await look_up(client, ref, EMAIL)
    assert len(await mailed_links(runtime, captured)) == 1
    strip = re.compile(r'value="[^"]*"')
    pages = {(status, strip.sub("", body)) for status, body in [*answers, right]}
    assert len(pages) == 1  # the same status and words whether or not anything matched


async def test_a_reference_typed_with_the_attackers_own_address_unlocks_nothing(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    """Issue 11, 1: a form naming the victim's reference made the attacker's contact count."""
    ref = await open_ticket(runtime, clock)
    text = f"I withdraw my complaint. Order number: {ref}. Email: mallory@evil.test"
    await runtime.ingest.accept(
        complaint("b:mallory-browser-0000000000", text, clock.now(), channel=Channel.WEBFORM)
    )
    await runtime.worker.drain()
    await look_up(client, ref, "mallory@evil.test")
    assert await mailed_links(runtime, captured) == []
    async with runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.ref == ref))
    assert ticket is not None
    assert ticket.state_version == 1
    assert "withdraw" not in str(ticket.details)


async def test_parallel_look_ups_are_counted_before_any_is_answered(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    """Issue 11, 4: 80 parallel wrong look-ups all got through a limit of 10."""
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 10, 3600)
    runtime.lookup.per_reference = Limiter(runtime.redis, runtime.keys, "lookup-ref", 1000, 3600)
    answers = await asyncio.gather(*[look_up(client, f"C-2026-{n:06d}", EMAIL) for n in range(80)])
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(200) == 10
    assert statuses.count(429) == 70


async def test_guesses_at_one_reference_are_limited_whoever_makes_them(
    runtime: Runtime, clock: VirtualClock
) -> None:
    allowed = [
        (await runtime.lookup.request_link("C-2026-000001", EMAIL, f"198.51.100.{n}")).allowed
        for n in range(8)
    ]
    assert allowed == [True] * 5 + [False] * 3


async def test_a_limited_visitor_is_told_when_to_try_again(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    for attempt in range(3):
        status, _ = await look_up(client, f"C-2026-00000{attempt + 5}", EMAIL)
        assert status == 200
    response = await client.post("/status", data={"ref": "C-2026-000001", "contact": EMAIL})
    body = await response.text()
    assert response.status == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert "{time}" not in body
    assert page_texts.texts("en")["too_many_status"].split("{time}")[0] in body
    clock.set(clock.now() + timedelta(hours=1))  # the next hour's window
    status, _ = await look_up(client, "C-2026-000001", EMAIL)
    assert status == 200


async def test_a_reference_in_the_link_is_filled_in(client: Client) -> None:
    response = await client.get(
        "/status?ref=C-2026-000123%22%3E%3Cscript%3E", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    body = await response.text()
    assert response.status == 200
    assert 'value="C-2026-000123&#34;&gt;&lt;script&gt;"' in body
    assert page_texts.texts("zh")["status_title"] in body
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("trusted_proxies", [0, 1])
async def test_behind_a_trusted_proxy_each_visitor_has_their_own_attempts(
    runtime: Runtime, tmp_path: Path, trusted_proxies: int
) -> None:
    """The forwarded address counts only when the operator says a proxy of theirs set it."""
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 2, 3600)
    plug = form_plug(runtime, tmp_path / "uploads", trusted_proxies=trusted_proxies)
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as proxied:
        statuses = []
        for n, visitor in enumerate(("203.0.113.7", "203.0.113.7", "198.51.100.9")):
            response = await proxied.post(
                "/status",
                data={"ref": f"C-2026-00099{n}", "contact": EMAIL},
                headers={"X-Forwarded-For": f"10.9.9.9, {visitor}"},
            )
            statuses.append(response.status)
    # Trusted: the third visitor is someone else. Not trusted: all three are the proxy.
    assert statuses == ([200, 200, 200] if trusted_proxies else [200, 200, 429])


async def decided_with_link(
    runtime: Runtime, clock: VirtualClock, status: TicketStatus = TicketStatus.RESOLVED
) -> tuple[str, str]:
    """A ticket decided by staff; returns its reference and the appeal link's token."""
    ref = await open_ticket(runtime, clock)
    desk = TicketDesk(
        runtime.sessions, runtime.throttle, runtime.policy, clock, public_url="https://bot.test/"
    )
    change = await desk.change_status(ref, status, note="Replaced under warranty.", actor="staff")
    [decision] = [r for r in await outbox_rows(runtime) if r.id == change.outbox_id]
    found = re.search(r"https://bot\.test/appeal\?token=([\w-]+)", decision.text)
    assert found is not None, decision.text
    return ref, found.group(1)


async def ticket_by_ref(runtime: Runtime, ref: str) -> Ticket:
    async with runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.ref == ref))
    assert ticket is not None
    return ticket


async def test_the_decisions_appeal_link_reopens_the_same_ticket_once(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, token = await decided_with_link(runtime, clock, TicketStatus.REJECTED)
    decided = await ticket_by_ref(runtime, ref)

    opened = await client.get(f"/appeal?token={token}&lang=it")
    assert opened.status == 200
    assert f'value="{token}"' in await opened.text()
    await runtime.worker.drain()
    assert (await ticket_by_ref(runtime, ref)).status == "rejected"  # a GET spends nothing

    filed = await client.post("/appeal", data={"token": token, "lang": "it"})
    assert filed.status == 200
    assert page_texts.texts("it")["appeal_done"] in await filed.text()
    [outcome] = await runtime.worker.drain()
    again = await client.post("/appeal", data={"token": token})
    assert again.status == 410
    assert await runtime.worker.drain() == []

    appealed = await ticket_by_ref(runtime, ref)
    assert (outcome.ticket_id, appealed.status) == (decided.id, "escalated")
    assert appealed.state_version == decided.state_version + 1
    replies = [r for r in await outbox_rows(runtime) if r.state_version == appealed.state_version]
    assert [(r.ticket_id, r.channel, r.address) for r in replies] == [(decided.id, "email", EMAIL)]


async def test_an_appeal_link_after_the_window_opens_a_linked_ticket(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, token = await decided_with_link(runtime, clock)
    clock.set(clock.now() + timedelta(days=runtime.policy.current.sla.appeal_days + 1))

    filed = await client.post("/appeal", data={"token": token})
    [outcome] = await runtime.worker.drain()

    assert filed.status == 200
    old = await ticket_by_ref(runtime, ref)
    async with runtime.sessions() as session:
        new = await session.get_one(Ticket, outcome.ticket_id)
    assert (old.status, new.status, new.appeal_of_id) == ("resolved", "escalated", old.id)
    assert new.details["order_number"] == old.details["order_number"]


async def test_unknown_or_malformed_appeal_tokens_file_nothing(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, token = await decided_with_link(runtime, clock)
    for forged in ["", "x", token[:-1] + ("A" if token[-1] != "A" else "B"), "a" * 5000]:
        answer = await client.post("/appeal", data={"token": forged})
        assert answer.status == 410
    assert await runtime.worker.drain() == []
    assert (await ticket_by_ref(runtime, ref)).status == "resolved"


async def test_without_a_public_url_a_decision_says_how_to_appeal_by_reply_only(
    runtime: Runtime, clock: VirtualClock
) -> None:
    ref = await open_ticket(runtime, clock)
    change = await runtime.desk.change_status(
        ref, TicketStatus.RESOLVED, note="Done.", actor="staff"
    )
    [decision] = [r for r in await outbox_rows(runtime) if r.id == change.outbox_id]
    assert "/appeal?token=" not in decision.text
    assert "ricorso" in decision.text  # the Italian customer's word to reply with
    assert (await ticket_by_ref(runtime, ref)).appeal_token is None
