"""Meta webhook: signed requests/s that one web process accepts (target 3,000/s).

Three figures, each printed:
  1. signature check + JSON + parse alone, in this process (the channel's own cost);
  2. HTTP POSTs to /webhooks/meta on one in-process web app whose sink drops the
     messages (HTTP + signature + parse: the webhook's ceiling);
  3. the same on the real embedded store (SQLite + embedded Valkey), and on
     PostgreSQL + Redis when they run locally: a 200 means the message is
     committed and on the stream, so these are bounded by the store's ingest.
The load client runs in a child process (`python -m bench.meta_rate --client ...`)
so it does not share the web process's event loop; both still share this
machine's cores, so the HTTP figures are lower bounds for a dedicated server.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import procs
from bot.config import Settings
from bot.domain import Accepted, InboundMessage
from bot.ports import MessageSink, NoClassifier, Plug
from bot.runtime import open_runtime
from bot.web.app import make_app
from channels.meta import PATH, MetaConfig, parse, plug, signature_of, signature_problem

TARGET = 3000.0
REQUESTS, CONCURRENCY, MAX_S = 20_000, 64, 8.0
GRAPH = "http://127.0.0.1:9/v21.0"  # never called: the bench does not send replies


def body(n: int, run: str) -> bytes:
    """One Messenger message, shaped as Meta sends it, with a unique mid."""
    at = int(time.time() * 1000)
    event = {"sender": {"id": f"{6783451290450000 + n % 500}"},
             "recipient": {"id": "682498302938465"}, "timestamp": at,
             "message": {"mid": f"m_{run}_{n:07d}",
                         "text": "My inverter SUN-5K-G03 shows error F23 since Monday."}}
    payload = {"object": "page", "entry": [{"id": "682498302938465", "time": at,
                                            "messaging": [event]}]}
    return json.dumps(payload).encode()


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
    bodies = [body(n, "parse") for n in range(count)]
    signed = [(b, signature_of(secret, b)) for b in bodies]
    begun = time.perf_counter()
    for raw, signature in signed:
        if signature_problem(secret, raw, signature) is None:
            parse(json.loads(raw), GRAPH, datetime.now(UTC))
    return Figure("signature + JSON + parse, in-process", count, time.perf_counter() - begun)


class Discard:
    """A sink that keeps nothing: isolates the webhook's own cost from the store's."""

    def __init__(self) -> None:
        self._n = 0

    async def accept(self, msg: InboundMessage) -> Accepted:
        self._n += 1
        return Accepted(self._n, duplicate=False)


async def serve_and_load(app: web.Application, name: str, secret: str) -> Figure:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}{PATH}"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.meta_rate", "--client", url, str(REQUESTS),
            str(CONCURRENCY), str(MAX_S), env={**os.environ, "META_BENCH_SECRET": secret},
            stdout=asyncio.subprocess.PIPE)
        out, _ = await child.communicate()
    finally:
        await runner.cleanup()
    result = json.loads(out.decode().strip().splitlines()[-1])
    return Figure(name, result["ok"], result["seconds"], result["statuses"])


def _meta_plug(secret: str, sink: MessageSink) -> Plug:
    return plug(MetaConfig(app_secret=secret, verify_token=secret, graph_api_url=GRAPH), sink)


async def embedded_figure(secret: str, tmp: Path) -> Figure:
    settings = Settings(data_dir=tmp, key_prefix=f"bench-meta-{uuid.uuid4().hex[:8]}",
                        log_level="WARNING")
    async with open_runtime(settings, classifier=NoClassifier()) as runtime:
        app = make_app(runtime, plugs=[_meta_plug(secret, runtime.ingest)])
        return await serve_and_load(app, "HTTP, embedded store (SQLite + Valkey)", secret)


async def distributed_figure(secret: str, tmp: Path) -> Figure | None:
    """The same on PostgreSQL + Redis at their standard local ports; None when not there."""
    prefix = f"bench-meta-{uuid.uuid4().hex[:8]}"
    try:
        async with procs.temp_database() as dsn:
            settings = Settings(data_dir=tmp, key_prefix=prefix, redis_url=procs.REDIS_URL,
                                database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"),
                                log_level="WARNING")
            async with open_runtime(settings, classifier=NoClassifier()) as runtime:
                app = make_app(runtime, plugs=[_meta_plug(secret, runtime.ingest)])
                return await serve_and_load(app, "HTTP, distributed (PostgreSQL + Redis)",
                                            secret)
    except OSError as exc:
        print(f"  (distributed figure skipped: {exc})")
        return None
    finally:
        await procs.forget_keys(prefix)


async def discard_figure(secret: str) -> Figure:
    app = web.Application(client_max_size=256 * 1024)
    app.router.add_routes(_meta_plug(secret, Discard()).routes)
    return await serve_and_load(app, "HTTP, sink that stores nothing", secret)


# --- the load client (child process) ------------------------------------------------------------


async def load(url: str, count: int, concurrency: int, max_s: float, secret: str) -> None:
    run = uuid.uuid4().hex[:8]
    signed = [(b, signature_of(secret, b)) for b in (body(n, run) for n in range(count))]
    todo = iter(signed)
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        begun = time.perf_counter()
        deadline = begun + max_s

        async def worker() -> None:
            for raw, signature in todo:
                if time.perf_counter() > deadline:
                    return
                async with http.post(url, data=raw, headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": signature}) as response:
                    await response.read()
                    statuses[response.status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - begun
    print(json.dumps({"ok": statuses[200], "seconds": seconds,
                      "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))}))


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        url, count, concurrency, max_s = sys.argv[2:6]
        asyncio.run(load(url, int(count), int(concurrency), float(max_s),
                         os.environ["META_BENCH_SECRET"]))
        return
    secret = secrets.token_hex(16)
    print(f"== Meta webhook: signed Messenger payloads, one message each "
          f"({REQUESTS:,} requests max, {CONCURRENCY} concurrent, {MAX_S:.0f} s max) ==")
    figures = [parse_rate(secret), asyncio.run(discard_figure(secret))]
    with tempfile.TemporaryDirectory(prefix="intake-meta-bench-") as tmp:
        embedded = asyncio.run(embedded_figure(secret, Path(tmp)))
        distributed = asyncio.run(distributed_figure(secret, Path(tmp)))
    figures += [embedded, *([distributed] if distributed else [])]
    for figure in figures:
        note = f"  ({figure.statuses})" if figure.statuses else ""
        print(f"  {figure.name:<42} {figure.per_s:>9,.0f} /s{note}")
    for figure in figures[1:]:
        verdict = "PASS" if figure.per_s >= TARGET else "MISS"
        print(f"  target >= {TARGET:,.0f} requests/s, {figure.name}: {verdict}")


if __name__ == "__main__":
    main()
