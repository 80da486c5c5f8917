"""The agents' ticket pages over HTTP, on both backends: the list and its filters, one
ticket whole, the status change previewed then confirmed, notes for staff, and customer
text that stays text."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, InboundMessage, OutboundReply, TicketStatus
from bot.staff.accounts import Role
from bot.store.models import AuditEntry, Ticket, TicketEvent
from bot.text.i18n import status_label
from tests.helpers import complaint, outbox_rows, staff_account
from tests.web.test_console_auth import PASSWORD, sign_in

Client = TestClient[Any, Any]
ITALIAN = (
    "Il mio inverter si spegne ogni mattina con errore E-2032, ordine n. 778812. "
    "Vorrei la sostituzione."
)
ENGLISH = "My inverter SUN2000-5KTL-M1 is broken, order ORD-1234, I want a refund."
DUTCH = "De monteur kwam te laat voor de afspraak en was onbeleefd. Ik wil excuses."
NOTE_IT = "Il tecnico verifica il suo inverter questa settimana."


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


@pytest.fixture
async def agent(client: Client, runtime: Runtime) -> str:
    """A signed-in agent's name."""
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    assert await sign_in(client, name) == 303
    return name


async def opened(runtime: Runtime, message: InboundMessage) -> str:
    """Ingest one complaint and let the worker decide it: the ticket's ref."""
    await runtime.ingest.accept(message)
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED, outcome
    async with runtime.sessions() as session:
        ticket = await session.get_one(Ticket, outcome.ticket_id)
    assert ticket.ref is not None
    return ticket.ref


async def state(runtime: Runtime, ref: str) -> tuple[str, int]:
    async with runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.ref == ref))
    assert ticket is not None
    return ticket.status, ticket.state_version


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def listed(page: str) -> list[str]:
    """The refs the list shows, in its order."""
    return re.findall(r'<a class="ref" href="/console/tickets/(C-[0-9-]+)">', page)


def preview_text(page: str) -> str:
    found = re.search(r'<div class="text" dir="auto" id="preview-text">(.*?)</div>', page, re.S)
    assert found is not None, page
    return html.unescape(found.group(1))


async def post_status(client: Client, ref: str, **fields: str) -> tuple[int, str]:
    page = await client.get(f"/console/tickets/{ref}")
    answer = await client.post(
        f"/console/tickets/{ref}/status",
        data={"csrf": csrf(await page.text()), **fields},
        allow_redirects=False,
    )
    return answer.status, await answer.text()


# --- who may -------------------------------------------------------------------------------


async def test_strangers_go_to_the_sign_in_and_an_agent_sees_the_list(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    away = await client.get(f"/console/tickets/{ref}", allow_redirects=False)
    assert away.status == 303
    assert away.headers["Location"] == f"/console/login?next=/console/tickets/{ref}"
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    assert await sign_in(client, name) == 303
    page = await client.get("/console/tickets")
    assert page.status == 200
    assert listed(await page.text()) == [ref]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_forms_without_the_sessions_token_change_nothing(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    ref = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    before, rows = await state(runtime, ref), len(await outbox_rows(runtime))
    for path, fields in (
        ("status", {"status": "investigating", "step": "confirm", "version": "1"}),
        ("note", {"internal_note": "a note"}),
    ):
        answer = await client.post(
            f"/console/tickets/{ref}/{path}", data={"csrf": "forged", **fields}
        )
        assert answer.status == 403
    assert await state(runtime, ref) == before
    assert len(await outbox_rows(runtime)) == rows
    async with runtime.sessions() as session:
        assert await session.scalar(select(TicketEvent).where(TicketEvent.note == "a note")) is None


@pytest.mark.parametrize(
    "ref", ["C-2026-999999", "C-2026-1", "c-2026-00000x", "%3Cscript%3Ealert(1)"]
)
async def test_unknown_and_malformed_refs_get_the_same_404_page(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str, ref: str
) -> None:
    known = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    missing = await client.get(f"/console/tickets/{ref}")
    assert missing.status == 404
    body = await missing.text()
    assert 'id="missing"' in body
    assert "alert(1)" not in body  # the ref is not echoed
    token = csrf(await (await client.get(f"/console/tickets/{known}")).text())
    for path, fields in (
        ("status", {"status": "investigating", "note": "x", "step": "preview"}),
        ("note", {"internal_note": "x"}),
    ):
        answer = await client.post(f"/console/tickets/{ref}/{path}", data={"csrf": token, **fields})
        assert (answer.status, await answer.text()) == (404, body)


# --- the list ------------------------------------------------------------------------------


async def test_the_list_filters_by_status_channel_category_and_language(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    italian = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    clock.set(clock.now() + timedelta(minutes=5))
    english = await opened(
        runtime, complaint("chat-session-1", ENGLISH, clock.now(), channel=Channel.WEBCHAT)
    )
    clock.set(clock.now() + timedelta(minutes=5))
    dutch = await opened(runtime, complaint("piet@example.nl", DUTCH, clock.now()))
    clock.set(clock.now() + timedelta(minutes=5))
    await runtime.desk.change_status(
        italian, TicketStatus.INVESTIGATING, note=NOTE_IT, actor="colleague"
    )

    async def shown(query: str) -> list[str]:
        page = await client.get(f"/console/tickets?{query}")
        assert page.status == 200
        return listed(await page.text())

    assert await shown("") == [italian, dutch, english]  # newest change first
    assert await shown("status=investigating") == [italian]
    assert await shown("channel=webchat") == [english]
    assert await shown("channel=email") == [italian, dutch]
    assert await shown("category=service") == [dutch]
    assert await shown("category=product") == [italian, english]
    assert await shown("language=it") == [italian]
    assert await shown("language=nl&channel=email") == [dutch]
    assert await shown("language=nl&channel=webchat") == []
    assert await shown("status=no-such&channel=fax&clock=soon") == [italian, dutch, english]


async def test_at_risk_and_overdue_list_the_open_tickets_the_sweeper_marked(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    late = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    clock.set(clock.now() + timedelta(days=1))
    near = await opened(runtime, complaint("bob@example.com", ENGLISH, clock.now()))
    async with runtime.sessions() as session:
        due = await session.scalar(select(Ticket.resolve_due).where(Ticket.ref == late))
    assert due is not None
    clock.set(due + timedelta(hours=1))  # the first one's date passed, the second one's is near
    await runtime.sweeper.sweep()
    fresh = await opened(runtime, complaint("piet@example.nl", DUTCH, clock.now()))

    async def shown(query: str) -> list[str]:
        return listed(await (await client.get(f"/console/tickets?{query}")).text())

    assert await shown("clock=overdue") == [late]
    assert await shown("clock=at_risk") == [near]
    assert set(await shown("")) == {late, near, fresh}
    page = await (await client.get("/console/tickets")).text()
    assert 'class="tag bad">overdue' in page
    assert 'class="tag warn">at risk' in page

    await runtime.desk.change_status(near, TicketStatus.RESOLVED, note="fixed", actor="colleague")
    assert await shown("clock=at_risk") == []  # decided: nothing left to act on


async def test_the_list_pages_by_keyset_without_losing_or_repeating_a_ticket(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    for n in range(30):  # one batch: the same time of change, told apart by id
        await runtime.ingest.accept(complaint(f"customer{n}@example.com", ENGLISH, clock.now()))
    assert len(await runtime.worker.drain()) == 30
    page = await (await client.get("/console/tickets?channel=email")).text()
    first = listed(page)
    found = re.search(r'<a href="([^"]+)" id="next-page">', page)
    assert found is not None
    assert "channel=email" in html.unescape(found.group(1))  # the filters are kept
    second_page = await (
        await client.get(f"/console/tickets{html.unescape(found.group(1))}")
    ).text()
    second = listed(second_page)
    assert 'id="next-page"' not in second_page
    assert (len(first), len(second)) == (25, 5)
    async with runtime.sessions() as session:
        refs = list(await session.scalars(select(Ticket.ref).order_by(Ticket.id.desc())))
    assert first + second == refs


# --- one ticket ----------------------------------------------------------------------------


async def test_a_ticket_shows_its_thread_across_channels_in_time_order(
    client: Client,
    runtime: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
    agent: str,
) -> None:
    ref = await opened(runtime, complaint("anna.rossi@example.com", ENGLISH, clock.now()))
    clock.set(clock.now() + timedelta(hours=1))
    # The chat proves it is Anna's (a link mailed to her address), then writes as her.
    await runtime.lookup.request_proof(
        Channel.WEBCHAT, "chat-anna", "anna.rossi@example.com", "192.0.2.1", "en"
    )
    await runtime.lookup.settled()
    assert await runtime.lookup.prove(captured.pop(0).text.split("\n")[1].strip())
    chat = "The serial number is SN-998877, and it still shows the red light."
    await runtime.ingest.accept(complaint("chat-anna", chat, clock.now(), channel=Channel.WEBCHAT))
    [outcome] = await runtime.worker.drain()
    await runtime.sender.run_once()

    page = await client.get(f"/console/tickets/{ref}")
    assert page.status == 200
    body = await page.text()
    thread = body[body.index('id="thread"') : body.index('id="replies"')]
    email_at, chat_at = thread.index(html.escape(ENGLISH)), thread.index(html.escape(chat))
    assert email_at < chat_at
    assert re.findall(r'<span class="channel">(\w+)</span>', thread) == ["email", "webchat"]
    assert thread.count('<span class="tag">verified</span>') == 2
    assert f">{outcome.decision.value}</span>" in thread
    assert "another customer" not in thread
    assert "SUN2000-5KTL-M1" in body[body.index('id="details"') :]  # the details collected
    assert 'id="clocks"' in body
    replies = body[body.index('id="replies"') : body.index('id="history"')]
    assert "acknowledgment" in replies
    assert '<span class="tag reply-status">sent</span>' in replies


async def test_the_preview_shows_the_italian_reply_and_saves_nothing_until_confirmed(
    client: Client,
    runtime: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
    agent: str,
) -> None:
    ref = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    before, rows = await state(runtime, ref), await outbox_rows(runtime)

    status, page = await post_status(
        client, ref, status="investigating", note=NOTE_IT, step="preview"
    )

    assert status == 200
    shown = preview_text(page)
    assert NOTE_IT in shown
    assert status_label("investigating", "it") in shown
    assert 'id="preview-language">it<' in page
    assert await state(runtime, ref) == before  # nothing changed by looking
    assert len(await outbox_rows(runtime)) == len(rows)
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    assert int(version.group(1)) == before[1]

    status, _ = await post_status(
        client,
        ref,
        status="investigating",
        note=NOTE_IT,
        step="confirm",
        version=version.group(1),
    )

    assert status == 303
    assert await state(runtime, ref) == ("investigating", before[1] + 1)
    new = (await outbox_rows(runtime))[len(rows) :]
    assert [(r.kind, r.language, r.text) for r in new] == [("status_changed", "it", shown)]
    while await runtime.sender.run_once():
        pass
    assert captured[new[0].id].text == shown  # the customer got what the agent read
    async with runtime.sessions() as session:
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "ticket.status")
        )
    assert audited is not None
    assert audited.actor == agent
    done = await (await client.get(f"/console/tickets/{ref}?done=status")).text()
    assert 'id="done"' in done


async def test_a_colleagues_change_between_preview_and_confirm_is_not_overwritten(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    ref = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    _, page = await post_status(client, ref, status="investigating", note=NOTE_IT, step="preview")
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    await runtime.desk.change_status(
        ref, TicketStatus.WAITING_CUSTOMER, note="Serve una foto.", actor="colleague"
    )
    moved, rows = await state(runtime, ref), len(await outbox_rows(runtime))

    status, page = await post_status(
        client, ref, status="investigating", note=NOTE_IT, step="confirm", version=version.group(1)
    )

    assert status == 409
    assert "changed since it was previewed" in page
    assert f'name="version" value="{moved[1]}"' in page  # a fresh preview to confirm
    assert await state(runtime, ref) == moved
    assert len(await outbox_rows(runtime)) == rows


async def test_a_refused_transition_shows_the_tables_message_and_changes_nothing(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    ref = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    await runtime.desk.change_status(ref, TicketStatus.CLOSED, note="", actor="colleague")
    before, rows = await state(runtime, ref), len(await outbox_rows(runtime))
    page = await (await client.get(f"/console/tickets/{ref}")).text()
    assert re.findall(r'<option value="(\w+)"', page[page.index('id="c-status"') :]) == ["closed"]

    for step in ("preview", "confirm"):
        status, page = await post_status(
            client, ref, status="investigating", note="again", step=step, version=str(before[1])
        )
        assert status == 422
        assert f"{ref} cannot go from closed to investigating; allowed: none" in html.unescape(page)
        assert 'id="preview"' not in page
    assert await state(runtime, ref) == before
    assert len(await outbox_rows(runtime)) == rows


async def test_the_same_status_and_internal_notes_stay_with_staff(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    ref = await opened(runtime, complaint("anna@example.it", ITALIAN, clock.now()))
    current, version = await state(runtime, ref)
    rows = len(await outbox_rows(runtime))

    status, page = await post_status(
        client, ref, status=current, note="called the installer", step="preview"
    )
    assert status == 200
    assert 'id="preview-note-only"' in page
    status, _ = await post_status(
        client,
        ref,
        status=current,
        note="called the installer",
        step="confirm",
        version=str(version),
    )
    assert status == 303
    token = csrf(await (await client.get(f"/console/tickets/{ref}")).text())
    empty = await client.post(
        f"/console/tickets/{ref}/note", data={"csrf": token, "internal_note": "  "}
    )
    assert empty.status == 422
    added = await client.post(
        f"/console/tickets/{ref}/note",
        data={"csrf": token, "internal_note": "the customer sounds worried"},
        allow_redirects=False,
    )
    assert added.status == 303

    assert await state(runtime, ref) == (current, version)
    assert len(await outbox_rows(runtime)) == rows
    async with runtime.sessions() as session:
        notes = (
            await session.execute(
                select(TicketEvent.note, TicketEvent.told, TicketEvent.actor).where(
                    TicketEvent.note != ""
                )
            )
        ).all()
    assert sorted(notes) == [
        ("called the installer", False, agent),
        ("the customer sounds worried", False, agent),
    ]
    history = await (await client.get(f"/console/tickets/{ref}")).text()
    assert history[history.index('id="history"') :].count("staff only</span>") == 2


# --- customer text is text -----------------------------------------------------------------

HOSTILE_WORD = "A" * 5000
HOSTILE = (
    "<script>alert(1)</script> see javascript:alert(2) and "
    f"[click](javascript:alert(3)) {HOSTILE_WORD} \u202egnp.exe"
)


async def test_customer_text_renders_as_text(
    client: Client, runtime: Runtime, clock: VirtualClock, agent: str
) -> None:
    message = InboundMessage(
        channel=Channel.EMAIL,
        external_id="<hostile@example.com>",
        sender="mallory@example.com",
        display_name="<img src=x onerror=alert(4)>\u202eevil",
        subject="<b>urgent</b> \u202e",
        text=f"My inverter is broken, order 5551234. {HOSTILE}",
        received_at=clock.now(),
    )
    ref = await opened(runtime, message)
    for path in (f"/console/tickets/{ref}", "/console/tickets"):
        body = await (await client.get(path)).text()
        assert "<script>alert" not in body
        assert "<img src=x" not in body
        assert "<b>urgent" not in body
        assert "javascript:" not in re.sub(r">[^<]*<", "><", body)  # never in a tag
        for at in [m.start() for m in re.finditer("\u202e", body)]:
            opened_tag = body[:at].rsplit("<", 1)[1]
            assert opened_tag.startswith(("bdi", 'div class="text" dir="auto"')), opened_tag
    page = await (await client.get(f"/console/tickets/{ref}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    thread = page[page.index('id="thread"') :]
    assert re.search(f'<div class="text" dir="auto">[^<]*{HOSTILE_WORD}[^<]*</div>', thread)
