"""Issue 17, the chat's side: the first message read by the core's extraction, the held
notice, the conversation after the reference, the closed notice's links, the fallback's
states, and a transcript by email. Over the real worker, on the embedded store."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from bot.app.runtime import Runtime
from bot.contract.domain import Channel, Decision, OutboundReply
from bot.rules.reading import CoreReader
from bot.tickets.decisions import MessageDecisions
from channels import chat_texts, chat_uploads
from channels.capture import CaptureSender
from channels.webchat import Chat
from tests.channels.test_webchat import Panel, make_chat, open_panel, serve

Client = TestClient[web.Request, web.Application]
Frame = dict[str, Any]
pytestmark = pytest.mark.parametrize("settings", ["embedded"], indirect=True)

STORY = {
    "en": "Hi, my SN-5000 inverter shuts down every morning with error E-2032.",
    "it": "Ciao, il mio inverter SN-5000 si spegne ogni mattina con errore E-2032.",
}
INSULT = "Il vostro tecnico è un idiota, siete dei ladri e degli incompetenti."
CONTACTS = {"email": "help@example.com", "telegram": "@solarshop", "whatsapp": "+39 333 1234567"}


@pytest.fixture
def mailed() -> dict[int, OutboundReply]:
    return {}


@pytest.fixture
async def chat(runtime: Runtime, mailed: dict[int, OutboundReply], tmp_path: Path) -> Chat:
    (tmp_path / "uploads").mkdir(mode=0o700)
    return make_chat(
        runtime,
        uploads=chat_uploads.rules(tmp_path / "uploads", 1024 * 1024),
        reader=CoreReader(),
        decisions=MessageDecisions(runtime.sessions),
        public_contacts=CONTACTS,
        mailer=CaptureSender(Channel.EMAIL, mailed, None),
        rate_per_s=100.0,
        burst=100,
    )


@pytest.fixture
async def client(runtime: Runtime, chat: Chat) -> AsyncIterator[Client]:
    async with await serve(runtime, chat) as test_client:
        await asyncio.wait_for(chat.hub.ready.wait(), 5)
        yield test_client


class Chatter(Panel):
    """A panel whose every message has its own client id (the same answer twice is two)."""

    sent = 0

    async def say(self, text: str, cid: str = "") -> Frame:
        self.sent += 1
        return await super().say(text, cid or f"m{self.sent}")

    async def tell(self, text: str) -> None:
        """A message after the intake, once it is stored (delivered)."""
        await self.say(text)
        await self.next("state")


async def open_chat(
    client: Client, session: str | None = None, lang: str = "en"
) -> tuple[Chatter, Frame]:
    panel, welcome = await open_panel(client, session, lang)
    return Chatter(panel.ws, panel.frames), welcome


async def bot_entry(panel: Panel, kind: str = "") -> Frame:
    while True:
        entry = await panel.entry_from_bot()
        if not kind or entry.get("kind") == kind:
            return entry


async def give_email(panel: Panel, email: str) -> str:
    """The next question after an email address (a note that a link went there comes first)."""
    await panel.answer(email)
    return str((await panel.entry_from_bot())["text"])


async def intake(panel: Panel, language: str) -> None:
    """A whole intake from a first message that tells the story; every skip a button."""
    assert await panel.answer(STORY[language]) == chat_texts.say("ask_name", language)
    await panel.answer("Anna Rossi")
    await give_email(panel, "anna.rossi@example.com")
    skip = chat_texts.choice("skip", language)
    for _ in range(3):  # order number, serial number, desired solution
        await panel.answer(skip)


@pytest.mark.parametrize("language", ["en", "it"])
async def test_the_first_message_is_read_and_nothing_skipped_is_asked_again(
    runtime: Runtime, client: Client, language: str
) -> None:
    panel, welcome = await open_chat(client, lang=language)
    assert welcome["history"][-1]["choices"] == [
        chat_texts.choice("product", language),
        chat_texts.choice("service", language),
    ]
    await panel.say(STORY[language])
    asked = await panel.entry_from_bot()
    assert asked["text"] == chat_texts.say("ask_name", language)  # no "did not understand"
    await panel.answer("Anna Rossi")
    order = await give_email(panel, "anna.rossi@example.com")
    assert order == chat_texts.say("ask_order_number", language)
    skip = chat_texts.choice("skip", language)
    assert await panel.answer(skip) == chat_texts.say("ask_serial_number", language)
    assert await panel.answer(skip) == chat_texts.say("ask_desired_solution", language)
    await panel.answer(skip)  # "registering your complaint": submitted
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    assert await runtime.sender.run_once() == 1
    ack = await bot_entry(panel)
    assert ack["ref"] == outcome.ticket_ref
    async with runtime.sessions() as session:
        from bot.store.models import Ticket  # noqa: PLC0415 -- the core's row, for the check

        ticket = await session.get(Ticket, outcome.ticket_id)
    assert ticket is not None
    assert ticket.category == "product"
    assert ticket.details["product_model"] == "SN-5000"
    assert ticket.details["description"] == STORY[language]
    # The skipped order number is not asked for after the reference.
    assert chat_texts.say("ask_order_number", language) not in ack["text"]
    assert ticket.status == "new"
    await panel.ws.close()


@pytest.mark.parametrize("language", ["en", "it"])
async def test_a_held_message_gets_the_neutral_notice_and_it_stays_after_a_reload(
    runtime: Runtime, client: Client, language: str
) -> None:
    panel, welcome = await open_chat(client, lang=language)
    for text in ("product", "Anna", "anna@example.com", "-", "-", "-", INSULT, "-"):
        await panel.answer(text)
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.FLAGGED
    held = await bot_entry(panel, "held")
    assert held["text"] == chat_texts.say("held", language)
    assert held["ref"] == ""
    await panel.next_of("typing")  # off: nothing more is on its way
    assert panel.frames[-1] == {"type": "typing", "on": False}
    assert await runtime.sender.run_once() == 0
    again, resumed = await open_chat(client, welcome["session"], lang=language)
    assert resumed["history"][-1]["text"] == chat_texts.say("held", language)
    await panel.ws.close()
    await again.ws.close()


@pytest.mark.parametrize(
    ("language", "question"),
    [("en", "What is the status of my complaint?"), ("it", "A che punto è il mio reclamo?")],
)
async def test_after_the_reference_a_status_question_is_answered_and_more_gets_one_receipt(
    runtime: Runtime, client: Client, chat: Chat, language: str, question: str
) -> None:
    panel, _ = await open_chat(client, lang=language)
    await intake(panel, language)
    [opened] = await runtime.worker.drain()
    await runtime.sender.run_once()
    await bot_entry(panel)
    await panel.tell(question)
    await runtime.worker.drain()
    await runtime.sender.run_once()
    answer = await bot_entry(panel)
    assert opened.ticket_ref is not None
    assert opened.ticket_ref in answer["text"]
    for text in ("It also beeps twice before it stops.", "And the display goes dark."):
        await panel.tell(text)
    await runtime.worker.drain()
    receipt = await bot_entry(panel)
    assert receipt["text"] == chat_texts.say("receipt", language)
    assert await runtime.sender.run_once() == 0
    await panel.tell("Still the same.")
    await runtime.worker.drain()
    await chat.settled()
    await panel.ws.send_json({"type": "ping"})
    await panel.next("pong")  # every frame sent before it has arrived
    entries = [f["entry"] for f in panel.frames if f["type"] == "entry"]
    receipts = [e for e in entries if e["text"] == chat_texts.say("receipt", language)]
    assert len(receipts) == 1  # one receipt, until the bot has something else to say
    await panel.ws.close()


async def test_the_closed_notice_links_only_configured_and_accepted_channels(
    runtime: Runtime, client: Client
) -> None:
    await runtime.policy.set_channel("webchat", False, actor="admin")
    await runtime.policy.set_channel("whatsapp", False, actor="admin")
    config = await (await client.get("/chat/config", params={"lang": "it"})).json()
    assert config["accepted"] is False
    links = {link["channel"]: link["href"] for link in config["links"]}
    # Facebook and Instagram are accepted but have no public address; WhatsApp is refused.
    assert links == {
        "webform": "/form",
        "email": "mailto:help@example.com",
        "telegram": "https://t.me/solarshop",
    }
    assert chat_texts.say("ch_email", "it") in config["unavailable"]


async def test_with_no_channel_to_offer_the_closed_notice_says_so(runtime: Runtime) -> None:
    chat = make_chat(runtime)
    await runtime.policy.set_channel("webchat", False, actor="admin")
    await runtime.policy.set_channel("webform", False, actor="admin")
    frame = chat.closed_frame("it")
    assert frame["links"] == []
    assert frame["text"] == chat_texts.say("unavailable_none", "it")


async def test_reopening_the_chat_reaches_an_open_panel_without_a_reload(
    runtime: Runtime, client: Client
) -> None:
    panel, _ = await open_chat(client)
    await runtime.policy.set_channel("webchat", False, actor="admin")
    assert await panel.next("availability") == {"type": "availability", "accepted": False}
    await runtime.policy.set_channel("webchat", True, actor="admin")
    assert await panel.next("availability") == {"type": "availability", "accepted": True}
    await panel.ws.close()


async def test_the_polling_fallback_learns_that_messages_were_delivered(
    runtime: Runtime, client: Client
) -> None:
    async def post(path: str, frame: Frame) -> Frame:
        response = await client.post(path, data=json.dumps(frame))
        body: Frame = await response.json()
        return body

    hello = await post("/chat/send", {"type": "hello", "session": None, "lang": ["en"]})
    sid = hello["frames"][0]["session"]
    sent = await post("/chat/send", {"type": "message", "session": sid, "text": "product"})
    [ack] = [f for f in sent["frames"] if f["type"] == "ack"]
    polled = await post("/chat/poll", {"type": "poll", "session": sid, "after": ack["id"]})
    assert polled["states"][str(ack["id"])] == "sent"
    for text in ("Anna", "anna@example.com", "-", "-", "-", STORY["en"], "-"):
        await post("/chat/send", {"type": "message", "session": sid, "text": text})
    polled = await post("/chat/poll", {"type": "poll", "session": sid, "after": 100})
    assert polled["states"][str(ack["id"])] == "delivered"


async def test_a_transcript_goes_only_to_the_address_given_in_this_chat(
    runtime: Runtime, client: Client, mailed: dict[int, OutboundReply]
) -> None:
    panel, _ = await open_chat(client, lang="it")
    await panel.ws.send_json({"type": "transcript"})
    refused = await panel.next("error")
    assert refused["text"] == chat_texts.say("transcript_no_email", "it")
    await panel.answer("prodotto")
    await panel.answer("Anna")
    await give_email(panel, "anna.rossi@example.com")
    await panel.ws.send_json({"type": "transcript"})
    notice = await panel.next("notice")
    assert "anna.rossi@example.com" in notice["text"]
    [mail] = mailed.values()
    assert mail.to == "anna.rossi@example.com"
    assert mail.channel is Channel.EMAIL
    assert "prodotto" in mail.text
    assert chat_texts.say("privacy", "it") in mail.text
    await panel.ws.close()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload_form(session: str, name: str, data: bytes) -> FormData:
    form = FormData()
    form.add_field("session", session)
    form.add_field("cid", "file-1")
    form.add_field("file", data, filename=name, content_type="image/png")
    return form


async def test_a_file_is_attached_after_the_reference_under_the_forms_checks(
    runtime: Runtime, client: Client, chat: Chat, tmp_path: Path
) -> None:
    panel, welcome = await open_chat(client)
    sid = welcome["session"]
    early = await client.post("/chat/upload", data=upload_form(sid, "photo.png", PNG))
    assert (await early.json())["frames"][0]["code"] == "attach_after"
    forged = await client.post("/chat/upload", data=upload_form("nobody", "photo.png", PNG))
    assert (await forged.json())["frames"][0]["code"] == "no_session"
    plain = await client.post(
        "/chat/upload", data=b"\x89PNG", headers={"Content-Type": "image/png"}
    )
    assert plain.status == 400
    await intake(panel, "en")
    await runtime.worker.drain()
    await runtime.sender.run_once()
    await bot_entry(panel)
    fake = await client.post("/chat/upload", data=upload_form(sid, "photo.png", b"MZ" * 40))
    assert (await fake.json())["frames"][0]["text"] == chat_texts.say("attach_type", "en")
    uploads = tmp_path / "uploads"
    assert list(uploads.iterdir()) == []  # refused files leave nothing behind
    sent = await client.post("/chat/upload?lang=en", data=upload_form(sid, "photo.png", PNG))
    assert (await sent.json())["frames"][0]["type"] == "ack"
    [outcome] = await runtime.worker.drain()
    async with runtime.sessions() as session:
        from bot.store.models import Message  # noqa: PLC0415 -- the core's row, for the check

        message = await session.get(Message, outcome.message_id)
    assert message is not None
    [attachment] = message.attachments
    assert attachment["filename"] == "photo.png"
    assert attachment["content_type"] == "image/png"
    [stored] = list(uploads.iterdir())
    assert attachment["url"].endswith(stored.name)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert (await client.get(attachment["url"])).status == 404  # never served publicly
    receipt = await bot_entry(panel)
    assert receipt["text"] == chat_texts.say("receipt", "en")
    await panel.ws.close()


async def test_a_decision_that_came_late_is_followed_up_when_the_panel_comes_back(
    runtime: Runtime,
) -> None:
    """The worker was slow (or this process restarted): the next hello tells the notice."""
    chat = make_chat(
        runtime,
        reader=CoreReader(),
        decisions=MessageDecisions(runtime.sessions),
        decision_wait_s=0.2,
    )
    async with await serve(runtime, chat) as client:
        panel, welcome = await open_chat(client, lang="it")
        for text in ("prodotto", "Anna", "anna@example.com", "-", "-", "-", INSULT, "-"):
            await panel.answer(text)
        assert await panel.next("typing") == {"type": "typing", "on": True}
        # Gave up waiting (nothing decided yet): the typing stops, the entry still waits.
        assert await panel.next("typing") == {"type": "typing", "on": False}
        assert await chat.store.awaiting(welcome["session"]) != {}
        await panel.ws.close()
        [outcome] = await runtime.worker.drain()
        assert outcome.decision is Decision.FLAGGED
        again, _ = await open_chat(client, welcome["session"], lang="it")
        held = await bot_entry(again, "held")
        assert held["text"] == chat_texts.say("held", "it")
        await chat.settled()
        assert await chat.store.awaiting(welcome["session"]) == {}
        await again.ws.close()
