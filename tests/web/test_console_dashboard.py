"""The dashboard at /console, over HTTP on both backends: the numbers under each chart are
what the pipeline decided, per hour and per day of the company's clock."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision
from bot.staff.accounts import Role
from bot.staff.dashboard_stats import day_edges, hour_edges
from bot.store.models import Ticket
from tests.conftest import START
from tests.helpers import complaint, staff_account
from tests.web.test_console_auth import PASSWORD, sign_in

Client = TestClient[Any, Any]
INCOMPLETE = "Il mio inverter si è guastato di nuovo."
RUDE = "you idiots, my inverter is broken again"
EVIL = "<script>x</script>@evil.test"
DAY2 = START + timedelta(days=2)  # 2026-11-04 08:00 UTC, 09:00 in Rome
NOW = DAY2 + timedelta(hours=3)  # 12:00 in Rome: the page is read then


@pytest.fixture
async def client(moderated: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(moderated))) as test_client:
        yield test_client


@dataclass(frozen=True)
class Sent:
    sender: str
    channel: str
    decision: str
    ticket_id: int | None


async def deliver(
    runtime: Runtime, clock: VirtualClock, sender: str, text: str, at: datetime, channel: Channel
) -> Sent:
    clock.set(at)
    await runtime.ingest.accept(complaint(sender, text, at, channel=channel))
    [outcome] = await runtime.worker.drain()
    return Sent(sender, channel.value, outcome.decision.value, outcome.ticket_id)


class _Tables(HTMLParser):
    """Every table of a page by id, as rows of cell texts (what a screen reader reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._rows is not None:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(html: str, table_id: str) -> dict[str, dict[str, int]]:
    """Row header -> column header -> number, of the table with that id."""
    parser = _Tables()
    parser.feed(html)
    head, *rows = parser.tables[table_id]
    return {row[0]: dict(zip(head[1:], map(int, row[1:]), strict=True)) for row in rows}


def figure(html: str, ident: str) -> str:
    found = re.search(rf'<dd id="{ident}">([^<]*)</dd>', html)
    assert found is not None, ident
    return found.group(1)


async def signed_in_page(client: Client, runtime: Runtime, role: Role = Role.AGENT) -> str:
    name, _ = await staff_account(runtime, role, password=PASSWORD)
    assert await sign_in(client, name) == 303
    page = await client.get("/console")
    assert page.status == 200
    return await page.text()


async def busy_days(runtime: Runtime, clock: VirtualClock) -> list[Sent]:
    """Day 0: one customer writes twice. Day 2: a complaint, an insult, a flood of twelve,
    a WhatsApp message (not accepted), and one message the worker has not decided yet."""
    sent = [
        await deliver(runtime, clock, "anna@example.it", INCOMPLETE, START, Channel.EMAIL),
        await deliver(
            runtime,
            clock,
            "anna@example.it",
            "Ancora niente?",
            START + timedelta(minutes=30),
            Channel.EMAIL,
        ),
        await deliver(
            runtime, clock, "chat-1", INCOMPLETE, DAY2 + timedelta(minutes=5), Channel.WEBCHAT
        ),
        await deliver(runtime, clock, "555", RUDE, DAY2 + timedelta(minutes=10), Channel.TELEGRAM),
    ]
    for n in range(12):
        at = DAY2 + timedelta(hours=1, minutes=n)
        text = f"Message {n}: the inverter SUN-5K shows error E{n * 7919} again."
        sent.append(await deliver(runtime, clock, EVIL, text, at, Channel.EMAIL))
    at = DAY2 + timedelta(hours=2, minutes=30)
    sent.append(await deliver(runtime, clock, "+393331234567", INCOMPLETE, at, Channel.WHATSAPP))
    clock.set(DAY2 + timedelta(hours=2, minutes=45))
    await runtime.ingest.accept(
        complaint("fb-42", INCOMPLETE, clock.now(), channel=Channel.FACEBOOK)
    )  # stored, left undecided: no worker runs
    clock.set(NOW)
    return sent


async def test_the_tables_under_the_charts_count_each_hour_and_day_by_channel_and_decision(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    sent = await busy_days(moderated, clock)
    flood = Counter(s.decision for s in sent if s.sender == EVIL)
    assert flood[Decision.THROTTLED], flood  # a real flood: too many, and nothing new
    assert flood[Decision.COLLAPSED], flood
    html = await signed_in_page(client, moderated)

    hourly = table(html, "hourly-channel-table")
    assert len(hourly) == 25  # 24 hours and the totals
    nine, ten, eleven = (hourly[f"2026-11-04 {h}:00"] for h in ("09", "10", "11"))
    assert (nine["webchat"], nine["telegram"], nine["Total"]) == (1, 1, 2)
    assert (ten["email"], ten["Total"]) == (12, 12)
    assert (eleven["whatsapp"], eleven["facebook"], eleven["Total"]) == (1, 1, 2)
    assert hourly["Total"]["Total"] == 16  # day 0 is older than 24 hours
    assert hourly["Total"]["email"] == 12

    by_decision = table(html, "hourly-decision-table")
    assert (
        by_decision["2026-11-04 09:00"]["answered"],
        by_decision["2026-11-04 09:00"]["flagged"],
    ) == (1, 1)
    ten_decided = {k: v for k, v in by_decision["2026-11-04 10:00"].items() if v and k != "Total"}
    assert ten_decided == dict(flood)
    assert (
        by_decision["2026-11-04 11:00"]["channel_closed"],
        by_decision["2026-11-04 11:00"]["undecided"],
    ) == (1, 1)

    daily = table(html, "daily-channel-table")
    assert len(daily) == 15
    assert (daily["2026-11-02"]["email"], daily["2026-11-03"]["Total"]) == (2, 0)
    assert daily["2026-11-04"]["Total"] == 16
    assert daily["Total"]["Total"] == 18
    day0 = Counter(s.decision for s in sent[:2])
    daily_decisions = table(html, "daily-decision-table")["2026-11-02"]
    assert {k: v for k, v in daily_decisions.items() if v and k != "Total"} == day0

    assert (figure(html, "messages-24h"), figure(html, "messages-14d")) == ("16", "18")


async def test_figures_show_the_flagged_rate_among_decided_and_the_open_tickets_clocks(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    sent = await busy_days(moderated, clock)
    anna, chat, evil = (
        next(s.ticket_id for s in sent if s.sender == who and s.ticket_id)
        for who in ("anna@example.it", "chat-1", EVIL)
    )
    async with moderated.sessions.begin() as session:
        for ticket_id, values in (
            (anna, {"status": "investigating", "at_risk_at": NOW, "overdue_at": NOW}),
            (chat, {"status": "waiting_customer", "at_risk_at": NOW}),
            (evil, {"status": "closed", "at_risk_at": NOW, "overdue_at": NOW}),  # closed: not
        ):
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))
    html = await signed_in_page(client, moderated)

    assert figure(html, "flagged-24h") == "6.7% (1 of 15 decided)"  # the undecided one apart
    assert figure(html, "flagged-14d") == "5.9% (1 of 17 decided)"
    tickets = table(html, "tickets-table")
    assert {status: n["tickets"] for status, n in tickets.items() if n["tickets"]} == {
        "investigating": 1,
        "waiting customer": 1,
    }
    assert set(tickets) == {
        "new",
        "awaiting details",
        "investigating",
        "waiting customer",
        "escalated",
    }
    assert table(html, "sla-table") == {"at risk": {"tickets": 2}, "overdue": {"tickets": 1}}
    at_a_glance = (figure(html, "open-tickets"), figure(html, "at-risk"), figure(html, "overdue"))
    assert at_a_glance == ("2", "2", "1")


async def test_the_top_flooding_sender_is_named_as_text_and_older_floods_are_left_out(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    sent = await busy_days(moderated, clock)
    flood = Counter(s.decision for s in sent if s.sender == EVIL)
    html = await signed_in_page(client, moderated)

    assert sent[1].decision == Decision.COLLAPSED  # anna, on day 0
    assert sent[1].decision == Decision.COLLAPSED  # anna, on day 0
    parser = _Tables()
    parser.feed(html)
    head, *rows = parser.tables["flooders-detail"]
    assert head == ["Channel", "Address", "Throttled", "Collapsed"]
    assert rows == [["email", EVIL, str(flood[Decision.THROTTLED]), str(flood[Decision.COLLAPSED])]]
    # anna's collapsed message is older than 24 hours: not a flooder now
    assert "anna@example.it" not in html
    assert "<script>x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;@evil.test" in html
    assert table(html, "flooders-table") == {
        f"email: {EVIL}": {
            "throttled and collapsed": flood[Decision.THROTTLED] + flood[Decision.COLLAPSED]
        }
    }


async def test_every_chart_is_an_image_with_a_title_and_a_description(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    await busy_days(moderated, clock)
    html = await signed_in_page(client, moderated)

    charts = re.findall(
        r'<svg class="chart" role="img"[^>]*aria-labelledby="([\w-]+)-title \1-desc"', html
    )
    assert charts == [
        "hourly-channel",
        "hourly-decision",
        "daily-channel",
        "daily-decision",
        "tickets",
        "sla",
        "flooders",
    ]
    assert '<title id="hourly-channel-title">Messages per hour by channel</title>' in html
    assert re.search(r'<desc id="daily-decision-desc">18 messages in 14 periods', html)


async def test_an_empty_database_says_no_messages_yet(client: Client, moderated: Runtime) -> None:
    html = await signed_in_page(client, moderated)

    assert "No messages yet" in html
    assert 'id="hourly-channel' not in html
    assert table(html, "tickets-table")["new"] == {"tickets": 0}


@pytest.mark.parametrize("role", [Role.AGENT, Role.MODERATOR, Role.ADMIN])
async def test_every_role_sees_the_dashboard_and_strangers_are_sent_to_sign_in(
    client: Client, moderated: Runtime, role: Role
) -> None:
    away = await client.get("/console", allow_redirects=False)
    assert (away.status, away.headers["Location"]) == (303, "/console/login?next=/console")
    html = await signed_in_page(client, moderated, role)
    assert "<h1>Dashboard</h1>" in html


def test_hours_and_days_are_the_company_clocks_even_across_a_daylight_saving_change() -> None:
    rome = ZoneInfo("Europe/Rome")
    now = datetime(2026, 10, 26, 10, 20, tzinfo=rome)  # the day after clocks went back
    days = day_edges(now, rome)
    assert [d.astimezone(rome).hour for d in days] == [0] * 15
    assert days[-2] - days[-3] == timedelta(hours=25)  # 25 October had 25 hours
    hours = hour_edges(now, rome)
    assert hours[-2] == datetime(2026, 10, 26, 10, 0, tzinfo=rome)
    assert {b - a for a, b in pairwise(hours)} == {timedelta(hours=1)}
