"""Hostile input to the channels' ways in, and secrets kept out of the logs.

A header with bytes that are not UTF-8 is a refusal (401/403), JSON nested to exhaust
the parser's stack is a 400 (or the chat's bad_frame), never a 500 or a dropped socket.
Sending a Telegram reply through the local Bot API logs no token, whatever the level.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from bot.app.logs import NOISY_LOGGERS, RedactSecrets, configure_logging
from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply, SendResult
from channels import meta, telegram
from channels.webchat import Chat
from tests.channels.test_meta import config as meta_config
from tests.channels.test_meta import dm, entry, page
from tests.channels.test_telegram import CHAT, SECRET, TOKEN, NoSink, accepted_of, update
from tests.channels.test_telegram import config as telegram_config
from tests.channels.test_webchat import make_chat, serve
from tests.fakes.graph_api import running_graph_api
from tests.fakes.telegram_api import FakeBotApi, running
from tests.helpers import stored_messages
from tests.test_hostile_input import deep_object_text, deep_text, nested, raw_post

Client = TestClient[web.Request, web.Application]
TOKEN_SECRET = TOKEN.split(":", 1)[1]
NOT_UTF8 = [b"\xff", b"sha256=\xff\xfe", b"\xc3(", b"\xe2\x82"]
EMBEDDED = pytest.mark.parametrize("settings", ["embedded"], indirect=True)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with running(TOKEN) as fake:
        yield fake


@pytest.fixture
async def telegram_client(runtime: Runtime, api: FakeBotApi) -> AsyncIterator[Client]:
    plug = telegram.plug(telegram_config(api), runtime.ingest, runtime.lookup, accepted_of(runtime))
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as client:
        yield client


@pytest.fixture
async def meta_client(runtime: Runtime, clock: VirtualClock) -> AsyncIterator[Client]:
    async with running_graph_api() as (_, graph_url):
        plug = meta.plug(meta_config(graph_url, now=clock.now), runtime.ingest)
        async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as client:
            yield client


@pytest.fixture
async def chat_client(runtime: Runtime) -> AsyncIterator[tuple[Chat, Client]]:
    chat = make_chat(runtime)
    async with await serve(runtime, chat) as client:
        await asyncio.wait_for(chat.hub.ready.wait(), 5)
        yield chat, client


def signed(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        meta.SIGNATURE_HEADER: meta.signature_of("meta-app-secret-for-tests", body),
    }


# --- headers that are not UTF-8 -------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_UTF8)
async def test_a_meta_signature_that_is_not_utf8_is_refused(
    meta_client: Client, runtime: Runtime, value: bytes
) -> None:
    body = json.dumps(page(entry(dm("m_1")))).encode()
    header = meta.SIGNATURE_HEADER.encode() + b": " + value

    assert await raw_post(meta_client, meta.PATH, [header], body) in {401, 403}
    assert await stored_messages(runtime) == []


@pytest.mark.parametrize("value", NOT_UTF8)
async def test_a_telegram_secret_that_is_not_utf8_is_refused(
    telegram_client: Client, runtime: Runtime, value: bytes
) -> None:
    body = json.dumps(update()).encode()
    for given in (value, SECRET.encode() + value):
        header = telegram.SECRET_HEADER.encode() + b": " + given

        assert await raw_post(telegram_client, telegram.PATH, [header], body) == 403
    assert await stored_messages(runtime) == []


async def test_a_verify_token_that_is_not_utf8_is_refused(meta_client: Client) -> None:
    response = await meta_client.get(
        meta.PATH + "?hub.mode=subscribe&hub.verify_token=%FF%C3&hub.challenge=42"
    )
    assert response.status == 403


# --- JSON nested too deep -------------------------------------------------------------------


DEEP_BODIES = [deep_text(900), deep_object_text(900), deep_text(100_000)]


@pytest.mark.parametrize("body", DEEP_BODIES)
async def test_deep_json_to_the_telegram_webhook_is_a_400(
    telegram_client: Client, runtime: Runtime, body: str
) -> None:
    response = await telegram_client.post(
        telegram.PATH, data=body.encode(), headers={telegram.SECRET_HEADER: SECRET}
    )

    assert response.status == 400
    assert "nested deeper than 32" in (await response.json())["error"]
    assert await stored_messages(runtime) == []


async def test_a_telegram_update_nesting_deep_inside_is_a_400(
    telegram_client: Client, runtime: Runtime
) -> None:
    body = update()
    body["message"]["reply_markup"] = {"inline_keyboard": nested(40)}
    response = await telegram_client.post(
        telegram.PATH, json=body, headers={telegram.SECRET_HEADER: SECRET}
    )

    assert response.status == 400
    assert await stored_messages(runtime) == []


@pytest.mark.parametrize(
    "body",
    [
        *DEEP_BODIES,
        json.dumps(page(entry(dm("m_3")))).replace('"m_3"', '"m_3", "deep": ' + deep_text(900)),
    ],
)
async def test_deep_json_to_the_meta_webhook_is_a_400(
    meta_client: Client, runtime: Runtime, body: str
) -> None:
    data = body.encode()
    response = await meta_client.post(meta.PATH, data=data, headers=signed(data))

    assert response.status == 400
    assert "nested deeper than 32" in (await response.json())["error"]
    assert await stored_messages(runtime) == []


async def test_deep_json_unsigned_is_refused_before_it_is_parsed(
    meta_client: Client, runtime: Runtime
) -> None:
    response = await meta_client.post(
        meta.PATH, data=deep_text(100_000).encode(), headers=signed(b"something else")
    )

    assert response.status == 403
    assert await stored_messages(runtime) == []


async def test_a_meta_message_within_the_cap_is_still_stored(
    meta_client: Client, runtime: Runtime
) -> None:
    data = json.dumps(page(entry(dm("m_2", nlp=nested(20))))).encode()
    response = await meta_client.post(meta.PATH, data=data, headers=signed(data))

    assert response.status == 200
    assert len(await stored_messages(runtime)) == 1


CHAT_FRAMES = [
    deep_text(9000),
    '{"type": "hello", "x": ' + deep_text(9000) + "}",
    '{"type": "hello", "session": null, "x": ' + deep_text(40) + "}",
]  # < 20 kB


@pytest.mark.parametrize("body", CHAT_FRAMES)
async def test_deep_json_to_chat_send_is_a_bad_frame(
    chat_client: tuple[Chat, Client], body: str
) -> None:
    _, client = chat_client
    response = await client.post("/chat/send", data=body)

    assert response.status == 400
    [frame] = (await response.json())["frames"]
    assert frame["code"] == "bad_frame"


@pytest.mark.parametrize("frame", CHAT_FRAMES)
async def test_deep_json_on_the_chat_socket_is_a_bad_frame_and_the_socket_lives_on(
    chat_client: tuple[Chat, Client], frame: str
) -> None:
    _, client = chat_client
    ws = await client.ws_connect("/chat/ws")
    await ws.send_str(frame)
    first = await asyncio.wait_for(ws.receive(), 5)
    await ws.send_json({"type": "hello", "session": None, "lang": ["en"]})
    second = await asyncio.wait_for(ws.receive(), 5)
    await ws.close()

    assert first.type == WSMsgType.TEXT, first
    assert json.loads(first.data)["code"] == "bad_frame"
    assert second.type == WSMsgType.TEXT, second
    assert json.loads(second.data)["type"] == "welcome"


# --- tokens kept out of the logs ------------------------------------------------------------


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """The CLI's logging setup for one test, then undone: levels, handlers, filters."""
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in NOISY_LOGGERS)]
    levels = [logger.level for logger in loggers]
    handlers = {handler: list(handler.filters) for handler in root.handlers}
    configure_logging("DEBUG")
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
    for handler in root.handlers[:]:
        if handler in handlers:
            handler.filters[:] = handlers[handler]
        else:
            root.removeHandler(handler)


async def send_one_reply(api: FakeBotApi, runtime: Runtime) -> SendResult:
    channel = telegram.TelegramChannel(
        telegram_config(api), NoSink(), runtime.lookup, lambda: frozenset(Channel)
    )
    stop = asyncio.Event()
    lifetime = asyncio.create_task(channel.run(stop))
    try:
        return await channel.sender.send(
            OutboundReply(
                outbox_id=1,
                channel=Channel.TELEGRAM,
                to=str(CHAT),
                text="Ricevuto.",
                language="it",
                ticket_ref="T-1",
            )
        )
    finally:
        stop.set()
        await asyncio.wait_for(lifetime, 10)


@EMBEDDED
async def test_a_telegram_reply_logs_no_token_once_logging_is_set_up(
    cli_logging: None, caplog: pytest.LogCaptureFixture, api: FakeBotApi, runtime: Runtime
) -> None:
    caplog.set_level(logging.DEBUG)

    result = await send_one_reply(api, runtime)

    assert result.ok, result.error
    assert api.sent
    assert TOKEN_SECRET not in caplog.text
    assert all(TOKEN_SECRET not in record.getMessage() for record in caplog.records)
    chatty = [
        record.name
        for record in caplog.records
        if record.levelno < logging.WARNING
        and record.name.split(".")[0] in {"httpx", "httpcore", "telegram"}
    ]
    assert chatty == []


class Kept(logging.Handler):
    """Every record it handles, and their formatted text."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.text = io.StringIO()
        self.addFilter(RedactSecrets())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.text.write(self.format(record) + "\n")


@pytest.fixture
def kept() -> Iterator[Kept]:
    handler = Kept()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@EMBEDDED
async def test_the_filter_masks_the_token_even_with_http_logs_at_debug(
    caplog: pytest.LogCaptureFixture, kept: Kept, api: FakeBotApi, runtime: Runtime
) -> None:
    for name in NOISY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)

    assert (await send_one_reply(api, runtime)).ok

    text = kept.text.getvalue()
    assert "/sendMessage" in text  # the URLs were logged, with the token masked
    assert f"bot{TOKEN.split(':')[0]}:" in text
    assert TOKEN_SECRET not in text


def test_the_filter_masks_meta_tokens_and_tokens_in_fields_and_tracebacks(kept: Kept) -> None:
    log = logging.getLogger("tests.redaction")
    url = "https://graph.facebook.com/v21.0/me?fields=id&access_token=EAAB0secret0token&x=1"
    log.warning("GET %s", url)
    log.warning("poll failed", extra={"error": f"ConnectError: /bot{TOKEN}/getUpdates"})
    try:
        raise ConnectionError(f"https://api.telegram.org/bot{TOKEN}/getMe")
    except ConnectionError:
        log.exception("failed")
    log.warning('body {"access_token": "EAAB0secret0token"}')

    text = kept.text.getvalue()
    assert "EAAB0secret0token" not in text
    assert TOKEN_SECRET not in text
    assert "access_token=" in text
    assert "&x=1" in text
    assert all(TOKEN_SECRET not in str(getattr(record, "error", "")) for record in kept.records)
    assert "Traceback" in text


def test_tokens_in_args_of_any_type_are_masked(kept: Kept) -> None:
    log = logging.getLogger("tests.redaction")
    args: dict[str, Any] = {"url": f"https://api.telegram.org/bot{TOKEN}/sendMessage"}
    log.warning("calling %(url)s", args)
    assert TOKEN_SECRET not in kept.text.getvalue()
