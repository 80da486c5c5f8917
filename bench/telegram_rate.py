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
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from telegram import Update

from bench import procs
from bot.config import Settings
from bot.domain import Accepted, Channel, InboundMessage, TicketView
from bot.ports import MessageSink, NoClassifier, Plug
from bot.runtime import open_runtime
from bot.web.app import make_app
from channels.telegram import PATH, SECRET_HEADER, TelegramConfig, inbound_of, plug
from tests.fakes.telegram_api import running

TARGET = 3000.0
REQUESTS, CONCURRENCY, MAX_S = 8000, 64, 8.0
TOKEN = "7000000001:bench-token"  # noqa: S105 -- the local fake's, not a secret


def body(n: int, run: str) -> bytes:
    """One private-chat text message, shaped as the Bot API sends it: (chat, message_id) new."""
    chat = 500_000_000 + n % 500
    at = int(time.time())
    update = {"update_id": 1_000_000 + n, "message": {
        "message_id": n + 1, "date": at, "text":
            f"My inverter SUN-5K-G03 shows error F23 since Monday. ({run})",
        "from": {"id": chat, "is_bot": False, "first_name": "Anna", "last_name": "Rossi",
                 "username": "anna_r", "language_code": "en"},
        "chat": {"id": chat, "type": "private", "first_name": "Anna"}}}
    return json.dumps(update).encode()


@dataclass
class Figure:
    name: str
    done: int
    seconds: float
    statuses: str = ""

    @property
    def per_s(self) -> float:
        return self.done / max(self.seconds, 1e-9)


def parse_rate(secret: str, count: int = 20_000) -> Figure:
    bodies = [body(n, "0bad") for n in range(count)]
    begun = time.perf_counter()
    for raw in bodies:
        if hmac.compare_digest(secret.encode(), secret.encode()):
            data = json.loads(raw)
            inbound_of(Update.de_json(data, None), data)
    return Figure("secret + JSON + de_json + InboundMessage, in-process", count,
                  time.perf_counter() - begun)


class Discard:
    """A sink that keeps nothing: isolates the webhook's own cost from the store's."""

    def __init__(self) -> None:
        self._n = 0

    async def accept(self, msg: InboundMessage) -> Accepted:
        self._n += 1
        return Accepted(self._n, duplicate=False)


class NoTickets:
    async def by_reference(self, ref: str, contact: str) -> TicketView | None:
        return None

    async def open_ticket_of(self, channel: Channel, address: str) -> TicketView | None:
        return None


@asynccontextmanager
async def telegram_plug(secret: str, sink: MessageSink) -> AsyncIterator[Plug]:
    async with running(TOKEN) as api:
        yield plug(TelegramConfig(token=TOKEN, webhook_secret=secret, api_url=api.base_url),
                   sink, NoTickets(), lambda: frozenset(Channel))


async def serve_and_load(app: web.Application, name: str, secret: str) -> Figure:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}{PATH}"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.telegram_rate", "--client", url, str(REQUESTS),
            str(CONCURRENCY), str(MAX_S), env={**os.environ, "TELEGRAM_BENCH_SECRET": secret},
            stdout=asyncio.subprocess.PIPE)
        out, _ = await child.communicate()
    finally:
        await runner.cleanup()
    result = json.loads(out.decode().strip().splitlines()[-1])
    return Figure(name, result["ok"], result["seconds"], result["statuses"])


async def embedded_figure(secret: str, tmp: Path) -> Figure:
    settings = Settings(data_dir=tmp, key_prefix=f"bench-tg-{uuid.uuid4().hex[:8]}",
                        log_level="WARNING")
    async with (open_runtime(settings, classifier=NoClassifier()) as runtime,
                telegram_plug(secret, runtime.ingest) as telegram):
        app = make_app(runtime, plugs=[telegram])
        return await serve_and_load(app, "HTTP, embedded store (SQLite + Valkey)", secret)


async def distributed_figure(secret: str, tmp: Path) -> Figure | None:
    """The same on PostgreSQL + Redis at their standard local ports; None when not there."""
    prefix = f"bench-tg-{uuid.uuid4().hex[:8]}"
    try:
        async with procs.temp_database() as dsn:
            settings = Settings(data_dir=tmp, key_prefix=prefix, redis_url=procs.REDIS_URL,
                                database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"),
                                log_level="WARNING")
            async with (open_runtime(settings, classifier=NoClassifier()) as runtime,
                        telegram_plug(secret, runtime.ingest) as telegram):
                app = make_app(runtime, plugs=[telegram])
                return await serve_and_load(app, "HTTP, distributed (PostgreSQL + Redis)",
                                            secret)
    except OSError as exc:
        print(f"  (distributed figure skipped: {exc})")
        return None
    finally:
        await procs.forget_keys(prefix)


async def discard_figure(secret: str) -> Figure:
    async with telegram_plug(secret, Discard()) as telegram:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_routes(telegram.routes)
        return await serve_and_load(app, "HTTP, sink that stores nothing", secret)


# --- the load client (child process) ------------------------------------------------------------


async def load(url: str, count: int, concurrency: int, max_s: float, secret: str) -> None:
    run = uuid.uuid4().hex[:8]
    todo = iter([body(n, run) for n in range(count)])
    statuses: Counter[str] = Counter()
    headers = {"Content-Type": "application/json", SECRET_HEADER: secret}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        begun = time.perf_counter()
        deadline = begun + max_s

        async def worker() -> None:
            for raw in todo:
                if time.perf_counter() > deadline:
                    return
                async with http.post(url, data=raw, headers=headers) as response:
                    answer = await response.json() if response.status == 200 else {}
                    statuses[f"{response.status} {answer.get('outcome', '')}".strip()] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - begun
    print(json.dumps({"ok": statuses["200 stored"], "seconds": seconds,
                      "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))}))


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        url, count, concurrency, max_s = sys.argv[2:6]
        asyncio.run(load(url, int(count), int(concurrency), float(max_s),
                         os.environ["TELEGRAM_BENCH_SECRET"]))
        return
    secret = secrets.token_urlsafe(24)
    print(f"== Telegram webhook: Bot API updates with the secret-token header, one text message "
          f"each ({REQUESTS:,} requests max, {CONCURRENCY} concurrent, {MAX_S:.0f} s max) ==")
    figures = [parse_rate(secret), asyncio.run(discard_figure(secret))]
    with tempfile.TemporaryDirectory(prefix="intake-telegram-bench-") as tmp:
        embedded = asyncio.run(embedded_figure(secret, Path(tmp)))
        distributed = asyncio.run(distributed_figure(secret, Path(tmp)))
    figures += [embedded, *([distributed] if distributed else [])]
    for figure in figures:
        note = f"  ({figure.statuses})" if figure.statuses else ""
        print(f"  {figure.name:<52} {figure.per_s:>9,.0f} /s{note}")
    for figure in figures[1:]:
        verdict = "PASS" if figure.per_s >= TARGET else "MISS"
        print(f"  target >= {TARGET:,.0f} requests/s, {figure.name}: {verdict}")


if __name__ == "__main__":
    main()
