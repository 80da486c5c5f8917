"""What the webhook benches (bench.meta_rate, bench.telegram_rate) share: the HTTP figures.

A channel's webhook bench differs from another's only in its payload, how a request
proves where it comes from, how its plug is built, its in-process parse figure and
which answer counts as accepted; those come in a `Webhook`. Everything else is the
same measurement and lives here once, so the channels' figures stay comparable:
  - one in-process web app on a free port, loaded by a client in a child process
    (`python -m <the bench's module> --client ...`) so the client does not share the
    web process's event loop (both still share this machine's cores, so the figures
    are lower bounds for a dedicated server);
  - the app with a sink that stores nothing (the webhook's own ceiling), on the
    embedded store (SQLite + embedded Valkey), and on PostgreSQL + Redis when they run
    locally (skipped, with the reason printed, when they do not);
  - the printed figures and the PASS/MISS verdicts against one target.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import procs
from bot.app.config import Settings
from bot.app.runtime import open_runtime
from bot.app.web.app import make_app
from bot.contract.domain import Accepted, InboundMessage
from bot.contract.ports import MessageSink, NoClassifier, Plug

TARGET = 3000.0  # requests/s one web process should accept, whatever the channel
CONCURRENCY, MAX_S = 64, 8.0
CHILD_ENV_VAR = "WEBHOOK_BENCH_SECRET"  # the child gets the secret here, not on its argv


@dataclass
class Figure:
    """One printed rate: `done` units in `seconds`, with the answers seen when over HTTP."""

    name: str
    done: int
    seconds: float
    statuses: str = ""

    @property
    def per_s(self) -> float:
        return self.done / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class Webhook:
    """What one channel's bench brings; the rest of the measurement is the same for all."""

    title: str  # the heading's first words
    module: str  # `python -m <module> --client ...` runs this bench's load client
    path: str  # the webhook's URL path
    name: str  # short; names the temp directory and the store's key prefix
    requests: int  # POSTs at most per HTTP figure
    name_width: int  # the figures' names are padded to this in the printout
    new_secret: Callable[[], str]
    body: Callable[[int, str], bytes]  # (n, run) -> the n-th payload, unique per run
    headers: Callable[[str, bytes], Mapping[str, str]]  # (secret, body) -> its headers
    plug: Callable[[str, MessageSink], AbstractAsyncContextManager[Plug]]  # (secret, sink)
    parse_figure: Callable[[str], Figure]  # (secret) -> the channel's own cost, in-process
    # Reads one response and labels it for the status tally ("200", "200 stored", ...);
    # only responses labelled `accepted` count towards the rate.
    answer: Callable[[aiohttp.ClientResponse], Awaitable[str]]
    accepted: str


class Discard:
    """A sink that keeps nothing: isolates the webhook's own cost from the store's."""

    def __init__(self) -> None:
        self._n = 0

    async def accept(self, msg: InboundMessage) -> Accepted:
        self._n += 1
        return Accepted(self._n, duplicate=False)


async def serve_and_load(hook: Webhook, app: web.Application, name: str, secret: str) -> Figure:
    """Serve `app` on a free port and time the child load client against it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}{hook.path}"
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            hook.module,
            "--client",
            url,
            str(hook.requests),
            str(CONCURRENCY),
            str(MAX_S),
            env={**os.environ, CHILD_ENV_VAR: secret},
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await child.communicate()
    finally:
        await runner.cleanup()
    result = json.loads(out.decode().strip().splitlines()[-1])
    return Figure(name, result["ok"], result["seconds"], result["statuses"])


async def discard_figure(hook: Webhook, secret: str) -> Figure:
    """The webhook's ceiling: HTTP + check + parse, with a sink that stores nothing."""
    async with hook.plug(secret, Discard()) as plug:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_routes(plug.routes)
        return await serve_and_load(hook, app, "HTTP, sink that stores nothing", secret)


async def embedded_figure(hook: Webhook, secret: str, tmp: Path) -> Figure:
    """On SQLite + embedded Valkey: a 200 means committed and on the stream."""
    settings = Settings(
        data_dir=tmp, key_prefix=f"bench-{hook.name}-{uuid.uuid4().hex[:8]}", log_level="WARNING"
    )
    async with (
        open_runtime(settings, classifier=NoClassifier()) as runtime,
        hook.plug(secret, runtime.ingest) as plug,
    ):
        app = make_app(runtime, plugs=[plug])
        return await serve_and_load(hook, app, "HTTP, embedded store (SQLite + Valkey)", secret)


async def distributed_figure(hook: Webhook, secret: str, tmp: Path) -> Figure | None:
    """The same on PostgreSQL + Redis at their standard local ports; None when not there."""
    prefix = f"bench-{hook.name}-{uuid.uuid4().hex[:8]}"
    try:
        async with procs.temp_database() as dsn:
            settings = Settings(
                data_dir=tmp,
                key_prefix=prefix,
                redis_url=procs.REDIS_URL,
                database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"),
                log_level="WARNING",
            )
            async with (
                open_runtime(settings, classifier=NoClassifier()) as runtime,
                hook.plug(secret, runtime.ingest) as plug,
            ):
                app = make_app(runtime, plugs=[plug])
                return await serve_and_load(
                    hook, app, "HTTP, distributed (PostgreSQL + Redis)", secret
                )
    except OSError as exc:
        print(f"  (distributed figure skipped: {exc})")
        return None
    finally:
        await procs.forget_keys(prefix)


# --- the load client (child process) ------------------------------------------------------------


async def load(
    hook: Webhook, url: str, count: int, concurrency: int, max_s: float, secret: str
) -> None:
    """POST `count` payloads (or until `max_s`); print the tally as one JSON line.

    Payloads and their headers are built before the clock starts, so the figure is
    the server's, not the client's signing.
    """
    run = uuid.uuid4().hex[:8]
    requests = [
        (raw, {"Content-Type": "application/json", **hook.headers(secret, raw)})
        for raw in (hook.body(n, run) for n in range(count))
    ]
    todo = iter(requests)
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        begun = time.perf_counter()
        deadline = begun + max_s

        async def worker() -> None:
            for raw, headers in todo:
                if time.perf_counter() > deadline:
                    return
                async with http.post(url, data=raw, headers=headers) as response:
                    statuses[await hook.answer(response)] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - begun
    print(
        json.dumps(
            {
                "ok": statuses[hook.accepted],
                "seconds": seconds,
                "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
            }
        )
    )


# --- main ----------------------------------------------------------------------------------------


def main(hook: Webhook) -> None:
    """The bench, or with `--client url count concurrency max_s` its load client."""
    if sys.argv[1:2] == ["--client"]:
        url, count, concurrency, max_s = sys.argv[2:6]
        asyncio.run(
            load(hook, url, int(count), int(concurrency), float(max_s), os.environ[CHILD_ENV_VAR])
        )
        return
    secret = hook.new_secret()
    print(
        f"== {hook.title} "
        f"({hook.requests:,} requests max, {CONCURRENCY} concurrent, {MAX_S:.0f} s max) =="
    )
    figures = [hook.parse_figure(secret), asyncio.run(discard_figure(hook, secret))]
    with tempfile.TemporaryDirectory(prefix=f"intake-{hook.name}-bench-") as tmp:
        embedded = asyncio.run(embedded_figure(hook, secret, Path(tmp)))
        distributed = asyncio.run(distributed_figure(hook, secret, Path(tmp)))
    figures += [embedded, *([distributed] if distributed else [])]
    for figure in figures:
        note = f"  ({figure.statuses})" if figure.statuses else ""
        print(f"  {figure.name:<{hook.name_width}} {figure.per_s:>9,.0f} /s{note}")
    for figure in figures[1:]:
        verdict = "PASS" if figure.per_s >= TARGET else "MISS"
        print(f"  target >= {TARGET:,.0f} requests/s, {figure.name}: {verdict}")
