"""The chat protocol through aiohttp's test server: WebSocket frames, HTTP fallback, limits.

The intake, the reload, the flood and the recognition of a known customer run on both
backends (the `runtime` fixture); the refusals of bad input run on the embedded one.
Replies come from the real worker and outbox sender through the chat's own sender.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.domain import Channel, Decision, InboundMessage, OutboundReply
from bot.store.models import Message, OutboxReply, Ticket
from bot.text import i18n
from channels import chat_texts
from channels.webchat import Chat, WebchatConfig, build, plug_of
from tests.conftest import START

Client = TestClient[web.Request, web.Application]
Frame = dict[str, Any]
EMBEDDED = pytest.mark.parametrize("settings", ["embedded"], indirect=True)
ANSWERS = [
    "product",
    "Anna Rossi",
    "anna.rossi@example.com",
    "ORD-884213",
    "SUN2000-5KTL-M1",
    "skip",
    "The inverter shows error F23 and stopped working on Monday.",
    "I want a replacement",
]


def make_chat(runtime: Runtime, **overrides: Any) -> Chat:
    config = WebchatConfig(
        key_prefix=runtime.keys.prefix,
        now=runtime.clock.now,
        timezone=lambda: runtime.policy.current.sla.timezone,
        status_label=i18n.status_label,
        **overrides,
    )
    return build(
        config,
        runtime.ingest,
        runtime.lookup,
        runtime.redis,
        lambda: runtime.policy.current.accepted,
    )


async def serve(runtime: Runtime, chat: Chat) -> Client:
    """The plug closes its open sockets when the app shuts down (Plug.shutdown)."""
    return TestClient(TestServer(make_app(runtime, plugs=[plug_of(chat)])))


@pytest.fixture
async def chat(runtime: Runtime) -> Chat:
    return make_chat(runtime)


@pytest.fixture
async def client(runtime: Runtime, chat: Chat) -> AsyncIterator[Client]:
    async with await serve(runtime, chat) as test_client:
        await asyncio.wait_for(chat.hub.ready.wait(), 5)
        yield test_client


@dataclass
class Panel:
    """One open socket and everything it received, in order."""

    ws: Any
    frames: list[Frame] = field(default_factory=list)

    async def next(self, wanted: str) -> Frame:
        return await self.next_of(wanted)

    async def next_of(self, *wanted: str) -> Frame:
        while True:
            frame = await self._receive()
            if frame["type"] in wanted:
                return frame

    async def _receive(self) -> Frame:
        msg = await asyncio.wait_for(self.ws.receive(), 5)
        assert msg.type == WSMsgType.TEXT, msg
        frame: Frame = json.loads(msg.data)
        self.frames.append(frame)
        return frame

    async def say_or_refused(self, text: str) -> Frame:
        await self.ws.send_json({"type": "message", "text": text, "cid": text[:20]})
        return await self.next_of("ack", "error")

    async def entry_from_bot(self) -> Frame:
        while True:
            frame = await self.next("entry")
            entry: Frame = frame["entry"]
            if entry["sender"] == "bot":
                return entry

    async def say(self, text: str, cid: str = "") -> Frame:
        await self.ws.send_json({"type": "message", "text": text, "cid": cid or text[:20]})
        return await self.next("ack")

    async def answer(self, text: str) -> str:
        """Send an answer; the bot's next question."""
        await self.say(text)
        return str((await self.entry_from_bot())["text"])


async def open_panel(
    client: Client, session: str | None = None, lang: str = "en"
) -> tuple[Panel, Frame]:
    panel = Panel(await client.ws_connect("/chat/ws"))
    await panel.ws.send_json({"type": "hello", "session": session, "lang": [lang]})
    return panel, await panel.next("welcome")


async def complete_intake(panel: Panel, answers: list[str] = ANSWERS) -> None:
    for text in answers:
        await panel.answer(text)


async def decisions(runtime: Runtime) -> list[str | None]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Message.decision).order_by(Message.id)))


async def count(runtime: Runtime, model: type[Ticket] | type[OutboxReply]) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_intake_opens_one_ticket_and_the_acknowledgment_arrives_live(
    runtime: Runtime, client: Client
) -> None:
    panel, welcome = await open_panel(client)
    greeting = [e["text"] for e in welcome["history"]]
    assert greeting == [
        chat_texts.say("greeting", "en"),
        chat_texts.say("privacy", "en"),  # the privacy notice at the start of every chat
        chat_texts.say("ask_kind", "en"),
    ]
    assert welcome["history"][-1]["choices"] == ["Product", "Service"]
    await complete_intake(panel)
    assert await count(runtime, Ticket) == 0  # nothing submitted until the intake is complete
    outcomes = await runtime.worker.drain()
    assert [o.decision for o in outcomes] == [Decision.ANSWERED]
    ref = outcomes[0].ticket_ref
    async with runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket))
        message = await session.scalar(select(Message))
    assert ticket is not None
    assert message is not None
    assert ticket.details["order_number"] == "ORD-884213"
    assert ticket.details["product_model"] == "SUN2000-5KTL-M1"
    assert ticket.details["email"] == "anna.rossi@example.com"
    assert message.channel == "webchat"
    assert message.sender == welcome["session"]
    assert await runtime.sender.run_once() == 1
    ack = await panel.entry_from_bot()
    assert ack["ref"] == ref
    assert ref in ack["text"]
    assert {"type": "typing", "on": True} in panel.frames  # while the reply is on its way
    states = [f for f in panel.frames if f["type"] == "state"]
    assert {f["state"] for f in states} == {"delivered"}
    assert len(states) == len(ANSWERS)  # every answer is durable in the one message
    await panel.ws.close()


async def test_reload_shows_history_and_the_tickets_status(
    runtime: Runtime, client: Client
) -> None:
    panel, welcome = await open_panel(client)
    await complete_intake(panel)
    await runtime.worker.drain()
    await panel.ws.close()  # the customer is away when the acknowledgment is sent
    assert await runtime.sender.run_once() == 1
    again, resumed = await open_panel(client, welcome["session"], lang="it")
    assert resumed["session"] == welcome["session"]
    texts = [e["text"] for e in resumed["history"]]
    assert texts[:3] == [
        chat_texts.say("greeting", "en"),
        chat_texts.say("privacy", "en"),
        chat_texts.say("ask_kind", "en"),
    ]
    assert all(answer in texts for answer in ANSWERS)
    assert resumed["history"][-1]["ref"].startswith("C-2026-")  # the reply that waited
    status = await again.next("status")
    assert status["ref"] == resumed["history"][-1]["ref"]
    # The skipped serial number is declined, not owed: nothing is awaited from the customer.
    assert i18n.status_label("new", "en") in status["text"]
    await again.ws.close()


@pytest.fixture
async def generous(runtime: Runtime) -> AsyncIterator[Client]:
    """A chat whose per-socket rate lets a flood through to the stream's throttle."""
    chat = make_chat(runtime, rate_per_s=100.0, burst=100)
    async with await serve(runtime, chat) as test_client:
        yield test_client


async def test_flood_after_intake_collapses_and_every_message_is_kept(
    runtime: Runtime, generous: Client
) -> None:
    panel, _ = await open_panel(generous)
    await complete_intake(panel)
    await runtime.worker.drain()
    await runtime.sender.run_once()
    await panel.entry_from_bot()
    for n in range(8):
        await panel.say(f"hello? anyone there {n}", cid=f"flood-{n}")
        await panel.next("state")
    outcomes = await runtime.worker.drain()
    assert len(outcomes) == 8
    assert {o.decision for o in outcomes} <= {Decision.COLLAPSED, Decision.THROTTLED}
    assert await runtime.sender.run_once() == 0  # no new reply for a flood
    assert await count(runtime, Ticket) == 1
    await panel.ws.close()


async def test_resent_message_after_reconnect_is_not_stored_twice(
    runtime: Runtime, client: Client
) -> None:
    panel, welcome = await open_panel(client)
    first = await panel.say("product", cid="c-1")
    again, _ = await open_panel(client, welcome["session"])
    second = await again.say("product", cid="c-1")
    assert first["id"] == second["id"]
    history = await make_chat(runtime).store.history(welcome["session"])
    assert [e.text for e in history].count("product") == 1
    await panel.ws.close()
    await again.ws.close()


async def test_an_email_with_an_open_ticket_is_not_revealed_and_proving_it_links_the_chat(
    runtime: Runtime, client: Client, captured: dict[int, OutboundReply]
) -> None:
    """Issue 11, 5: the chat said "there is already an open complaint for this email"."""
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.EMAIL,
            external_id="<m1@example.com>",
            sender="anna.rossi@example.com",
            text="My inverter SUN2000-5KTL-M1 is broken, order ORD-1234, I want a refund.",
            received_at=START,
        )
    )
    [opened] = await runtime.worker.drain()
    asked: dict[str, str] = {}
    panels: dict[str, tuple[Panel, str]] = {}
    for email in ("ANNA.ROSSI@example.com", "nobody.here@example.com"):
        panel, welcome = await open_panel(client)
        for text in ANSWERS[:2]:
            await panel.answer(text)
        said = await panel.answer(email)
        asked[email] = said.replace(email.lower(), "EMAIL")
        panels[email] = (panel, welcome["session"])
    assert asked["ANNA.ROSSI@example.com"] == asked["nobody.here@example.com"]
    assert asked["nobody.here@example.com"] == chat_texts.say("proof_sent", "en", email="EMAIL")
    await runtime.lookup.settled()
    mailed = captured.pop(0)  # only to the address a customer wrote from
    assert mailed.to == "anna.rossi@example.com"
    assert captured.get(0) is None
    panel, _ = panels["ANNA.ROSSI@example.com"]
    assert await runtime.lookup.prove(mailed.text.split("\n")[1].strip())
    assert not await runtime.lookup.prove(mailed.text.split("\n")[1].strip())  # once
    for text in ANSWERS[3:]:
        await panel.answer(text)
    outcomes = await runtime.worker.drain()
    assert [o.ticket_id for o in outcomes] == [opened.ticket_id]  # Anna's, proven
    assert "claims" not in outcomes[0].reason
    async with runtime.sessions() as db:
        ticket = await db.get_one(Ticket, opened.ticket_id)
        message = await db.get_one(Message, outcomes[0].message_id)
    assert message.customer_id == ticket.customer_id  # the chat now writes as Anna
    for panel, _ in panels.values():
        await panel.ws.close()


@EMBEDDED
async def test_closed_channel_refuses_text_and_names_the_accepted_channels(
    runtime: Runtime, client: Client
) -> None:
    panel, welcome = await open_panel(client)
    await runtime.policy.set_channel("webchat", False, actor="admin")
    config = await (await client.get("/chat/config", params={"lang": "nl"})).json()
    assert config["accepted"] is False
    # Email is accepted but has no public address here: only the form, always ours, is named.
    assert config["channels"] == ["webform"]
    assert config["links"][0]["href"] == "/form"
    assert chat_texts.say("ch_webform", "nl") in config["unavailable"]
    await panel.ws.send_json({"type": "message", "text": "product", "cid": "x"})
    closed = await panel.next("closed")
    assert closed["channels"] == ["webform"]
    history = await make_chat(runtime).store.history(welcome["session"])
    assert [e.sender for e in history] == ["bot"] * 3  # nothing accepted into a void
    fresh = await client.ws_connect("/chat/ws")
    await fresh.send_json({"type": "hello", "session": None, "lang": ["en"]})
    assert json.loads((await fresh.receive()).data)["type"] == "closed"
    await fresh.close()
    await panel.ws.close()


@EMBEDDED
async def test_oversized_message_is_refused_naming_the_limit(
    runtime: Runtime, client: Client
) -> None:
    panel, welcome = await open_panel(client)
    limit = WebchatConfig(key_prefix="x").max_chars
    await panel.ws.send_json({"type": "message", "text": "x" * (limit + 1), "cid": "big"})
    error = await panel.next("error")
    assert error["code"] == "too_long"
    assert error["limit"] == limit
    assert str(limit) in error["text"]
    history = await make_chat(runtime).store.history(welcome["session"])
    assert len(history) == 3  # the greeting, the privacy notice and the first question
    await panel.answer("product")  # the socket still works
    await panel.ws.close()


@EMBEDDED
async def test_garbage_frames_get_errors_then_1008_and_the_server_stays_healthy(
    client: Client,
) -> None:
    ws = await client.ws_connect("/chat/ws")
    for junk in ["not json", "[1, 2]", '{"no": "type"}', "\x00\xff", "{", "null", "1"]:
        await ws.send_str(junk)
    await ws.send_bytes(b"\x00binary")
    errors = []
    while (msg := await asyncio.wait_for(ws.receive(), 5)).type == WSMsgType.TEXT:
        errors.append(json.loads(msg.data)["code"])
    assert msg.type == WSMsgType.CLOSE
    assert ws.close_code == WSCloseCode.POLICY_VIOLATION
    assert set(errors) == {"bad_frame"}
    assert (await client.get("/healthz")).status == 200
    panel, _ = await open_panel(client)
    assert await panel.answer("product") == chat_texts.say("ask_name", "en")
    await panel.ws.close()


@EMBEDDED
async def test_a_hundred_frames_at_once_are_rate_limited_then_closed(
    runtime: Runtime, client: Client
) -> None:
    panel, welcome = await open_panel(client)
    for n in range(100):
        await panel.ws.send_json({"type": "message", "text": f"spam {n}", "cid": f"s{n}"})
    codes = []
    while (msg := await asyncio.wait_for(panel.ws.receive(), 5)).type == WSMsgType.TEXT:
        frame = json.loads(msg.data)
        if frame["type"] == "error":
            codes.append(frame["code"])
    assert panel.ws.close_code == WSCloseCode.POLICY_VIOLATION
    assert "rate_limited" in codes
    stored = [
        e
        for e in await make_chat(runtime).store.history(welcome["session"])
        if e.sender == "customer"
    ]
    assert 1 <= len(stored) <= 12  # the burst, not the flood
    assert (await client.get("/healthz")).status == 200


@EMBEDDED
async def test_http_fallback_speaks_the_same_protocol(runtime: Runtime, client: Client) -> None:
    hello = await client.post(
        "/chat/send",
        data=json.dumps({"type": "hello", "session": None, "lang": ["zh-CN", "en"]}),
        headers={"Content-Type": "text/plain", "Origin": "http://shop.example"},
    )
    assert hello.headers["Access-Control-Allow-Origin"] == "*"
    [welcome] = (await hello.json())["frames"]
    sid = welcome["session"]
    assert welcome["language"] == "zh"
    last = welcome["history"][-1]["id"]
    sent = await client.post(
        "/chat/send",
        data=json.dumps({"type": "message", "session": sid, "text": "产品", "cid": "p1"}),
    )
    assert (await sent.json())["frames"] == [{"type": "ack", "cid": "p1", "id": last + 1}]
    polled = await (
        await client.post(
            "/chat/poll",
            data=json.dumps({"type": "poll", "session": sid, "after": last, "wait": 1}),
        )
    ).json()
    texts = [f["entry"]["text"] for f in polled["frames"]]
    assert texts == ["产品", chat_texts.say("ask_name", "zh")]
    unknown = await client.post("/chat/poll", data=json.dumps({"type": "poll", "session": "nope"}))
    assert unknown.status == 404
    in_the_url = await client.get("/chat/poll", params={"session": sid})
    assert in_the_url.status == 405  # the session id never travels in a URL
    bad = await client.post("/chat/send", data="<html>")
    assert bad.status == 400


@EMBEDDED
async def test_a_waiting_poll_wakes_when_a_reply_arrives(
    runtime: Runtime, client: Client, chat: Chat
) -> None:
    panel, welcome = await open_panel(client)
    last = welcome["history"][-1]["id"]
    waiting = asyncio.create_task(
        client.post(
            "/chat/poll",
            data=json.dumps(
                {"type": "poll", "session": welcome["session"], "after": last, "wait": 20}
            ),
        )
    )
    await panel.answer("product")
    polled = await (await asyncio.wait_for(waiting, 10)).json()

    assert polled["frames"][0]["entry"]["text"] == "product"
    await panel.ws.close()


@EMBEDDED
async def test_new_sessions_per_address_are_capped(runtime: Runtime) -> None:
    chat = make_chat(runtime, sessions_per_ip_per_hour=2)
    async with await serve(runtime, chat) as client:
        replies = []
        for _ in range(3):
            ws = await client.ws_connect("/chat/ws")
            await ws.send_json({"type": "hello", "session": None, "lang": ["en"]})
            replies.append(json.loads((await ws.receive()).data))
            await ws.close()
    assert [r["type"] for r in replies] == ["welcome", "welcome", "error"]
    assert replies[2]["code"] == "too_many_sessions"


@EMBEDDED
async def test_behind_a_trusted_proxy_the_cap_is_per_visitor(runtime: Runtime) -> None:
    chat = make_chat(runtime, sessions_per_ip_per_hour=1, trusted_proxies=1)
    async with await serve(runtime, chat) as client:
        kinds = []
        for visitor in ("203.0.113.5", "203.0.113.6", "203.0.113.6"):
            hello = await client.post(
                "/chat/send",
                data=json.dumps({"type": "hello", "lang": ["en"]}),
                headers={"X-Forwarded-For": f"198.51.100.1, {visitor}"},
            )  # first: claimed, ignored
            kinds.append((await hello.json())["frames"][0]["type"])
    assert kinds == ["welcome", "welcome", "error"]


@EMBEDDED
async def test_markup_is_stored_and_sent_back_as_plain_text(client: Client) -> None:
    panel, _ = await open_panel(client)
    await panel.answer("product")
    name = "<img src=x onerror=alert(1)>\u202eAnna"
    await panel.say(name)
    await panel.next("entry")
    echoed = next(
        f["entry"]
        for f in panel.frames
        if f["type"] == "entry"
        and f["entry"]["sender"] == "customer"
        and f["entry"]["text"] == name
    )
    assert echoed["text"] == name  # unchanged: the widget shows it as text
    await panel.ws.close()


@EMBEDDED
async def test_reply_to_an_unknown_session_fails_permanently(chat: Chat) -> None:
    sender = plug_of(chat).senders[Channel.WEBCHAT]
    result = await sender.send(
        OutboundReply(
            outbox_id=1,
            channel=Channel.WEBCHAT,
            to="gone",
            text="hi",
            language="en",
            ticket_ref="C-2026-000001",
        )
    )
    assert not result.ok
    assert result.permanent


@EMBEDDED
async def test_a_reply_sent_by_one_web_process_reaches_a_panel_open_on_another(
    runtime: Runtime, client: Client
) -> None:
    other = make_chat(runtime)  # a second web process: its own hub, the same Redis
    stop = asyncio.Event()
    follower = asyncio.create_task(other.hub.run(stop))
    try:
        await asyncio.wait_for(other.hub.ready.wait(), 5)
        panel, welcome = await open_panel(client)
        sender = plug_of(other).senders[Channel.WEBCHAT]
        result = await sender.send(
            OutboundReply(
                outbox_id=7,
                channel=Channel.WEBCHAT,
                to=welcome["session"],
                text="Your complaint C-2026-000042 is being investigated.",
                language="en",
                ticket_ref="C-2026-000042",
            )
        )
        assert result.ok
        entry = await panel.entry_from_bot()
        assert entry["ref"] == "C-2026-000042"
        await panel.ws.close()
    finally:
        stop.set()
        await follower
