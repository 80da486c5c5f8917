"""Telegram: real-shaped Bot API updates in, replies out to a local fake of the Bot API.

The webhook flows run on both backends (the `runtime` fixture): an update is POSTed to
/webhooks/telegram as Telegram would, the real worker decides it, the real outbox sends
the reply through python-telegram-bot to the fake (tests/fakes/telegram_api.py), and the
test reads what the fake received. Parsing and splitting run without storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update
from telegram.error import BadRequest

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import (
    MAX_TEXT_CHARS,
    Accepted,
    Channel,
    Decision,
    InboundMessage,
    OutboundReply,
)
from bot.store.leases import Leases
from bot.text import i18n
from channels.telegram import (
    PATH,
    SECRET_HEADER,
    Recall,
    TelegramChannel,
    TelegramConfig,
    TelegramSender,
    inbound_of,
    plug,
    split_text,
)
from tests.conftest import START
from tests.fakes.no_tickets import NoTickets
from tests.fakes.telegram_api import FakeBotApi, running
from tests.helpers import outbox_rows, stored_messages

TOKEN = "7012345678:AAF-test-token_for_the_fake"
SECRET = "webhook-Secret_0123456789"
HEADERS = {SECRET_HEADER: SECRET}
CHAT = 387_654_321
NOW = int(START.timestamp())

Client = TestClient[web.Request, web.Application]
_update_ids = itertools.count(10_000)


def user(**fields: Any) -> dict[str, Any]:
    return {
        "id": CHAT,
        "is_bot": False,
        "first_name": "Giulia",
        "last_name": "Bianchi",
        "username": "giulia_b",
        "language_code": "it",
        **fields,
    }


def message(
    message_id: int = 1,
    *,
    chat: int = CHAT,
    date: int = NOW,
    sender: dict[str, Any] | None = None,
    **content: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message_id,
        "from": sender or user(id=chat),
        "chat": {"id": chat, "type": "private", "first_name": "Giulia"},
        "date": date,
    }
    body.update(content or {"text": "Il mio inverter SUN-5K-G03 segna errore F23 da lunedì."})
    return body


def update(**content: Any) -> dict[str, Any]:
    """An Update carrying a new message (keywords go to message())."""
    return {"update_id": next(_update_ids), "message": message(**content)}


def edit(message_id: int, text: str, edit_date: int, **fields: Any) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "edited_message": message(message_id, text=text, edit_date=edit_date, **fields),
    }


PHOTO = [
    {
        "file_id": f"AgACAgQAAxkBAAI{size}",
        "file_unique_id": f"AQAD{size}",
        "width": size,
        "height": size,
        "file_size": size * 40,
    }
    for size in (90, 320, 1280)
]
DOCUMENT = {
    "file_id": "BQACAgQAAxkBAAIBZ2",
    "file_unique_id": "AgADbw",
    "file_name": "fattura-2026-118.pdf",
    "mime_type": "application/pdf",
    "file_size": 48_213,
}


def config(api: FakeBotApi, **changes: Any) -> TelegramConfig:
    return TelegramConfig(
        token=TOKEN,
        webhook_secret=SECRET,
        api_url=api.base_url,
        status_label=i18n.status_label,
        **changes,
    )


def accepted_of(runtime: Runtime) -> Callable[[], frozenset[Channel]]:
    return lambda: runtime.policy.current.accepted


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with running(TOKEN) as fake:
        yield fake


@pytest.fixture
async def client(runtime: Runtime, api: FakeBotApi) -> AsyncIterator[Client]:
    telegram = plug(
        config(api, public_url="https://intake.example.com/"),
        runtime.ingest,
        runtime.lookup,
        accepted_of(runtime),
    )
    async with TestClient(TestServer(make_app(runtime, plugs=[telegram]))) as test_client:
        yield test_client


async def deliver(
    client: Client, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = HEADERS if headers is None else headers
    if isinstance(body, bytes):
        response = await client.post(PATH, data=body, headers=headers)
    else:
        response = await client.post(PATH, json=body, headers=headers)
    payload = await response.json()
    assert isinstance(payload, dict)
    return response.status, payload


# --- the webhook, end to end --------------------------------------------------------------------


async def test_message_is_stored_decided_and_answered_through_the_bot_api(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    status, payload = await deliver(client, update(message_id=41))

    assert (status, payload["outcome"]) == (200, "stored")
    [row] = await stored_messages(runtime)
    assert (row.channel, row.external_id, row.sender) == ("telegram", f"{CHAT}:41", str(CHAT))
    assert (row.display_name, row.language) == ("Giulia Bianchi", "it")
    assert row.received_at.astimezone(UTC) == START
    assert row.text.startswith("Il mio inverter")
    assert row.raw["message"]["message_id"] == 41

    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    assert await runtime.sender.run_once() == 1

    [sent] = api.sent
    assert sent["chat_id"] == str(CHAT)
    assert outcome.ticket_ref is not None
    assert outcome.ticket_ref in sent["text"]
    [reply_row] = await outbox_rows(runtime)
    assert reply_row.status == "sent"
    assert reply_row.provider_id == f"{CHAT}:1"


async def test_webhook_is_registered_with_the_secret_at_start(
    client: Client, api: FakeBotApi
) -> None:
    await api.wait_for(lambda: api.webhook is not None)

    assert api.webhook is not None
    assert api.webhook["url"] == f"https://intake.example.com{PATH}"
    assert api.webhook["secret_token"] == SECRET
    assert api.webhook["allowed_updates"] == ["message", "edited_message"]
    assert api.methods()[:2] == ["getMe", "setWebhook"]


async def test_replayed_update_is_a_duplicate_stored_once_and_answered_once(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    delivery = update(message_id=7)
    first = await deliver(client, delivery)
    [outcome] = await runtime.worker.drain()
    await runtime.sender.run_once()
    again = await deliver(client, delivery)

    assert [first[1]["outcome"], again[1]["outcome"]] == ["stored", "duplicate"]
    assert first[1]["id"] == again[1]["id"]
    assert len(await stored_messages(runtime)) == 1
    assert await runtime.worker.drain() == []
    assert await runtime.sender.run_once() == 0
    assert len(api.sent) == 1
    assert outcome.decision is Decision.ANSWERED


async def test_edit_is_stored_as_an_edit_of_the_original_never_as_a_new_message(
    client: Client, runtime: Runtime
) -> None:
    await deliver(client, update(message_id=12, text="Serial number: SN-1"))
    edited = edit(12, "Serial number: SN-12345", NOW + 90)

    status, payload = await deliver(client, edited)
    replayed = await deliver(client, edited)

    assert (status, payload["outcome"]) == (200, "stored")
    assert replayed[1]["outcome"] == "duplicate"
    original, edit_row = await stored_messages(runtime)
    assert (original.external_id, original.edit_of) == (f"{CHAT}:12", None)
    assert edit_row.external_id == f"{CHAT}:12:edit:{NOW + 90}"
    assert edit_row.edit_of == f"{CHAT}:12"
    assert edit_row.text == "Serial number: SN-12345"
    assert edit_row.received_at.astimezone(UTC) == START + timedelta(seconds=90)


async def test_photo_and_document_are_stored_as_file_metadata(
    client: Client, runtime: Runtime
) -> None:
    await deliver(client, update(message_id=3, caption="Ecco la foto del display", photo=PHOTO))
    await deliver(client, update(message_id=4, document=DOCUMENT))

    photo_row, document_row = await stored_messages(runtime)
    assert photo_row.text == "Ecco la foto del display"
    assert photo_row.attachments == [
        {
            "filename": "photo.jpg",
            "content_type": "image/jpeg",
            "size": 1280 * 40,
            "url": "tg-file:AgACAgQAAxkBAAI1280",
        }
    ]
    assert document_row.text == ""
    assert document_row.attachments == [
        {
            "filename": "fattura-2026-118.pdf",
            "content_type": "application/pdf",
            "size": 48_213,
            "url": "tg-file:BQACAgQAAxkBAAIBZ2",
        }
    ]
    outcomes = await runtime.worker.drain()
    assert len(outcomes) == 2


async def test_text_of_telegrams_full_length_is_stored_whole(
    client: Client, runtime: Runtime
) -> None:
    text = ("Il display segna F23. " * 200)[:4096]

    status, payload = await deliver(client, update(text=text))

    assert (status, payload["outcome"]) == (200, "stored")
    [row] = await stored_messages(runtime)
    assert row.text == text


async def test_forged_or_missing_secret_is_refused_and_nothing_is_stored(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    cases = {
        "missing": ({}, 401),
        "wrong": ({SECRET_HEADER: "guessed"}, 403),
        "prefix": ({SECRET_HEADER: SECRET[:-1]}, 403),
        "suffix": ({SECRET_HEADER: SECRET + "x"}, 403),
        "empty": ({SECRET_HEADER: ""}, 403),
        "other case": ({SECRET_HEADER: SECRET.upper()}, 403),
    }
    for case, (headers, expected) in cases.items():
        with subtests.test(case):
            status, payload = await deliver(client, update(), headers=headers)

            assert status == expected
            assert SECRET_HEADER in payload["error"]
    assert await stored_messages(runtime) == []
    assert await runtime.worker.drain() == []


async def test_updates_of_the_wrong_shape_are_answered_200_and_ignored(
    client: Client, runtime: Runtime, api: FakeBotApi, subtests: pytest.Subtests
) -> None:
    cases: dict[str, tuple[Any, str]] = {
        "a JSON list": ([update()], "not an object"),
        "a JSON string": ("hello", "not an object"),
        "a number": (42, "not an object"),
        "no message": ({"update_id": 1}, "unsupported update type: none"),
        "channel_post": (
            {"update_id": 2, "channel_post": message(chat=-100123)},
            "unsupported update type: channel_post",
        ),
        "callback_query": (
            {
                "update_id": 3,
                "callback_query": {
                    "id": "4382",
                    "from": user(),
                    "chat_instance": "-77",
                    "data": "x",
                },
            },
            "unsupported update type: callback_query",
        ),
        "my_chat_member": (
            {"update_id": 4, "my_chat_member": {"chat": {"id": CHAT}}},
            "unsupported update type: my_chat_member",
        ),
        "message is a string": ({"update_id": 5, "message": "hello"}, "unsupported"),
        "message without chat or date": (
            {"update_id": 6, "message": {"message_id": 1}},
            "malformed message",
        ),
        "date is not a number": (update(date="yesterday"), "malformed message"),
        "from a bot": (update(sender=user(is_bot=True), text="spam"), "sent by a bot"),
        "in a group": (
            {
                "update_id": 7,
                "message": {
                    **message(),
                    "chat": {"id": -4001, "type": "group", "title": "Installers"},
                },
            },
            "not a private one",
        ),
        "a sticker only": (
            update(
                sticker={
                    "file_id": "CAAC",
                    "file_unique_id": "AgAD",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            ),
            "no text and no file",
        ),
        "a /start from a bot": (update(sender=user(is_bot=True), text="/start"), "sent by a bot"),
        "an edited /status": (edit(1, "/status", NOW + 5), "commands are not complaints"),
    }
    for case, (body, reason) in cases.items():
        with subtests.test(case):
            status, payload = await deliver(client, body)

            assert (status, payload["outcome"]) == (200, "ignored"), payload
            assert reason in payload["detail"]
    assert await stored_messages(runtime) == []
    assert api.sent == []


async def test_a_body_that_is_not_json_is_400(client: Client, runtime: Runtime) -> None:
    for body in (b"{not json", b"\xff\xfe\x00"):
        status, payload = await deliver(client, body)

        assert status == 400
        assert "not JSON" in payload["error"]
    assert await stored_messages(runtime) == []


# --- commands -----------------------------------------------------------------------------------


async def test_start_is_greeted_in_the_users_language_and_not_stored(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    italian = await deliver(client, update(message_id=1, text="/start"))
    english = await deliver(
        client,
        update(message_id=2, text="/start@intake_test_bot", sender=user(language_code="pt-br")),
    )

    assert [italian[1]["outcome"], english[1]["outcome"]] == ["answered", "answered"]
    first, second = api.sent
    assert first["chat_id"] == str(CHAT)
    assert first["text"].startswith("Ciao!")
    assert second["text"].startswith("Hello!")
    assert await stored_messages(runtime) == []


async def test_status_without_a_ticket_is_answered_at_once_and_with_one_by_the_pipeline(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    await deliver(client, update(message_id=1, text="/status"))
    await deliver(client, update(message_id=2))
    [opened] = await runtime.worker.drain()
    while await runtime.sender.run_once():
        pass
    asked = await deliver(client, update(message_id=3, text="/status"))
    again = await deliver(client, update(message_id=4, text="/status@intake_test_bot"))
    answered, collapsed = await runtime.worker.drain()
    while await runtime.sender.run_once():
        pass

    none, acknowledgment, status = api.sent
    assert none["text"].startswith("Non hai pratiche aperte")
    assert opened.ticket_ref is not None
    assert opened.ticket_ref in acknowledgment["text"]
    # Stored and answered like any status question: the status and the next date, once.
    assert [asked[1]["outcome"], again[1]["outcome"]] == ["stored", "stored"]
    assert (answered.decision, collapsed.decision) == (Decision.ANSWERED, Decision.COLLAPSED)
    view = await runtime.lookup.open_ticket_of(Channel.TELEGRAM, str(CHAT))
    assert view is not None
    assert opened.ticket_ref in status["text"]
    assert i18n.status_label(view.status.value, "it") in status["text"]
    assert len(await stored_messages(runtime)) == 3


async def test_replayed_command_is_answered_once(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    command = update(text="/status")

    first = await deliver(client, command)
    again = await deliver(client, command)

    assert [first[1]["outcome"], again[1]["outcome"]] == ["answered", "duplicate"]
    assert len(api.sent) == 1


async def test_closed_channel_stores_messages_and_leaves_commands_unanswered(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    await runtime.policy.set_channel("telegram", accepted=False, actor="test")

    command = await deliver(client, update(message_id=1, text="/start"))
    complaint = await deliver(client, update(message_id=2))
    [outcome] = await runtime.worker.drain()

    assert command[1]["outcome"] == "ignored"
    assert complaint[1]["outcome"] == "stored"
    assert outcome.decision is Decision.CHANNEL_CLOSED
    assert await runtime.sender.run_once() == 0
    assert api.sent == []


# --- replies: rate limits, lengths, refusals ----------------------------------------------------


async def test_a_429_is_retried_after_its_retry_after_and_sent_once(
    client: Client, runtime: Runtime, api: FakeBotApi, clock: VirtualClock
) -> None:
    await deliver(client, update())
    await runtime.worker.drain()
    api.rate_limit(retry_after=17)

    assert await runtime.sender.run_once() == 1
    [row] = await outbox_rows(runtime)
    assert row.status == "pending"
    assert "rate limited" in (row.last_error or "")
    assert row.next_attempt_at.astimezone(UTC) == clock.now() + timedelta(seconds=17)
    assert await runtime.sender.run_once() == 0  # not due yet

    clock.set(clock.now() + timedelta(seconds=17))
    assert await runtime.sender.run_once() == 1

    [row] = await outbox_rows(runtime)
    assert row.status == "sent"
    assert len(api.sent) == 1


async def test_a_user_who_blocked_the_bot_fails_the_reply_for_good(
    client: Client, runtime: Runtime, api: FakeBotApi
) -> None:
    api.block(CHAT)
    await deliver(client, update())
    await runtime.worker.drain()

    await runtime.sender.run_once()

    [row] = await outbox_rows(runtime)
    assert row.status == "failed"
    assert row.attempts == 1
    assert "blocked" in (row.last_error or "")


def reply(text: str, outbox_id: int = 1, to: str = str(CHAT)) -> OutboundReply:
    return OutboundReply(
        outbox_id=outbox_id,
        channel=Channel.TELEGRAM,
        to=to,
        text=text,
        language="it",
        ticket_ref="T-1",
    )


@pytest.fixture
async def sender(api: FakeBotApi) -> AsyncIterator[TelegramSender]:
    """The plug's sender, its HTTP clients opened and closed by the plug's own loop."""
    channel = TelegramChannel(config(api), NoSink(), NoTickets(), lambda: frozenset(Channel))
    stop = asyncio.Event()
    lifetime = asyncio.create_task(channel.run(stop))
    yield channel.sender
    stop.set()
    await asyncio.wait_for(lifetime, 10)


async def test_a_long_reply_goes_out_as_several_messages_cut_at_paragraphs(
    sender: TelegramSender, api: FakeBotApi
) -> None:
    paragraphs = [f"Paragrafo {n}. " + "x" * 2500 for n in range(4)]

    result = await sender.send(reply("\n\n".join(paragraphs)))

    assert result.ok, result.error
    assert [m["text"] for m in api.sent] == paragraphs
    assert result.provider_id == f"{CHAT}:1,2,3,4"


async def test_the_fake_refuses_what_the_real_api_refuses_above_4096(
    sender: TelegramSender, api: FakeBotApi
) -> None:
    channel_bot = TelegramChannel(config(api), NoSink(), NoTickets(), frozenset).bot
    async with channel_bot:
        with pytest.raises(BadRequest, match="Message is too long"):
            await channel_bot.send_message(chat_id=CHAT, text="x" * 4097)
        with pytest.raises(BadRequest, match="Message is too long"):
            await channel_bot.send_message(chat_id=CHAT, text="😀" * 2049)  # 4098 units
    result = await sender.send(reply("😀" * 2049))
    assert result.ok
    assert [m["text"] for m in api.sent] == ["😀" * 2048, "😀"]


async def test_a_429_midway_resumes_from_the_part_that_failed(
    sender: TelegramSender, api: FakeBotApi
) -> None:
    text = "\n\n".join(["a" * 3000, "b" * 3000, "c" * 3000])
    api.rate_limit(retry_after=3, after=1)  # part one goes, part two is limited

    first_try = await sender.send(reply(text))
    second_try = await sender.send(reply(text))

    assert (first_try.ok, first_try.retry_after) == (False, 3.0)
    assert second_try.ok
    assert [m["text"] for m in api.sent] == ["a" * 3000, "b" * 3000, "c" * 3000]
    assert api.limited == 1
    assert [p["text"][0] for m, p in api.calls if m == "sendMessage"] == ["a", "b", "b", "c"]


async def test_refusals_map_to_what_the_outbox_should_do(
    sender: TelegramSender, api: FakeBotApi
) -> None:
    api.block(555)
    blocked = await sender.send(reply("ciao", to="555"))
    empty = await sender.send(reply("   "))
    api.rate_limit(retry_after=30)
    limited = await sender.send(reply("ciao"))

    assert (blocked.ok, blocked.permanent) == (False, True)
    assert "blocked" in (blocked.error or "")
    assert (empty.ok, empty.permanent) == (False, True)
    assert (limited.ok, limited.permanent, limited.retry_after) == (False, False, 30.0)


async def test_an_unreachable_api_is_a_retryable_failure() -> None:
    async with running(TOKEN) as gone:
        base_url = gone.base_url  # a loopback port that listened once and no longer does
    channel = TelegramChannel(
        TelegramConfig(token=TOKEN, webhook_secret=SECRET, api_url=base_url),
        NoSink(),
        NoTickets(),
        lambda: frozenset(Channel),
    )
    stop = asyncio.Event()
    lifetime = asyncio.create_task(channel.run(stop))
    try:
        result = await channel.sender.send(reply("ciao"))
    finally:
        stop.set()
        await asyncio.wait_for(lifetime, 10)

    assert (result.ok, result.permanent, result.retry_after) == (False, False, None)
    assert result.error


# --- polling --------------------------------------------------------------------------------


async def test_polling_deletes_the_webhook_then_ingests_updates_and_confirms_them(
    runtime: Runtime, api: FakeBotApi
) -> None:
    api.webhook = {"url": "https://old.example.com/hook"}  # left by an earlier deployment
    first, second = update(message_id=1), edit(1, "corretto", NOW + 30)
    await api.queue(first, update(message_id=2, text="/start"), second)
    telegram = plug(
        config(api, polling=True, poll_timeout_s=5),
        runtime.ingest,
        runtime.lookup,
        accepted_of(runtime),
    )

    async with TestClient(TestServer(make_app(runtime, plugs=[telegram]))) as test_client:
        await api.wait_for(lambda: second["update_id"] + 1 in api.offsets)
        webhook_route = await test_client.post(PATH, json=update(), headers=HEADERS)

        assert webhook_route.status == 404  # polling: no webhook route mounted
    rows = await stored_messages(runtime)
    assert [r.external_id for r in rows] == [f"{CHAT}:1", f"{CHAT}:1:edit:{NOW + 30}"]
    assert rows[1].edit_of == f"{CHAT}:1"
    assert rows[0].raw["message"]["from"]["first_name"] == "Giulia"
    assert api.methods()[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert [m["text"][:5] for m in api.sent] == ["Ciao!"]
    assert api.pending == []


async def test_polling_stops_promptly_in_the_middle_of_a_long_poll(api: FakeBotApi) -> None:
    channel = TelegramChannel(
        config(api, polling=True, poll_timeout_s=300),
        NoSink(),
        NoTickets(),
        lambda: frozenset(Channel),
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(channel.run(stop))
    await api.wait_for(lambda: api.polling == 1)

    stop.set()

    await asyncio.wait_for(loop, 10)  # well inside the 300 s the poll would have lasted
    assert loop.exception() is None


async def test_polling_keeps_an_update_until_it_is_stored(api: FakeBotApi) -> None:
    sink = FlakySink(failures=1)
    channel = TelegramChannel(
        config(api, polling=True, poll_timeout_s=5, retry_base_s=0.05),
        sink,
        NoTickets(),
        lambda: frozenset(Channel),
    )
    pending = update(message_id=9)
    await api.queue(pending)
    stop = asyncio.Event()
    loop = asyncio.create_task(channel.run(stop))
    try:
        await api.wait_for(lambda: pending["update_id"] + 1 in api.offsets, within_s=20)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)

    assert [m.external_id for m in sink.accepted] == [f"{CHAT}:9"]
    assert sink.attempts == 2


# --- configuration ----------------------------------------------------------------------------


async def test_without_a_token_the_channel_says_so_and_the_webhook_answers_503(
    runtime: Runtime,
) -> None:
    telegram = plug(TelegramConfig(), runtime.ingest, runtime.lookup, accepted_of(runtime))

    assert telegram.status == "not configured: set INTAKE_TELEGRAM_TOKEN"
    assert (telegram.senders, telegram.loops) == ({}, ())
    async with TestClient(TestServer(make_app(runtime, plugs=[telegram]))) as test_client:
        status, payload = await deliver(test_client, update())
        health = await (await test_client.get("/healthz")).json()

    assert status == 503
    assert "INTAKE_TELEGRAM_TOKEN" in payload["error"]
    assert health["channel_families"]["telegram"] == telegram.status
    assert await stored_messages(runtime) == []


async def test_a_webhook_without_a_secret_is_refused_but_replies_still_go(api: FakeBotApi) -> None:
    telegram = plug(
        replace(config(api), webhook_secret=""), NoSink(), NoTickets(), lambda: frozenset(Channel)
    )
    app = web.Application()
    app.add_routes(telegram.routes)

    async with TestClient(TestServer(app)) as test_client:
        status, payload = await deliver(test_client, update(), headers={SECRET_HEADER: ""})

    assert status == 503
    assert "INTAKE_TELEGRAM_WEBHOOK_SECRET" in payload["error"]
    assert "INTAKE_TELEGRAM_WEBHOOK_SECRET" in telegram.status
    assert set(telegram.senders) == {Channel.TELEGRAM}


async def test_a_store_failure_answers_503_so_telegram_delivers_again(api: FakeBotApi) -> None:
    sink = FlakySink(failures=1)
    telegram = plug(config(api), sink, NoTickets(), lambda: frozenset(Channel))
    app = web.Application()
    app.add_routes(telegram.routes)
    delivery = update()

    async with TestClient(TestServer(app)) as test_client:
        failed = await deliver(test_client, delivery)
        redelivered = await deliver(test_client, delivery)

    assert failed[0] == 503
    assert "retry" in failed[1]["error"]
    assert (redelivered[0], redelivered[1]["outcome"]) == (200, "stored")
    assert len(sink.accepted) == 1


# --- parsing and splitting, without storage ---------------------------------------------------


def parsed(body: dict[str, Any]) -> InboundMessage | str:
    return inbound_of(Update.de_json(body, None), body)


def test_names_and_language_come_from_the_sender() -> None:
    named = parsed(update(sender=user(language_code="RU")))
    username_only = parsed(
        update(sender={"id": CHAT, "is_bot": False, "first_name": "", "username": "sunny42"})
    )

    assert isinstance(named, InboundMessage)
    assert isinstance(username_only, InboundMessage)
    assert (named.display_name, named.language, named.sender) == ("Giulia Bianchi", "ru", str(CHAT))
    assert (username_only.display_name, username_only.language) == ("sunny42", None)
    assert named.received_at == START


def test_every_kind_of_file_keeps_its_metadata() -> None:
    voice = {
        "file_id": "AwACAgQ",
        "file_unique_id": "AgADv",
        "duration": 4,
        "mime_type": "audio/ogg",
        "file_size": 9120,
    }
    gif = {
        "file_id": "CgACAgQ",
        "file_unique_id": "AgADg",
        "width": 320,
        "height": 240,
        "duration": 2,
        "file_name": "error.mp4",
        "mime_type": "video/mp4",
        "file_size": 77,
    }
    with_voice = parsed(update(voice=voice))
    animation = parsed(update(animation=gif, document=gif, caption="guarda"))

    assert isinstance(with_voice, InboundMessage)
    assert isinstance(animation, InboundMessage)
    assert [(a.content_type, a.size, a.url) for a in with_voice.attachments] == [
        ("audio/ogg", 9120, "tg-file:AwACAgQ")
    ]
    assert [a.filename for a in animation.attachments] == ["error.mp4"]  # listed once


async def test_text_beyond_what_the_store_takes_is_ignored_not_a_crash(api: FakeBotApi) -> None:
    telegram = plug(config(api), NoSink(), NoTickets(), lambda: frozenset(Channel))
    app = web.Application()
    app.add_routes(telegram.routes)

    async with TestClient(TestServer(app)) as test_client:
        status, payload = await deliver(test_client, update(text="x" * (MAX_TEXT_CHARS + 1)))

    assert (status, payload["outcome"]) == (200, "ignored")
    assert "invalid message" in payload["detail"]


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    paragraphs = "\n\n".join(["p" * 3000, "q" * 3000])
    lines = "\n".join(["l" * 3000, "m" * 3000])
    words = " ".join(["w" * 3000, "v" * 3000])
    unbroken = "u" * 9000

    assert split_text(paragraphs) == ["p" * 3000, "q" * 3000]
    assert split_text(lines) == ["l" * 3000, "m" * 3000]
    assert split_text(words) == ["w" * 3000, "v" * 3000]
    assert split_text(unbroken) == ["u" * 4096, "u" * 4096, "u" * 808]
    assert split_text("short\n\nreply") == ["short\n\nreply"]
    assert split_text(" \n ") == []


def test_split_counts_emoji_as_two_units_and_never_cuts_one() -> None:
    parts = split_text("ok " + "🔧" * 3000)

    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "") == "ok" + "🔧" * 3000


# --- test doubles of the core's ports (not of our channel code) ---------------------------------


class NoSink:
    async def accept(self, msg: InboundMessage) -> Accepted:
        raise AssertionError(f"nothing should be stored here: {msg.external_id}")


class FlakySink:
    """Fails the first `failures` accepts (a store outage), then stores in a list."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.accepted: list[InboundMessage] = []

    async def accept(self, msg: InboundMessage) -> Accepted:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("the store is down")
        self.accepted.append(msg)
        return Accepted(len(self.accepted), duplicate=False)


@contextlib.asynccontextmanager
async def two_processes(
    api: FakeBotApi, runtime: Runtime
) -> AsyncIterator[tuple[TelegramChannel, TelegramChannel]]:
    """Two web processes' channels on one Redis, each with its own bot and clients."""
    recall = [Recall(runtime.redis, runtime.keys.prefix) for _ in range(2)]
    channels = [
        TelegramChannel(config(api), NoSink(), runtime.lookup, accepted_of(runtime), r)
        for r in recall
    ]
    stop = asyncio.Event()
    lifetimes = [asyncio.create_task(c.run(stop)) for c in channels]
    try:
        yield channels[0], channels[1]
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*lifetimes), 10)


async def test_what_one_process_did_another_does_not_do_again(
    runtime: Runtime, api: FakeBotApi
) -> None:
    """A command re-delivered to another process, a split reply retried on another process."""
    async with two_processes(api, runtime) as (first, second):
        command = Update.de_json(update(text="/status"), first.bot)
        assert command is not None
        assert command.message is not None
        answers = [
            await first.commands.answer("/status", command.message),
            await second.commands.answer("/status", command.message),
        ]
        assert [a.outcome for a in answers] == ["answered", "duplicate"]

        text = "\n\n".join(["a" * 3000, "b" * 3000, "c" * 3000])
        before = len(api.calls)
        api.rate_limit(retry_after=3, after=1)  # part one goes, part two is limited
        assert not (await first.sender.send(reply(text))).ok
        assert (await second.sender.send(reply(text))).ok
    parts = [p["text"][0] for m, p in api.calls[before:] if m == "sendMessage"]
    assert parts == ["a", "b", "b", "c"]  # "a" once: the second process knew it went out


async def test_only_one_process_polls_and_another_takes_over_when_it_stops(
    runtime: Runtime, api: FakeBotApi
) -> None:
    leases = [Leases(runtime.redis, runtime.keys.prefix, ttl_s=0.3) for _ in range(2)]
    channels = [
        TelegramChannel(
            config(api, polling=True, poll_timeout_s=5),
            runtime.ingest,
            NoTickets(),
            lambda: frozenset(Channel),
            exclusive=lease,
        )
        for lease in leases
    ]
    stops = [asyncio.Event(), asyncio.Event()]
    first = asyncio.create_task(channels[0].run(stops[0]))
    await api.wait_for(lambda: api.polling == 1)
    second = asyncio.create_task(channels[1].run(stops[1]))
    await api.queue(update(message_id=1))
    await api.wait_for(lambda: len(api.offsets) >= 2)  # the update fetched, polling again
    stops[0].set()
    await asyncio.wait_for(first, 10)
    await api.queue(update(message_id=2))
    await api.wait_for(lambda: api.pending == [] and api.polling == 1)  # the second polls
    stops[1].set()
    await asyncio.wait_for(second, 10)
    assert api.most_polling == 1  # never two getUpdates at once
    assert [r.external_id for r in await stored_messages(runtime)] == [f"{CHAT}:1", f"{CHAT}:2"]
