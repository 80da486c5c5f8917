"""Site chat: open WebSockets one web process holds, and round-trip latency under load.

The bot runs as a child process (`python -m bench.chat_rate serve`: the bot with the
webchat channel) on a temporary data dir; its RSS is read from /proc. Embedded (the
default): SQLite + valkey, the worker inside the web process (its language models are
most of the idle RSS). --distributed: PostgreSQL + Redis, the worker in its own process,
so the figure is the web process's alone. The bench then

1. opens SESSIONS WebSockets, each with its own chat session (hello -> welcome), and
   reads the server's RSS before and after;
2. takes ACTIVE of them through the intake (one ticket each), then sends RATE free
   messages per second across them for SECONDS, timing each message to its
   "delivered" frame (durable in the store: the ingest's round trip) and, before the
   load, each intake answer to the bot's next question (the dialog's round trip).

Figures are printed, never asserted. Sending is bounded in count and time; everything
goes to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.procs import BIN, REDIS_URL, Service, forget_keys, free_port, intake_env, temp_database

ANSWERS = [
    "product",
    "Bench Customer",
    "bench{n}@example.com",
    "ORD-{n:06d}",
    "SUN2000-5KTL-M1",
    "skip",
    "The inverter shows error F23 and stopped working on Monday.",
    "skip",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the server side -----------------------------------------------------------------------


async def serve(data_dir: Path, port: int) -> None:
    """The embedded bot with the webchat channel, until SIGTERM."""
    import signal  # noqa: PLC0415  # only the child process needs these

    from aiohttp import web  # noqa: PLC0415

    from bot.app.config import Settings  # noqa: PLC0415
    from bot.app.runtime import open_runtime  # noqa: PLC0415
    from bot.app.web.app import make_app  # noqa: PLC0415
    from bot.text import i18n  # noqa: PLC0415
    from channels.webchat import WebchatConfig, build, plug_of  # noqa: PLC0415

    settings = Settings(data_dir=data_dir, http_host="127.0.0.1", http_port=port)
    async with open_runtime(settings) as runtime:
        config = WebchatConfig(
            key_prefix=settings.key_prefix,
            sessions_per_ip_per_hour=10**9,  # every bench client comes from 127.0.0.1
            messages_per_ip_per_minute=10**9,
            messages_per_session_per_minute=10**9,
            status_label=i18n.status_label,
        )
        chat = build(
            config,
            runtime.ingest,
            runtime.lookup,
            runtime.redis,
            lambda: runtime.policy.current.accepted,
        )
        app = make_app(runtime, background=runtime.embedded, plugs=[plug_of(chat)])
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()


# --- the client side -----------------------------------------------------------------------


@dataclass
class Client:
    ws: aiohttp.ClientWebSocketResponse
    session: str = ""
    waiters: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    def expect(self, key: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[key] = future
        return future

    def _fail(self, why: str) -> None:
        for key in list(self.waiters):
            future = self.waiters.pop(key)
            if not future.done():
                future.set_exception(RuntimeError(why))

    def _resolve(self, key: str) -> None:
        future = self.waiters.pop(key, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def read(self) -> None:
        acked: dict[int, str] = {}
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            kind = frame.get("type")
            if kind == "welcome":
                self.session = frame["session"]
                self._resolve("welcome")
            elif kind == "ack":
                acked[frame["id"]] = frame["cid"]
            elif kind == "entry" and frame["entry"]["sender"] == "bot":
                self._resolve("bot")
            elif kind == "error":
                self._fail(str(frame.get("code")))
            elif kind == "state" and frame["state"] == "delivered":
                self._resolve(f"delivered:{acked.pop(frame['id'], '')}")


async def open_clients(http: aiohttp.ClientSession, url: str, count: int) -> list[Client]:
    """`count` sockets with a session each, 50 handshakes at a time (as visitors arrive)."""
    clients: list[Client] = []
    semaphore = asyncio.Semaphore(50)

    async def one() -> None:
        async with semaphore:
            client = Client(await http.ws_connect(url, heartbeat=None))
            client.reader = asyncio.create_task(client.read())
            for _ in range(5):  # an "unavailable" error (store saturated) is retried
                welcome = client.expect("welcome")
                await client.ws.send_json({"type": "hello", "session": None, "lang": ["en"]})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(welcome, 10)
                    clients.append(client)
                    return

    await asyncio.gather(*(one() for _ in range(count)))
    return clients


ERRORS: dict[str, int] = {}


async def say(client: Client, text: str, cid: str, wait_for: str) -> float:
    """Seconds from sending to the awaited frame (the bot's next entry, or delivered).

    An error frame (rate limited, store unavailable) is counted and the message sent
    again, as the widget's user would.
    """
    key = "bot" if wait_for == "bot" else f"delivered:{cid}"
    for _ in range(3):
        done = client.expect(key)
        started = time.perf_counter()
        await client.ws.send_json({"type": "message", "text": text, "cid": cid})
        try:
            return await asyncio.wait_for(done, 60) - started
        except RuntimeError as exc:
            ERRORS[str(exc)] = ERRORS.get(str(exc), 0) + 1
            await asyncio.sleep(1)
    raise RuntimeError(f"{cid}: three errors in a row")


async def intake(clients: list[Client]) -> list[float]:
    """Each active client through the intake: a ticket each; the dialog's round trips."""
    latencies: list[float] = []

    async def one(n: int, client: Client) -> None:
        for step, template in enumerate(ANSWERS):
            latencies.append(await say(client, template.format(n=n), f"i{step}", "bot"))
            await asyncio.sleep(0.25)  # within the per-socket rate of 5 messages/s

    await asyncio.gather(*(one(n, c) for n, c in enumerate(clients)))
    return latencies


async def load(clients: list[Client], rate: float, seconds: float) -> tuple[list[float], float]:
    """`rate` free messages per second, round robin; latencies to 'delivered'."""
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(client: Client, n: int) -> None:
        latencies.append(await say(client, f"any news? ({n})", f"f{n}", "delivered"))

    total = int(rate * seconds)
    started = time.perf_counter()
    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(clients[n % len(clients)], n)))
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, total / (time.perf_counter() - started)


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"


async def close(clients: list[Client]) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            await client.ws.close()
        if client.reader is not None:
            client.reader.cancel()
    await asyncio.gather(*(c.reader for c in clients if c.reader), return_exceptions=True)


async def run(args: argparse.Namespace) -> None:
    """Embedded: one process (web + worker). Distributed: the web process alone is measured,
    the worker runs beside it on PostgreSQL + Redis."""
    with tempfile.TemporaryDirectory(prefix="chatbench-") as tmp:
        if not args.distributed:
            print("mode: embedded (SQLite + valkey; the worker runs in the web process)")
            await run_with(args, Path(tmp), {})
            return
        print("mode: distributed (PostgreSQL + Redis; the worker in its own process)")
        prefix = f"chatbench{os.getpid()}"
        async with temp_database() as dsn:
            env = {
                "INTAKE_DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
                "INTAKE_REDIS_URL": REDIS_URL,
                "INTAKE_KEY_PREFIX": prefix,
                "INTAKE_DATA_DIR": tmp,
            }
            try:
                await run_with(args, Path(tmp), env)
            finally:
                await forget_keys(prefix)


async def run_with(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> None:
    port = free_port()
    web = Service(
        "web",
        [sys.executable, "-m", "bench.chat_rate", "serve", str(tmp), str(port)],
        intake_env(env),
        tmp / "web.log",
    )
    services = [web]
    if env:
        services.append(
            Service(
                "worker", [str(BIN / "intake-bot"), "worker"], intake_env(env), tmp / "worker.log"
            )
        )
    for service in services:
        await service.start()
    try:
        await web.wait_healthy(f"http://127.0.0.1:{port}/healthz")
        assert web.proc is not None
        await measure(args, port, web.proc.pid, web.problems)
    finally:
        for service in reversed(services):
            await service.stop()


async def measure(
    args: argparse.Namespace,
    port: int,
    pid: int,
    problems: Callable[[], tuple[int, int, list[str]]],
) -> None:
    url = f"http://127.0.0.1:{port}/chat/ws"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        idle = rss_mb(pid)
        started = time.perf_counter()
        clients = await open_clients(http, url, args.sessions)
        opened_s = time.perf_counter() - started
        held = rss_mb(pid)
        print(
            f"open WebSockets held by one web process: {len(clients)} "
            f"(opened in {opened_s:.1f} s, {len(clients) / opened_s:.0f}/s)"
        )
        print(
            f"server RSS: {idle:.0f} MB idle -> {held:.0f} MB with {len(clients)} open "
            f"({(held - idle) * 1024 / max(len(clients), 1):.1f} kB per session; "
            f"target < 300 MB)"
        )
        active = clients[: args.active]
        dialog = await intake(active)
        print(
            f"dialog round trip (answer -> next question), {len(dialog)} answers: "
            f"{percentiles(dialog)}"
        )
        delivered, achieved = await load(active, args.rate, args.seconds)
        print(
            f"chat round trip (message -> delivered, durable) at {achieved:.0f} msg/s over "
            f"{len(active)} sessions, {len(delivered)} messages: {percentiles(delivered)}"
        )
        print(f"server RSS after the load: {rss_mb(pid):.0f} MB")
        await close(clients)
    print(f"error frames received (then retried): {ERRORS or 'none'}")
    errors, tracebacks, first = problems()
    print(f"server log: {errors} ERROR lines, {tracebacks} tracebacks {first or ''}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--active", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="PostgreSQL + Redis on this machine's standard ports",
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args))


def _child(argv: list[str]) -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(serve(Path(argv[0]), int(argv[1])))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _child(sys.argv[2:])
    else:
        main()
