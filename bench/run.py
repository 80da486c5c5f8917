"""`make bench`: end-to-end throughput and latency, the ingest floor, and the throttle.

Everything runs on 127.0.0.1 and is removed afterwards: the temporary PostgreSQL
database, the Redis keys under this run's prefix, the temp dirs, the processes.
Figures are printed, never asserted; the exit status is 0 unless something broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from redis.asyncio import Redis

from bench import corpus, procs
from bench.load import PgStore, Phase, SqliteStore, percentile, run_phase
from bench.throttle_rate import Rate, measure

CONCURRENCY = 64
DISTRIBUTED_MESSAGES, EMBEDDED_MESSAGES, WARMUP_MESSAGES = 20_000, 4_000, 300
MAX_LOAD_S, MAX_DRAIN_S = 30.0, 30.0
THROTTLE_CALLS, THROTTLE_CONCURRENCY, THROTTLE_MAX_S = 20_000, 32, 6.0
E2E_TARGET, FLOOR_TARGET, THROTTLE_TARGET = 1500.0, 0.50, 2.0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def header() -> None:
    model = next((ln.split(":", 1)[1].strip() for ln in
                  Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
                 platform.processor() or "?")
    print(f"intake-bot bench  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}")
    print(f"python:  {sys.version.split()[0]} ({platform.python_implementation()})")


@dataclass
class Run:
    prefix: str
    token: str
    tmp: Path


def bot_env(run: Run, port: int, data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {"INTAKE_API_TOKEN": run.token, "INTAKE_HTTP_PORT": str(port),
           "INTAKE_KEY_PREFIX": run.prefix, "INTAKE_DATA_DIR": str(data_dir)}
    if database_url is not None:
        env |= {"INTAKE_DATABASE_URL": database_url, "INTAKE_REDIS_URL": procs.REDIS_URL}
    return procs.intake_env(env)


@contextlib.asynccontextmanager
async def running(services: list[procs.Service]) -> AsyncIterator[None]:
    """Stop every started service, in reverse, whatever happens."""
    try:
        yield
    finally:
        for service in reversed(services):
            await service.stop()


async def wait_for_log(service: procs.Service, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.log.exists() and text in service.log.read_text(errors="replace"):
            return
        if service.proc is not None and service.proc.returncode is not None:
            break
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{service.name} did not report ready:\n{service.tail()}")


async def phase(url: str, token: str, messages: list[corpus.Message],
                store: PgStore | SqliteStore) -> Phase:
    return await run_phase(url, token, messages, store, concurrency=CONCURRENCY,
                           max_load_s=MAX_LOAD_S, max_drain_s=MAX_DRAIN_S)


async def distributed(run: Run) -> tuple[Phase, Phase, list[procs.Service]]:
    """1a and 2: web + worker on PostgreSQL and Redis, then the floor beside the same worker."""
    async with procs.temp_database() as dsn:
        env = bot_env(run, procs.free_port(), run.tmp / "dist",
                      dsn.replace("postgresql://", "postgresql+asyncpg://"))
        base = f"http://127.0.0.1:{env['INTAKE_HTTP_PORT']}"
        web = procs.Service("serve", [str(procs.BIN / "intake-bot"), "serve"], env,
                            run.tmp / "serve.log")
        worker = procs.Service("worker", [str(procs.BIN / "intake-bot"), "worker"], env,
                               run.tmp / "worker.log")
        floor_port = procs.free_port()
        floor = procs.Service("floor", [sys.executable, "-m", "bench.floor"], {
            **env, "FLOOR_DSN": dsn, "FLOOR_REDIS": procs.REDIS_URL,
            "FLOOR_STREAM": f"{run.prefix}:stream", "FLOOR_PORT": str(floor_port)},
            run.tmp / "floor.log")
        services: list[procs.Service] = []
        db = await asyncpg.connect(dsn)
        try:
            async with running(services):
                services.append(web)
                await web.start()  # first and alone: it runs the migrations
                await web.wait_healthy(f"{base}/healthz")
                services.append(worker)
                await worker.start()
                await wait_for_log(worker, "consuming")
                store = PgStore(db)
                await phase(f"{base}/api/v1/messages", run.token,
                            corpus.build(WARMUP_MESSAGES, seed=1, tag="warm"), store)
                ours = await phase(f"{base}/api/v1/messages", run.token,
                                   corpus.build(DISTRIBUTED_MESSAGES, seed=2, tag="dist"), store)
                services.append(floor)
                await floor.start()
                await floor.wait_healthy(f"http://127.0.0.1:{floor_port}/healthz")
                bare = await phase(f"http://127.0.0.1:{floor_port}/api/v1/messages", run.token,
                                   corpus.build(DISTRIBUTED_MESSAGES, seed=3, tag="floor"), store)
        finally:
            await db.close()
    return ours, bare, [web, worker, floor]


async def embedded(run: Run) -> tuple[Phase, list[procs.Service]]:
    """1b: one `serve` process, SQLite and the embedded Valkey under a temp data dir."""
    data_dir = run.tmp / "embedded"
    env = bot_env(run, procs.free_port(), data_dir, None)
    base = f"http://127.0.0.1:{env['INTAKE_HTTP_PORT']}"
    web = procs.Service("serve (embedded)", [str(procs.BIN / "intake-bot"), "serve"], env,
                        run.tmp / "embedded.log")
    async with running([web]):
        await web.start()
        await web.wait_healthy(f"{base}/healthz")
        store = SqliteStore(data_dir / "intake.db")
        await phase(f"{base}/api/v1/messages", run.token,
                    corpus.build(WARMUP_MESSAGES, seed=1, tag="warm"), store)
        result = await phase(f"{base}/api/v1/messages", run.token,
                             corpus.build(EMBEDDED_MESSAGES, seed=4, tag="emb"), store)
    return result, [web]


def e2e_row(name: str, p: Phase) -> list[object]:
    load = p.load
    return [name, f"{load.accepted:,}", f"{load.accepted_rate:,.0f}",
            f"{ms(percentile(load.post_s, 0.5))}/{ms(percentile(load.post_s, 0.99))}",
            f"{p.decide_rate_under_load:,.0f}", f"{p.e2e_rate:,.0f}",
            f"{ms(percentile(p.latencies, 0.5))}/{ms(percentile(p.latencies, 0.99))}",
            "yes" if p.drained else f"no ({p.stored - p.decided:,} left)"]


def print_e2e(dist: Phase, emb: Phase) -> None:
    print(f"\n1. End to end: POST /api/v1/messages -> decision committed "
          f"(concurrency {CONCURRENCY}, default classifier; target >= {E2E_TARGET:,.0f} msg/s "
          f"distributed)")
    table(["deployment", "accepted", "POST/s", "POST p50/p99 ms", "decided/s under load",
           "e2e msg/s", "latency p50/p99 ms", "drained"],
          [e2e_row("a. distributed (serve + 1 worker)", dist),
           e2e_row("b. embedded (serve: SQLite + valkey)", emb)])
    for name, p in (("distributed", dist), ("embedded", emb)):
        shares = ", ".join(f"{k} {v:,}" for k, v in p.decisions.most_common())
        other = {k: v for k, v in p.load.statuses.items() if k not in (200, 202)}
        print(f"  {name}: decisions {shares}; HTTP 202 {p.load.statuses[202]:,}, "
              f"200 (duplicate) {p.load.statuses[200]:,}"
              + (f", other {other}" if other else "")
              + (f", client errors {dict(p.load.failures)}" if p.load.failures else ""))
    print("  e2e msg/s = decided / (first POST start -> last decision seen committed); latency "
          "= processed_at - POST start")


def print_floor(ours: Phase, bare: Phase) -> float:
    share = ours.load.accepted_rate / max(bare.load.accepted_rate, 1e-9)
    print(f"\n2. Durable-ingest floor (same load, same worker running; target >= "
          f"{FLOOR_TARGET:.0%})")
    table(["ingest", "POST/s", "POST p50/p99 ms", "e2e msg/s"],
          [[name, f"{p.load.accepted_rate:,.0f}",
            f"{ms(percentile(p.load.post_s, 0.5))}/{ms(percentile(p.load.post_s, 0.99))}",
            f"{p.e2e_rate:,.0f}"]
           for name, p in (("floor: aiohttp + json + asyncpg INSERT + XADD", bare),
                           ("ours: POST /api/v1/messages (1a)", ours))])
    print(f"  ours / floor: {share:.0%}")
    return share


def print_throttle(typed: Sequence[Rate]) -> float:
    ratio = typed[0].per_s / max(typed[2].per_s, 1e-9)
    print(f"\n3. Throttle against 127.0.0.1:6379 (one client, concurrency "
          f"{THROTTLE_CONCURRENCY}; target: Throttle.decide within {THROTTLE_TARGET:.0f}x "
          f"of a bare EVALSHA)")
    table(["call", "calls", "calls/s", "us/call"],
          [[r.name, f"{r.calls:,}", f"{r.per_s:,.0f}", f"{1e6 / max(r.per_s, 1e-9):,.0f}"]
           for r in typed])
    print(f"  bare EVALSHA / Throttle.decide: {ratio:.2f}x")
    return ratio


def print_problems(services: Sequence[procs.Service]) -> None:
    print("\nServer logs")
    for service in services:
        errors, tracebacks, first = service.problems()
        print(f"  {service.name}: {errors} ERROR lines, {tracebacks} tracebacks, "
              f"exit {service.proc.returncode if service.proc else '-'}")
        for line in first:
            print(f"    {line}")


async def versions() -> None:
    db = await asyncpg.connect(procs.PG_ADMIN)
    redis = Redis.from_url(procs.REDIS_URL)
    try:
        pg = await db.fetchval("SHOW server_version")
        info = await redis.info("server")
        print(f"services: PostgreSQL {pg} and Redis {info['redis_version']} on 127.0.0.1")
    finally:
        await db.close()
        await redis.aclose()


async def main() -> int:
    header()
    await versions()
    run = Run(prefix=f"bench-{uuid.uuid4().hex[:10]}", token=secrets.token_urlsafe(16),
              tmp=Path(tempfile.mkdtemp(prefix="intake-bench-")))
    print(f"key prefix {run.prefix}, temp dir {run.tmp}\n")
    started = time.monotonic()
    try:
        redis = Redis.from_url(procs.REDIS_URL)
        try:
            texts = [json.loads(m.body)["text"] for m in corpus.build(500, seed=5, tag="t")]
            rates = await measure(redis, run.prefix, texts, count=THROTTLE_CALLS,
                                  concurrency=THROTTLE_CONCURRENCY, max_s=THROTTLE_MAX_S)
        finally:
            await redis.aclose()
        print("running 1a + 2 (distributed) ...", flush=True)
        dist, bare, dist_services = await distributed(run)
        print("running 1b (embedded) ...", flush=True)
        emb, emb_services = await embedded(run)
        print_e2e(dist, emb)
        share = print_floor(dist, bare)
        ratio = print_throttle(rates)
        print_problems([*dist_services, *emb_services])
    finally:
        for prefix in (run.prefix, f"{run.prefix}.lua", f"{run.prefix}.py"):
            await procs.forget_keys(prefix)
        await asyncio.to_thread(shutil.rmtree, run.tmp, ignore_errors=True)
    print(f"\nSummary ({time.monotonic() - started:.0f} s)")
    print(f"  {verdict(dist.e2e_rate >= E2E_TARGET)}  1a e2e throughput {dist.e2e_rate:,.0f} "
          f"msg/s (target >= {E2E_TARGET:,.0f})")
    print(f"  {verdict(share >= FLOOR_TARGET)}  2  POST rate {share:.0%} of the floor "
          f"(target >= {FLOOR_TARGET:.0%})")
    print(f"  {verdict(ratio <= THROTTLE_TARGET)}  3  Throttle.decide {ratio:.2f}x slower than "
          f"bare EVALSHA (target <= {THROTTLE_TARGET:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
