"""The satisfaction rating over HTTP, on both backends: a link sent with the resolution, one
rating per ticket, one answer for every link that is not valid, hostile inputs refused."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app.channel_setup import rating_plug
from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, TicketStatus
from bot.contract.ports import MAX_RATING_COMMENT
from bot.staff import privacy
from bot.staff.desk import TicketDesk
from bot.store.models import Rating, RatingLink, Ticket
from bot.text import i18n
from bot.tickets.ratings import TicketRatings
from channels import page_texts
from tests.channels.test_status_page import open_ticket
from tests.channels.test_webform import form_plug
from tests.helpers import complaint, outbox_rows

Client = TestClient[web.Request, web.Application]
PUBLIC = "https://bot.test"
LINK = re.compile(r"https://bot\.test(/rate/(C-\d{4}-\d+)/([\w-]+))\?lang=(\w+)")


@pytest.fixture
async def client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[Client]:
    plugs = [form_plug(runtime, tmp_path / "uploads"), rating_plug(runtime)]
    async with TestClient(TestServer(make_app(runtime, plugs=plugs))) as test_client:
        yield test_client


def desk_of(runtime: Runtime, clock: VirtualClock) -> TicketDesk:
    return TicketDesk(runtime.sessions, runtime.throttle, runtime.policy, clock, public_url=PUBLIC)


async def resolved_with_link(runtime: Runtime, clock: VirtualClock) -> tuple[str, str, str]:
    """A ticket resolved by staff; its reference, the rating link's path and its language."""
    ref = await open_ticket(runtime, clock)
    desk = desk_of(runtime, clock)
    change = await desk.change_status(ref, TicketStatus.RESOLVED, note="Replaced.", actor="staff")
    [reply] = [r for r in await outbox_rows(runtime) if r.id == change.outbox_id]
    found = LINK.search(reply.text)
    assert found is not None, reply.text
    assert found.group(2) == ref
    return ref, found.group(1), found.group(4)


async def ratings(runtime: Runtime) -> list[tuple[int, str]]:
    async with runtime.sessions() as session:
        return [(r.score, r.comment) for r in await session.scalars(select(Rating))]


async def test_the_resolution_reply_links_to_a_rating_that_is_stored_once(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, path, lang = await resolved_with_link(runtime, clock)
    assert lang == "it"  # the customer wrote in Italian
    it = page_texts.texts("it")

    shown = await client.get(f"{path}?lang={lang}")
    body = await shown.text()
    assert shown.status == 200
    assert it["rate_question"] in body
    assert ref in body
    assert 'name="score"' in body
    assert f'maxlength="{MAX_RATING_COMMENT}"' in body
    assert "<script" not in body
    assert await ratings(runtime) == []  # a GET records nothing

    sent = await client.post(path, data={"score": "4", "comment": "Veloci.", "lang": "it"})
    assert sent.status == 200
    assert it["rate_thanks"] in await sent.text()

    replayed = await client.post(path, data={"score": "1", "comment": "Changed my mind"})
    assert replayed.status == 409
    assert page_texts.texts("en")["rate_already"] in await replayed.text()
    again = await client.get(path)
    assert page_texts.texts("en")["rate_already"] in await again.text()
    assert await ratings(runtime) == [(4, "Veloci.")]
    view = await TicketRatings(runtime.sessions, clock).of_ticket(ref)
    assert view is not None
    assert (view.score, view.comment, view.language) == (4, "Veloci.", "it")


async def test_the_reply_names_the_rating_only_with_a_resolution(
    runtime: Runtime, clock: VirtualClock
) -> None:
    ref = await open_ticket(runtime, clock)
    desk = desk_of(runtime, clock)
    investigating = await desk.change_status(
        ref, TicketStatus.INVESTIGATING, note="Looking.", actor="staff"
    )
    preview = await desk.preview(ref, TicketStatus.RESOLVED, note="Done.")
    rejected = await desk.change_status(ref, TicketStatus.REJECTED, note="No.", actor="staff")
    texts = {r.id: r.text for r in await outbox_rows(runtime)}
    assert "/rate/" not in texts[investigating.outbox_id or 0]
    assert "/rate/" not in texts[rejected.outbox_id or 0]
    assert f"/rate/{ref}/ONE-TIME-TOKEN" in preview.text  # previewed, nothing made
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(RatingLink)) == 0
    line = i18n.status_changed(ref, "en", status="resolved", note="", next_due=None)[1]
    assert "/rate/" not in line  # without a link, no words about one


async def test_every_link_that_is_not_valid_gets_the_same_answer(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, path, _ = await resolved_with_link(runtime, clock)
    token = path.rsplit("/", 1)[1]
    other = await open_second_ticket(runtime, clock)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    bad = [
        f"/rate/{other}/{token}",  # the token of another ticket
        f"/rate/{ref}/{forged}",
        f"/rate/{ref}/short",
        f"/rate/{ref}/{'a' * 5000}",
        f"/rate/C-2026-999999/{token}",
        f"/rate/not-a-ref/{token}",
    ]
    answers = set()
    for url in bad:
        got = await client.get(url)
        posted = await client.post(url, data={"score": "5"})
        answers.add((got.status, _main(await got.text())))
        answers.add((posted.status, _main(await posted.text())))
    assert len(answers) == 1
    [(status, text)] = answers
    assert status == 404
    assert page_texts.texts("en")["rate_invalid"] in text

    clock.set(clock.now() + timedelta(days=61))  # expired
    late = await client.post(path, data={"score": "5"})
    assert (late.status, _main(await late.text())) == (status, text)
    assert await ratings(runtime) == []


async def test_hostile_scores_and_comments_are_refused_and_markup_stays_text(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    _, path, _ = await resolved_with_link(runtime, clock)
    en = page_texts.texts("en")
    for score in ["0", "6", "abc", "", "-1", "4.5", "99999999999999999999"]:
        refused = await client.post(path, data={"score": score, "comment": "kept"})
        body = await refused.text()
        assert refused.status == 422, score
        assert en["rate_missing"] in body
        assert ">kept</textarea>" in body  # what was typed stays
    missing = await client.post(path, data={"comment": "no score"})
    assert missing.status == 422

    huge = "x" * 100_000
    too_long = await client.post(path, data={"score": "3", "comment": huge})
    body = await too_long.text()
    assert too_long.status == 422
    assert f"at most {MAX_RATING_COMMENT} characters" in body
    assert "x" * MAX_RATING_COMMENT + "</textarea>" in body
    assert "x" * (MAX_RATING_COMMENT + 1) not in body
    assert await ratings(runtime) == []

    oversized = await client.post(path, data={"score": "3", "comment": "y" * 300_000})
    assert oversized.status == 413  # past the body limit: said, with the comment's limit
    assert f"At most {MAX_RATING_COMMENT} characters." in await oversized.text()

    markup = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    reshown = await client.post(path, data={"score": "x", "comment": markup})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in await reshown.text()
    assert "<script>" not in await reshown.text()
    stored = await client.post(path, data={"score": "2", "comment": markup + "\x00"})
    assert stored.status == 200
    assert await ratings(runtime) == [(2, markup)]


async def test_two_submissions_at_once_store_one_rating(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    _, path, _ = await resolved_with_link(runtime, clock)
    answers = await asyncio.gather(
        *(client.post(path, data={"score": str(n), "comment": f"try {n}"}) for n in (1, 2, 3, 4))
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 409, 409, 409]
    assert len(await ratings(runtime)) == 1


async def test_a_rated_ticket_resolved_again_asks_no_more(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, path, _ = await resolved_with_link(runtime, clock)
    assert (await client.post(path, data={"score": "5"})).status == 200
    desk = desk_of(runtime, clock)
    await desk.change_status(ref, TicketStatus.INVESTIGATING, note="Again.", actor="staff")
    change = await desk.change_status(ref, TicketStatus.RESOLVED, note="Done.", actor="staff")
    [reply] = [r for r in await outbox_rows(runtime) if r.id == change.outbox_id]
    assert "/rate/" not in reply.text


async def test_an_erasure_blanks_the_comment_and_the_link_stops_working(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref, path, _ = await resolved_with_link(runtime, clock)
    assert (await client.post(path, data={"score": "2", "comment": "Marco, 333 765"})).status == 200
    async with runtime.sessions() as session:
        customer_id = await session.scalar(select(Ticket.customer_id).where(Ticket.ref == ref))
    assert customer_id is not None
    erased = await privacy.erase(
        runtime.sessions, runtime.throttle, customer_id, actor="dpo", now=clock.now()
    )
    assert erased.rows["ratings"] == 1
    assert await ratings(runtime) == [(2, "")]
    assert (await client.get(path)).status == 404


async def open_second_ticket(runtime: Runtime, clock: VirtualClock) -> str:
    """Another customer's ticket, resolved with its own link."""
    text = "My Fronius Primo inverter is dead, order 991234. Please replace it."
    await runtime.ingest.accept(
        complaint("other@example.com", text, clock.now(), channel=Channel.EMAIL)
    )
    await runtime.worker.drain()
    async with runtime.sessions() as session:
        ref = await session.scalar(select(Ticket.ref).order_by(Ticket.id.desc()).limit(1))
    assert isinstance(ref, str)
    await desk_of(runtime, clock).change_status(
        ref, TicketStatus.RESOLVED, note="Done.", actor="staff"
    )
    return ref


def _main(page: str) -> str:
    """The page's own content (the language links repeat the path asked for)."""
    start, end = page.index("<main>"), page.index("</main>")
    return page[start:end]
