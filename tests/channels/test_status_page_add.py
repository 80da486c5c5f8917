"""The status page's verified viewer over HTTP, on both backends: what the complaint was
about, times with their zone, and a message and files added to the ticket through the
stream. A post without this site's grant writes nothing; the files pass the form's checks."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import OutboundReply
from bot.contract.limits import Limiter
from bot.store.models import Message, Ticket
from channels import page_texts
from channels.status_page import Adding
from tests.channels.test_status_page import EMAIL, look_up, mailed_links, open_ticket
from tests.channels.test_webform import PNG, SECRET, files_in, form_plug, multipart

Client = TestClient[web.Request, web.Application]
MAX_FILE = 4096


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def client(runtime: Runtime, uploads: Path) -> AsyncIterator[Client]:
    runtime.lookup.per_ip = Limiter(runtime.redis, runtime.keys, "lookup-ip", 5, 3600)
    plug = form_plug(runtime, uploads, max_file_bytes=MAX_FILE, max_files=2)
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as test_client:
        yield test_client


async def shown_page(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> tuple[str, str]:
    """(reference, the page a mailed link shows in Italian)."""
    ref = await open_ticket(runtime, clock)
    await look_up(client, ref, EMAIL, "it")
    [token] = await mailed_links(runtime, captured)
    response = await client.post("/status/view", data={"token": token, "lang": "it"})
    assert response.status == 200
    return ref, await response.text()


def add_form(body: str) -> dict[str, str]:
    """The hidden fields of the page's add form."""
    grant = re.search(r'name="csrf" value="([^"]+)"', body)
    nonce = re.search(r'name="nonce" value="([^"]+)"', body)
    assert grant is not None
    assert nonce is not None
    return {"csrf": grant.group(1), "nonce": nonce.group(1), "lang": "it"}


async def add(
    client: Client,
    fields: dict[str, str],
    files: Sequence[tuple[str, bytes, str]] = (),
    **headers: str,
) -> tuple[int, str]:
    response = await client.post("/status/add", data=multipart(fields, files), headers=headers)
    return response.status, await response.text()


async def messages(runtime: Runtime) -> list[Message]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def test_the_viewer_sees_category_excerpt_and_times_with_their_zone(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    _, body = await shown_page(client, runtime, clock, captured)
    texts = page_texts.texts("it")
    assert f'<dd id="category">{texts["type_product"]}</dd>' in body
    excerpt = re.search(r'<dd id="excerpt"><bdi class="user-text">([^<]+)</bdi>', body)
    assert excerpt is not None
    assert "Fronius Primo" in excerpt.group(1)
    times = re.findall(r"<tr><td>([^<]+)</td>", body)
    assert times
    assert all(re.search(r"\d{2}:\d{2} (CET|CEST)$", at) for at in times), times


async def test_a_message_and_a_photo_join_the_ticket_through_the_stream(
    client: Client,
    runtime: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
    uploads: Path,
) -> None:
    ref, body = await shown_page(client, runtime, clock, captured)
    fields = {**add_form(body), "message": 'Ecco la foto <img src=x onerror="alert(1)">'}
    status, answer = await add(client, fields, [("foto.png", PNG, "image/png")])
    assert status == 200
    assert page_texts.texts("it")["add_done"].format(ref=ref) in answer
    assert "<img src=x" not in answer
    await runtime.worker.drain()
    first, added = await messages(runtime)
    assert added.ticket_id == first.ticket_id  # the viewer's own ticket
    assert added.sender == first.sender  # as from the ticket's first address
    assert added.text.startswith("Ecco la foto <img")  # stored as written, shown as text
    assert [a["content_type"] for a in added.attachments] == ["image/png"]
    [stored] = files_in(uploads)
    assert stored.read_bytes() == PNG
    assert (await client.get(added.attachments[0]["url"])).status == 404  # never public
    again, _ = await add(client, fields, [("foto.png", PNG, "image/png")])  # sent twice
    assert again == 200
    assert len(await messages(runtime)) == 2
    assert len(files_in(uploads)) == 1  # the second copy was not kept


@pytest.mark.parametrize(
    ("content", "declared", "key"),
    [
        (b"<?php echo 'hi'; ?>" + b"\x00" * 64, "image/png", "err_file_type"),
        (PNG + b"\x00" * MAX_FILE, "image/png", "err_file_size"),
    ],
)
async def test_wrong_magic_bytes_and_oversized_files_are_refused_with_the_text_kept(
    client: Client,
    runtime: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
    uploads: Path,
    content: bytes,
    declared: str,
    key: str,
) -> None:
    _, body = await shown_page(client, runtime, clock, captured)
    fields = {**add_form(body), "message": "<b>more</b>"}
    status, answer = await add(client, fields, [("x.png", content, declared)])
    assert status == 422
    assert page_texts.texts("it")[key].split("{")[0] in answer
    assert 'id="error-summary"' in answer
    assert ">&lt;b&gt;more&lt;/b&gt;</textarea>" in answer
    assert len(await messages(runtime)) == 1
    assert files_in(uploads) == []


async def test_an_empty_post_asks_for_a_message_or_a_file(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    _, body = await shown_page(client, runtime, clock, captured)
    status, answer = await add(client, {**add_form(body), "message": "  \x00 "})
    assert status == 422
    assert page_texts.texts("it")["add_empty"] in answer
    assert len(await messages(runtime)) == 1


async def test_without_this_sites_grant_nothing_is_written_or_stored(
    client: Client,
    runtime: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
    uploads: Path,
) -> None:
    _, body = await shown_page(client, runtime, clock, captured)
    fields = add_form(body)
    photo = [("foto.png", PNG, "image/png")]
    forged = fields["csrf"][:-1] + ("0" if fields["csrf"][-1] != "0" else "1")
    assert (await add(client, {**fields, "csrf": forged, "message": "hi"}, photo))[0] == 403
    assert (await add(client, {"nonce": fields["nonce"], "message": "hi"}, photo))[0] == 403
    bad_nonce = {**fields, "nonce": "x", "message": "hi"}
    assert (await add(client, bad_nonce))[0] == 403
    other_site = await add(client, {**fields, "message": "hi"}, Origin="https://evil.example")
    assert other_site[0] == 403
    # A grant this site signed but the core never gave (or that expired): gone.
    unknown = Adding(SECRET, None, None).sign("A" * 32)  # type: ignore[arg-type]
    status, answer = await add(client, {**fields, "csrf": unknown, "message": "hi"}, photo)
    assert status == 410
    assert 'id="link-used"' in answer
    assert len(await messages(runtime)) == 1
    assert files_in(uploads) == []


async def test_a_grant_adds_only_to_the_ticket_it_was_shown_with(
    client: Client, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    ref, body = await shown_page(client, runtime, clock, captured)
    fields = {**add_form(body), "message": f"About C-2026-999999 and {ref}, not the other one."}
    assert (await add(client, fields))[0] == 200
    await runtime.worker.drain()
    async with runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.ref == ref))
        count = len(list(await session.scalars(select(Ticket))))
    assert ticket is not None
    assert count == 1
    assert {m.ticket_id for m in await messages(runtime)} == {ticket.id}


async def test_a_limited_visitor_is_told_when_and_offered_the_form(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    for attempt in range(5):
        await look_up(client, f"C-2026-00000{attempt + 5}", EMAIL, "it")
    response = await client.post(
        "/status", data={"ref": "C-2026-000001", "contact": EMAIL, "lang": "it"}
    )
    body = await response.text()
    assert response.status == 429
    retry = int(response.headers["Retry-After"])
    texts = page_texts.texts("it")
    minutes = -(-retry // 60)
    assert texts["too_many_minutes"].format(minutes=minutes) in body
    assert re.search(r"\d{2}:\d{2} (CET|CEST)", body)  # the time, with its zone
    assert 'id="alternative"' in body
    assert 'href="/form?lang=it"' in body
    clock.set(clock.now() + timedelta(seconds=retry))
    status, _ = await look_up(client, "C-2026-000001", EMAIL)
    assert status == 200


async def test_a_post_over_the_whole_budget_is_refused_before_it_is_read(
    client: Client,
    runtime: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
    uploads: Path,
) -> None:
    _, body = await shown_page(client, runtime, clock, captured)
    huge = PNG + b"\x00" * (2 * MAX_FILE + 300 * 1024)  # over two files and the text budget
    status, _ = await add(client, {**add_form(body), "message": "hi"}, [("big.png", huge, "")])
    assert status == 413
    assert len(await messages(runtime)) == 1
    assert files_in(uploads) == []


async def test_additions_per_grant_are_limited_and_the_page_says_when_again(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply], uploads: Path
) -> None:
    plug = form_plug(runtime, uploads, status_adds_per_hour=1)
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as client:
        _, body = await shown_page(client, runtime, clock, captured)
        fields = add_form(body)
        assert (await add(client, {**fields, "message": "one"}))[0] == 200
        status, answer = await add(client, {**fields, "nonce": "B" * 22, "message": "two"})
    assert status == 429
    assert page_texts.texts("it")["too_many_title"] in answer
    assert len(await messages(runtime)) == 2
