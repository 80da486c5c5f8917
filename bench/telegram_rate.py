"""Telegram webhook: updates/s that one web process accepts with the secret check (target 3,000/s).

Figures, each printed:
  1. secret check + JSON + Update.de_json + InboundMessage alone, in this process;
  2. HTTP POSTs to /webhooks/telegram on one in-process web app whose sink drops the
     messages (HTTP + secret + parse: the webhook's ceiling);
  3. the same on the real embedded store (SQLite + embedded Valkey), and on
     PostgreSQL + Redis when they run locally: a 200 "stored" means the message is
     committed and on the stream, so these are bounded by the store's ingest.
The load client runs in a child process (`python -m bench.telegram_rate --client ...`)
so it does not share the web process's event loop; both still share this machine's
cores, so the HTTP figures are lower bounds for a dedicated server. The plug's bot
talks to the local fake Bot API (getMe at start); no reply is sent during the run.
The measurement is bench.webhook_load's; this module holds what is Telegram's.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from telegram import Update

from bench.webhook_load import Figure, Webhook, main
from bot.contract.domain import Channel
from bot.contract.ports import MessageSink, Plug
from channels.telegram import PATH, SECRET_HEADER, TelegramConfig, inbound_of, plug
from tests.fakes.no_tickets import NoTickets
from tests.fakes.telegram_api import running

TOKEN = "7000000001:bench-token"  # noqa: S105 -- the local fake's, not a secret


def body(n: int, run: str) -> bytes:
    """One private-chat text message, shaped as the Bot API sends it: (chat, message_id) new."""
    chat = 500_000_000 + n % 500
    at = int(time.time())
    update = {
        "update_id": 1_000_000 + n,
        "message": {
            "message_id": n + 1,
            "date": at,
            "text": f"My inverter SUN-5K-G03 shows error F23 since Monday. ({run})",
            "from": {
                "id": chat,
                "is_bot": False,
                "first_name": "Anna",
                "last_name": "Rossi",
                "username": "anna_r",
                "language_code": "en",
            },
            "chat": {"id": chat, "type": "private", "first_name": "Anna"},
        },
    }
    return json.dumps(update).encode()


def headers(secret: str, raw: bytes) -> dict[str, str]:
    """Telegram sends the webhook's secret token as it is, the same on every update."""
    return {SECRET_HEADER: secret}


def parse_rate(secret: str, count: int = 20_000) -> Figure:
    bodies = [body(n, "0bad") for n in range(count)]
    begun = time.perf_counter()
    for raw in bodies:
        if hmac.compare_digest(secret.encode(), secret.encode()):
            data = json.loads(raw)
            inbound_of(Update.de_json(data, None), data)
    return Figure(
        "secret + JSON + de_json + InboundMessage, in-process", count, time.perf_counter() - begun
    )


@asynccontextmanager
async def telegram_plug(secret: str, sink: MessageSink) -> AsyncIterator[Plug]:
    """The plug's bot calls getMe at start, so the local fake Bot API runs beside it."""
    async with running(TOKEN) as api:
        yield plug(
            TelegramConfig(token=TOKEN, webhook_secret=secret, api_url=api.base_url),
            sink,
            NoTickets(),
            lambda: frozenset(Channel),
        )


async def answer(response: aiohttp.ClientResponse) -> str:
    """A 200 may still not have stored the update: its JSON says the outcome."""
    outcome = await response.json() if response.status == 200 else {}
    return f"{response.status} {outcome.get('outcome', '')}".strip()


TELEGRAM = Webhook(
    title="Telegram webhook: Bot API updates with the secret-token header, one text message each",
    module="bench.telegram_rate",
    path=PATH,
    name="telegram",
    requests=8000,
    name_width=52,
    new_secret=lambda: secrets.token_urlsafe(24),
    body=body,
    headers=headers,
    plug=telegram_plug,
    parse_figure=parse_rate,
    answer=answer,
    accepted="200 stored",
)


if __name__ == "__main__":
    main(TELEGRAM)
