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

from bench import corpus, cpu, procs
from bench.load import PgStore, Phase, SqliteStore, Store, percentile, run_phase
from bench.throttle_rate import Rate, measure

CONCURRENCY = 64
DISTRIBUTED_MESSAGES, EMBEDDED_MESSAGES, WARMUP_MESSAGES = 20_000, 5_000, 100
MAX_LOAD_S, MAX_DRAIN_S, WARMUP_DRAIN_S = 25.0, 30.0, 10.0
PACED_RATE, PACED_S = 10.0, 8.0  # a light load: latency when the worker keeps up
THROTTLE_CALLS, THROTTLE_CONCURRENCY, THROTTLE_MAX_S = 20_000, 32, 4.0
E2E_TARGET, FLOOR_TARGET, THROTTLE_TARGET = 1500.0, 0.50, 2.0


@dataclass
class Run:
    prefix: str
    token: str
    tmp: Path


@dataclass
class Results:
    dist: Phase
    dist_paced: Phase
    floor: Phase
    emb: Phase
    emb_paced: Phase
    rates: list[Rate]
    services: list[procs.Service]


# --- printing ------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def p50_p99(values: Sequence[float], lower_bound: bool = False) -> str:
    mark = ">=" if lower_bound else ""
    return f"{mark}{ms(percentile(values, 0.5))} / {mark}{ms(percentile(values, 0.99))}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def header() -> None:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "?",
    )
    print(f"intake-bot bench  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine:  {os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}")
    print(f"python:   {sys.version.split()[0]} ({platform.python_implementation()})")
    load1, load5, _ = os.getloadavg()
    print(
        f"load avg: {load1:.2f} (1 min), {load5:.2f} (5 min) before the run; other work on "
        f"this machine blurs every figure"
    )


def rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def e2e_row(name: str, p: Phase, target: str) -> list[object]:
    return [
        name,
        f"{p.load.accepted:,}",
        rate(p.load.accepted_rate),
        p50_p99(p.load.post_s),
        rate(p.decide_rate_under_load),
        rate(p.decide_rate_in_drain),
        rate(p.e2e_rate),
        target,
        p50_p99(p.latencies, p.censored > 0),
        "yes" if p.drained else f"no, {p.stored - p.decided:,} left",
    ]


def print_e2e(r: Results) -> None:
    print(
        f"\n1. End to end: POST /api/v1/messages -> decision committed (concurrency "
        f"{CONCURRENCY}, up to {DISTRIBUTED_MESSAGES:,}/{EMBEDDED_MESSAGES:,} messages or "
        f"{MAX_LOAD_S:.0f} s of load, then up to {MAX_DRAIN_S:.0f} s to drain)"
    )
    paced = f"paced {PACED_RATE:.0f}/s"
    table(
        [
            "deployment",
            "accepted",
            "POST/s",
            "POST p50/p99 ms",
            "decided/s in load",
            "in drain",
            "e2e msg/s",
            "target",
            "latency p50/p99 ms",
            "drained",
        ],
        [
            e2e_row("a. distributed: serve + 1 worker", r.dist, f">= {E2E_TARGET:,.0f}"),
            e2e_row(f"   same, {paced}", r.dist_paced, "-"),
            e2e_row("b. embedded: serve (SQLite + valkey)", r.emb, "-"),
            e2e_row(f"   same, {paced}", r.emb_paced, "-"),
        ],
    )
    for name, p in (("a", r.dist), ("b", r.emb)):
        shares = ", ".join(f"{k} {v:,}" for k, v in p.decisions.most_common())
        other = {k: v for k, v in p.load.statuses.items() if k not in (200, 202)}
        print(
            f"  {name}: decisions {shares}; HTTP 202 {p.load.statuses[202]:,}, "
            f"200 (duplicate) {p.load.statuses[200]:,}"
            + (f", other {other}" if other else "")
            + (f", client errors {dict(p.load.failures)}" if p.load.failures else "")
        )
    print(
        "  e2e msg/s = decided / (first POST start -> last decision seen committed); latency "
        "= processed_at - POST start;\n  >= : some were still undecided, their wait so far "
        "counts, so the figure is a lower bound; in drain = the worker once the POSTs stop"
    )


def print_floor(r: Results) -> float:
    share = r.dist.load.accepted_rate / max(r.floor.load.accepted_rate, 1e-9)
    print(
        f"\n2. Durable-ingest floor: bench/floor.py INSERTs into the same messages table and "
        f"XADDs to the same stream,\n   same client load, while the same worker decides "
        f"(target: ours >= {FLOOR_TARGET:.0%} of the floor)"
    )
    table(
        ["ingest", "accepted", "POST/s", "POST p50/p99 ms"],
        [
            [name, f"{p.load.accepted:,}", f"{p.load.accepted_rate:,.0f}", p50_p99(p.load.post_s)]
            for name, p in (
                ("floor: aiohttp + json.loads + asyncpg INSERT + XADD", r.floor),
                ("ours: POST /api/v1/messages (1a)", r.dist),
            )
        ],
    )
    print(f"  ours / floor: {share:.0%}")
    return share


def print_throttle(rates: Sequence[Rate]) -> float:
    ratio = rates[0].per_s / max(rates[2].per_s, 1e-9)
    print(
        f"\n3. Throttle on 127.0.0.1:6379, one client, concurrency {THROTTLE_CONCURRENCY} "
        f"(target: Throttle.decide within {THROTTLE_TARGET:.0f}x of a bare EVALSHA)"
    )
    table(
        ["call", "calls", "calls/s", "us/call", "Redis us/call"],
        [
            [
                r.name,
                f"{r.calls:,}",
                f"{r.per_s:,.0f}",
                f"{1e6 / max(r.per_s, 1e-9):,.0f}",
                "-" if r.server_us is None else f"{r.server_us:,.1f}",
            ]
            for r in rates
        ],
    )
    print(f"  bare EVALSHA / Throttle.decide: {ratio:.2f}x")
    return ratio


def print_cpu(r: Results) -> None:
    cores = os.cpu_count() or 1
    groups = ["web", "worker", "floor", "valkey", "postgres", "redis", "bench client"]
    print(
        f"\nCPU seconds by process during each phase (load + drain); elsewhere = busy time "
        f"of any other process or the kernel;\nbusy = share of the {cores} cores in use"
    )
    rows = []
    for name, p in (("1a distributed", r.dist), ("2 floor", r.floor), ("1b embedded", r.emb)):
        elapsed = p.t_done - p.load.t0
        elsewhere = p.machine_busy * elapsed * cores - sum(p.cpu.values())
        rows.append(
            [
                name,
                f"{elapsed:.1f}",
                *[f"{p.cpu[g]:.1f}" if g in p.cpu else "-" for g in groups],
                f"{max(elsewhere, 0.0):.1f}",
                f"{p.machine_busy:.0%}",
            ]
        )
    table(["phase", "seconds", *groups, "elsewhere", "busy"], rows)

    def per(p: Phase, group: str, count: int) -> str:
        return f"{1000 * p.cpu.get(group, 0.0) / max(count, 1):.2f} ms"

    print(
        f"  web {per(r.dist, 'web', r.dist.load.accepted)} per POST (1a), floor "
        f"{per(r.floor, 'floor', r.floor.load.accepted)} per POST, worker "
        f"{per(r.dist, 'worker', r.dist.decided)} per decision (1a), embedded serve "
        f"{per(r.emb, 'web', r.emb.decided)} per decided message (1b)"
    )


def print_logs(services: Sequence[procs.Service]) -> None:
    print("\nServer logs (ERROR lines, tracebacks, exit status after SIGTERM)")
    for service in services:
        errors, tracebacks, first = service.problems()
        code = service.proc.returncode if service.proc else "-"
        print(f"  {service.name}: {errors} ERROR, {tracebacks} tracebacks, exit {code}")
        for line in first:
            print(f"    {line}")


def print_summary(r: Results, elapsed: float) -> None:
    share = r.dist.load.accepted_rate / max(r.floor.load.accepted_rate, 1e-9)
    ratio = r.rates[0].per_s / max(r.rates[2].per_s, 1e-9)
    print(f"\nSummary ({elapsed:.0f} s)")
    print(
        f"  {verdict(r.dist.e2e_rate >= E2E_TARGET)}  1a end-to-end {r.dist.e2e_rate:,.0f} "
        f"msg/s (target >= {E2E_TARGET:,.0f})"
    )
    print(
        f"  {verdict(share >= FLOOR_TARGET)}  2  POST rate {share:.0%} of the floor's "
        f"(target >= {FLOOR_TARGET:.0%})"
    )
    print(
        f"  {verdict(ratio <= THROTTLE_TARGET)}  3  Throttle.decide {ratio:.2f}x the time of "
        f"a bare EVALSHA (target <= {THROTTLE_TARGET:.0f}x)"
    )


# --- running -------------------------------------------------------------------------


def bot_env(run: Run, port: int, data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {
        "INTAKE_API_TOKEN": run.token,
        "INTAKE_HTTP_PORT": str(port),
        "INTAKE_KEY_PREFIX": run.prefix,
        "INTAKE_DATA_DIR": str(data_dir),
        "INTAKE_TOXICITY_BACKEND": "none",
    }  # the stub classifier; section 5 has the others
    if database_url is not None:
        env |= {"INTAKE_DATABASE_URL": database_url, "INTAKE_REDIS_URL": procs.REDIS_URL}
    return procs.intake_env(env)


@contextlib.asynccontextmanager
async def stopping(services: list[procs.Service]) -> AsyncIterator[None]:
    """Stop every started service, last first, whatever happens."""
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


def pid_of(service: procs.Service) -> cpu.Group:
    return lambda: [] if service.proc is None else [service.proc.pid]


async def measured(
    url: str,
    token: str,
    messages: list[corpus.Message],
    store: Store,
    groups: dict[str, cpu.Group],
    *,
    drain_s: float = MAX_DRAIN_S,
) -> Phase:
    return await run_phase(
        url,
        token,
        messages,
        store,
        concurrency=CONCURRENCY,
        max_load_s=MAX_LOAD_S,
        max_drain_s=drain_s,
        meter=cpu.Meter({**groups, **cpu.system_groups()}),
    )


async def paced(url: str, token: str, store: Store) -> Phase:
    count = int(PACED_RATE * PACED_S)
    return await run_phase(
        url,
        token,
        corpus.build(count, seed=6, tag="paced"),
        store,
        concurrency=CONCURRENCY,
        max_load_s=PACED_S + 5,
        max_drain_s=WARMUP_DRAIN_S,
        rate=PACED_RATE,
    )


async def warm_up(url: str, token: str, store: Store) -> None:
    """Connections, caches and the language models get loaded outside the clock."""
    await run_phase(
        url,
        token,
        corpus.build(WARMUP_MESSAGES, seed=1, tag="warm"),
        store,
        concurrency=CONCURRENCY,
        max_load_s=MAX_LOAD_S,
        max_drain_s=WARMUP_DRAIN_S,
    )


async def distributed(run: Run, services: list[procs.Service]) -> tuple[Phase, Phase, Phase]:
    """1a and 2: web + worker on PostgreSQL and Redis, then the floor beside the same worker."""
    async with procs.temp_database() as dsn:
        env = bot_env(
            run,
            procs.free_port(),
            run.tmp / "dist",
            dsn.replace("postgresql://", "postgresql+asyncpg://"),
        )
        ours = f"http://127.0.0.1:{env['INTAKE_HTTP_PORT']}"
        bot = [str(procs.BIN / "intake-bot")]
        web = procs.Service("serve", [*bot, "serve"], env, run.tmp / "serve.log")
        worker = procs.Service("worker", [*bot, "worker"], env, run.tmp / "worker.log")
        floor_port = procs.free_port()
        floor = procs.Service(
            "floor",
            [sys.executable, "-m", "bench.floor"],
            {
                **env,
                "FLOOR_DSN": dsn,
                "FLOOR_REDIS": procs.REDIS_URL,
                "FLOOR_STREAM": f"{run.prefix}:stream",
                "FLOOR_PORT": str(floor_port),
            },
            run.tmp / "floor.log",
        )
        db = await asyncpg.connect(dsn)
        try:
            started: list[procs.Service] = []
            async with stopping(started):
                started.append(web)
                services.append(web)
                await web.start()  # first and alone: it runs the migrations
                await web.wait_healthy(f"{ours}/healthz")
                started.append(worker)
                services.append(worker)
                await worker.start()
                await wait_for_log(worker, "consuming")
                store = PgStore(db)
                await warm_up(f"{ours}/api/v1/messages", run.token, store)
                light = await paced(f"{ours}/api/v1/messages", run.token, store)
                groups = {"web": pid_of(web), "worker": pid_of(worker)}
                dist = await measured(
                    f"{ours}/api/v1/messages",
                    run.token,
                    corpus.build(DISTRIBUTED_MESSAGES, seed=2, tag="dist"),
                    store,
                    groups,
                )
                started.append(floor)
                services.append(floor)
                await floor.start()
                await floor.wait_healthy(f"http://127.0.0.1:{floor_port}/healthz")
                bare = await measured(
                    f"http://127.0.0.1:{floor_port}/api/v1/messages",
                    run.token,
                    corpus.build(DISTRIBUTED_MESSAGES, seed=3, tag="floor"),
                    store,
                    {**groups, "floor": pid_of(floor)},
                    drain_s=0.0,
                )
        finally:
            await db.close()
    return dist, light, bare


async def embedded(run: Run, services: list[procs.Service]) -> tuple[Phase, Phase]:
    """1b: one `serve` process, SQLite and the embedded Valkey under a temp data dir."""
    data_dir = run.tmp / "embedded"
    env = bot_env(run, procs.free_port(), data_dir, None)
    base = f"http://127.0.0.1:{env['INTAKE_HTTP_PORT']}"
    web = procs.Service(
        "serve (embedded)", [str(procs.BIN / "intake-bot"), "serve"], env, run.tmp / "embedded.log"
    )
    services.append(web)
    async with stopping([web]):
        await web.start()
        await web.wait_healthy(f"{base}/healthz")
        store = SqliteStore(data_dir / "intake.db")
        await warm_up(f"{base}/api/v1/messages", run.token, store)
        light = await paced(f"{base}/api/v1/messages", run.token, store)
        pid = web.proc.pid if web.proc else -1
        heavy = await measured(
            f"{base}/api/v1/messages",
            run.token,
            corpus.build(EMBEDDED_MESSAGES, seed=4, tag="emb"),
            store,
            {"web": pid_of(web), "valkey": lambda: cpu.children(pid)},
        )
    return heavy, light


async def throttle(run: Run) -> list[Rate]:
    redis = Redis.from_url(procs.REDIS_URL)
    try:
        texts = [json.loads(m.body)["text"] for m in corpus.build(500, seed=5, tag="t")]
        return await measure(
            redis,
            run.prefix,
            texts,
            count=THROTTLE_CALLS,
            concurrency=THROTTLE_CONCURRENCY,
            max_s=THROTTLE_MAX_S,
        )
    finally:
        await redis.aclose()


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
    run = Run(
        prefix=f"bench-{uuid.uuid4().hex[:10]}",
        token=secrets.token_urlsafe(16),
        tmp=Path(tempfile.mkdtemp(prefix="intake-bench-")),
    )
    print(f"run:      key prefix {run.prefix}, temp dir {run.tmp}\n")
    started = time.monotonic()
    services: list[procs.Service] = []
    try:
        print("3  throttle ...", flush=True)
        rates = await throttle(run)  # first, on a quiet machine
        print("1a distributed, then 2 floor ...", flush=True)
        dist, dist_paced, floor = await distributed(run, services)
        print("1b embedded ...", flush=True)
        emb, emb_paced = await embedded(run, services)
        results = Results(dist, dist_paced, floor, emb, emb_paced, rates, services)
        print_e2e(results)
        print_floor(results)
        print_throttle(rates)
        print_cpu(results)
        print_logs(services)
    finally:
        for prefix in (run.prefix, f"{run.prefix}.lua", f"{run.prefix}.py"):
            await procs.forget_keys(prefix)
        await asyncio.to_thread(shutil.rmtree, run.tmp, ignore_errors=True)
    print_summary(results, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
