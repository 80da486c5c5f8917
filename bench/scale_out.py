"""Scale-out: one stream, one web process, and 1, 2 or 4 worker processes side by side.

`python -m bench.scale_out` (in `make bench`) posts the same burst to each deployment and
prints, per worker count: what was accepted and decided per second, the latency from POST
to committed decision, and the CPU each part used, which shows where the bottleneck
moves. `--soak SECONDS` instead holds a steady paced load on two workers (600 s by
default, `make soak`) and prints each process's memory growth.

Every run is written as JSON and drawn as a PNG (matplotlib) under build/bench/; a
progress bar (tqdm) follows the decisions. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import matplotlib as mpl
from tqdm import tqdm  # type: ignore[import-untyped]

from bench import corpus, cpu, procs
from bench.load import PgStore, Phase, percentile, run_phase

mpl.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt

OUT = Path("build/bench")
WORKER_COUNTS = (1, 2, 4)
BURST, CONCURRENCY = 12_000, 64
MAX_LOAD_S, MAX_DRAIN_S = 40.0, 60.0
SOAK_RATE = 150.0  # messages per second, well under what two workers decide
SAMPLE_S = 0.5


@dataclass
class Sample:
    t: float  # seconds since the load began
    decided: int
    rss_mb: dict[str, float]


@dataclass
class Series:
    """Per-second decisions and latency (by when each decision was committed)."""

    t: list[float] = field(default_factory=list)
    decided_per_s: list[float] = field(default_factory=list)
    p50_s: list[float] = field(default_factory=list)
    p99_s: list[float] = field(default_factory=list)


@dataclass
class Run:
    workers: int
    accepted_per_s: float
    decided_per_s: float
    p50_s: float
    p99_s: float
    drained: bool
    cpu_s: dict[str, float]
    machine_busy: float
    series: Series
    samples: list[Sample]


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Deployment:
    """serve (without a worker) and `workers` worker processes on a database of their own."""

    def __init__(self, workers: int, dsn: str, tmp: Path) -> None:
        self.prefix, self.token = f"scale{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
        self.port = procs.free_port()
        env = procs.intake_env(
            {
                "INTAKE_API_TOKEN": self.token,
                "INTAKE_HTTP_PORT": str(self.port),
                "INTAKE_KEY_PREFIX": self.prefix,
                "INTAKE_DATA_DIR": str(tmp / "data"),
                "INTAKE_TOXICITY_BACKEND": "none",  # the stream and stores, not the model
                "INTAKE_DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
                "INTAKE_REDIS_URL": procs.REDIS_URL,
            }
        )
        bot = [str(procs.BIN / "intake-bot")]
        self.web = procs.Service("serve", [*bot, "serve", "--no-with-worker"], env, tmp / "w.log")
        self.workers = [
            procs.Service(
                f"worker{n}",
                [*bot, "worker"],
                {**env, "INTAKE_CONSUMER_NAME": f"w{n}"},
                tmp / f"worker{n}.log",
            )
            for n in range(1, workers + 1)
        ]
        self.url = f"http://127.0.0.1:{self.port}/api/v1/messages"

    @property
    def services(self) -> list[procs.Service]:
        return [self.web, *self.workers]

    def groups(self) -> dict[str, cpu.Group]:
        def pids(services: Sequence[procs.Service]) -> cpu.Group:
            return lambda: [s.proc.pid for s in services if s.proc is not None]

        return {"web": pids([self.web]), "workers": pids(self.workers), **cpu.system_groups()}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        try:
            await self.web.start()  # first and alone: it runs the migrations
            await self.web.wait_healthy(f"http://127.0.0.1:{self.port}/healthz")
            for worker in self.workers:
                await worker.start()
            for worker in self.workers:
                await _logged(worker, "consuming")
            yield
        finally:
            for service in reversed(self.services):
                await service.stop()
            await procs.forget_keys(self.prefix)


async def _logged(service: procs.Service, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.log.exists() and text in service.log.read_text(errors="replace"):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{service.name} did not start:\n{service.tail()}")


async def sampled(
    dsn: str, base: int, deployment: Deployment, total: int, label: str, stop: asyncio.Event
) -> list[Sample]:
    """Decisions so far (the progress bar) and each process's memory, every SAMPLE_S, on a
    connection of its own (the phase polls on the other)."""
    samples: list[Sample] = []
    begun = time.monotonic()
    db = await asyncpg.connect(dsn)
    try:
        return await _sampling(db, base, deployment, total, label, stop, begun, samples)
    finally:
        await db.close()


async def _sampling(
    db: asyncpg.Connection,
    base: int,
    deployment: Deployment,
    total: int,
    label: str,
    stop: asyncio.Event,
    begun: float,
    samples: list[Sample],
) -> list[Sample]:
    with tqdm(total=total, desc=label, unit="msg", file=sys.stderr, leave=False) as bar:
        while not stop.is_set():
            decided = int(
                await db.fetchval("SELECT count(decision) FROM messages WHERE id > $1", base)
            )
            bar.update(decided - bar.n)
            memory = {s.name: rss_mb(s.proc.pid) for s in deployment.services if s.proc is not None}
            samples.append(Sample(time.monotonic() - begun, decided, memory))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_S)
    return samples


def series_of(
    phase: Phase, rows: Sequence[tuple[str, str | None, object]], bucket_s: float
) -> Series:
    """Decisions per second and their latency, bucketed by when they were committed."""
    t0 = phase.load.t0
    buckets: dict[int, list[float]] = {}
    for ext, _decision, processed_at in rows:
        if processed_at is None or ext not in phase.load.started:
            continue
        done = processed_at.timestamp()  # type: ignore[attr-defined]
        buckets.setdefault(int((done - t0) // bucket_s), []).append(done - phase.load.started[ext])
    series = Series()
    for index in range(max(buckets, default=-1) + 1):
        waits = buckets.get(index, [])
        series.t.append(index * bucket_s)
        series.decided_per_s.append(len(waits) / bucket_s)
        series.p50_s.append(percentile(waits, 0.5) if waits else float("nan"))
        series.p99_s.append(percentile(waits, 0.99) if waits else float("nan"))
    return series


async def measure(
    workers: int, messages: list[corpus.Message], *, rate: float | None, bucket_s: float
) -> Run:
    async with procs.temp_database() as dsn:
        logs = OUT / f"logs-{workers}-workers"  # kept: what each process said, for a look
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        deployment = Deployment(workers, dsn, logs)
        db = await asyncpg.connect(dsn)
        try:
            async with deployment.running():
                store = PgStore(db)
                await run_phase(  # connections, caches and language models, off the clock
                    deployment.url,
                    deployment.token,
                    corpus.build(200, seed=1, tag="warm"),
                    store,
                    concurrency=CONCURRENCY,
                    max_load_s=MAX_LOAD_S,
                    max_drain_s=MAX_DRAIN_S,
                )
                stop = asyncio.Event()
                label = f"{workers} worker{'s' if workers > 1 else ''}"
                base = await store.max_id()
                sampler = asyncio.create_task(
                    sampled(dsn, base, deployment, len(messages), label, stop)
                )
                phase = await run_phase(
                    deployment.url,
                    deployment.token,
                    messages,
                    store,
                    concurrency=CONCURRENCY,
                    max_load_s=MAX_LOAD_S if rate is None else len(messages) / rate + 30,
                    max_drain_s=MAX_DRAIN_S,
                    meter=cpu.Meter(deployment.groups()),
                    rate=rate,
                )
                stop.set()
                samples = await sampler
                rows = await store.rows(base)
        finally:
            await db.close()
    return Run(
        workers,
        phase.load.accepted_rate,
        phase.e2e_rate,
        percentile(phase.latencies, 0.5),
        percentile(phase.latencies, 0.99),
        phase.drained,
        phase.cpu,
        phase.machine_busy,
        series_of(phase, rows, bucket_s),
        samples,
    )


def bottleneck(run: Run) -> str:
    """The part that used the most CPU per core it may use (a worker process uses one)."""
    per_core = {
        "web": run.cpu_s.get("web", 0.0),
        "workers": run.cpu_s.get("workers", 0.0) / run.workers,
        "postgres": run.cpu_s.get("postgres", 0.0) / 2,  # it can use both cores
        "redis": run.cpu_s.get("redis", 0.0),
    }
    return max(per_core, key=lambda k: per_core[k])


def print_table(runs: Sequence[Run]) -> None:
    print("\nScale-out: one stream, one web process, N workers (PostgreSQL + Redis)")
    headers = [
        "workers",
        "accepted/s",
        "decided/s",
        "p50",
        "p99",
        "CPU s web/workers/pg/redis",
        "busy",
        "busiest",
    ]
    print(" | ".join(headers))
    for r in runs:
        used = "/".join(
            f"{r.cpu_s.get(k, 0.0):.0f}" for k in ("web", "workers", "postgres", "redis")
        )
        print(
            " | ".join(
                [
                    str(r.workers),
                    f"{r.accepted_per_s:,.0f}",
                    f"{r.decided_per_s:,.0f}" + ("" if r.drained else " (not drained)"),
                    f"{r.p50_s * 1000:,.0f} ms",
                    f"{r.p99_s * 1000:,.0f} ms",
                    used,
                    f"{r.machine_busy:.0%}",
                    bottleneck(r),
                ]
            )
        )


def plot_scale(runs: Sequence[Run], path: Path) -> None:
    fig, (rate_ax, wait_ax) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for index, r in enumerate(runs):
        label, color = f"{r.workers} worker{'s' if r.workers > 1 else ''}", f"C{index}"
        rate_ax.plot(r.series.t, r.series.decided_per_s, color=color, label=label)
        wait_ax.plot(r.series.t, r.series.p50_s, color=color, label=f"{label}, p50")
        wait_ax.plot(r.series.t, r.series.p99_s, color=color, linestyle="--", label=f"{label}, p99")
    rate_ax.set_ylabel("decisions per second")
    rate_ax.set_title(f"{BURST:,} complaints posted at once, {CONCURRENCY} connections")
    rate_ax.legend()
    wait_ax.set_ylabel("POST to decision (s)")
    wait_ax.set_xlabel("seconds since the first POST")
    wait_ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def growth(samples: Sequence[Sample]) -> dict[str, tuple[float, float, float]]:
    """Per process: RSS after the first tenth of the run, at the end, and the slope
    (MB per minute, least squares over the rest of the run)."""
    settled = [s for s in samples if s.t >= samples[-1].t / 10] if samples else []
    out: dict[str, tuple[float, float, float]] = {}
    for name in settled[0].rss_mb if settled else {}:
        points = [(s.t, s.rss_mb[name]) for s in settled if name in s.rss_mb]
        if len(points) < 2:
            continue
        slope = statistics.linear_regression([t for t, _ in points], [m for _, m in points]).slope
        out[name] = (points[0][1], points[-1][1], slope * 60)
    return out


def plot_soak(run: Run, path: Path) -> None:
    fig, (rate_ax, wait_ax, rss_ax) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    rate_ax.plot(run.series.t, run.series.decided_per_s)
    rate_ax.set_ylabel("decisions per second")
    rate_ax.set_title(f"Soak: {SOAK_RATE:.0f} complaints/s, {run.workers} workers")
    wait_ax.plot(run.series.t, run.series.p50_s, label="p50")
    wait_ax.plot(run.series.t, run.series.p99_s, label="p99")
    wait_ax.set_ylabel("POST to decision (s)")
    wait_ax.legend()
    for name in run.samples[0].rss_mb if run.samples else {}:
        rss_ax.plot(
            [s.t for s in run.samples], [s.rss_mb.get(name) for s in run.samples], label=name
        )
    rss_ax.set_ylabel("resident memory (MB)")
    rss_ax.set_xlabel("seconds")
    rss_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(runs: Sequence[Run], name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps([asdict(r) for r in runs], indent=1, default=str))
    return path


async def scale(counts: Sequence[int]) -> None:
    runs = []
    for count in counts:  # the same texts, with external ids of each run's own
        messages = corpus.build(BURST, seed=11, tag=f"scale{count}")
        runs.append(await measure(count, messages, rate=None, bucket_s=1.0))
    print_table(runs)
    print(f"written: {write(runs, 'scale_out')}")
    plot_scale(runs, OUT / "scale_out.png")
    print(f"plotted: {OUT / 'scale_out.png'}")


async def soak(seconds: float) -> None:
    count = int(SOAK_RATE * seconds)
    run = await measure(2, corpus.build(count, seed=12, tag="soak"), rate=SOAK_RATE, bucket_s=10.0)
    print(
        f"\nSoak: {seconds:.0f} s at {SOAK_RATE:.0f}/s on 2 workers:"
        f" decided {run.decided_per_s:,.0f}/s,"
        f" p50 {run.p50_s * 1000:,.0f} ms, p99 {run.p99_s * 1000:,.0f} ms"
    )
    print("process | RSS after warm-up | at the end | growth")
    for name, (first, last, per_minute) in growth(run.samples).items():
        print(f"{name} | {first:,.0f} MB | {last:,.0f} MB | {per_minute:+.2f} MB/min")
    print(f"written: {write([run], 'soak')}")
    plot_soak(run, OUT / "soak.png")
    print(f"plotted: {OUT / 'soak.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--soak", type=float, metavar="SECONDS", nargs="?", const=600.0)
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKER_COUNTS))
    args = parser.parse_args()
    asyncio.run(soak(args.soak) if args.soak else scale(args.workers))


if __name__ == "__main__":
    main()
