"""Is this process ready, and how is it doing: /readyz and /metrics.

/healthz says the process is alive and what it is made of; /readyz says whether it can
do its work now: the database, Redis, the stream's consumer group, the classifier, and
each background loop of this process (the policy follower, the sender, the worker when
it runs here, the channels' chat hub, pollers and SMTP server). A load balancer takes
a process out while it answers 503.

/metrics speaks Prometheus (prometheus-client): HTTP answers by route and status class
with their latency, decisions taken in this process, the reply latency (owed to sent) of
its sender and the classifier's time per batch, and, read at each scrape from the
stores, the stream's pending entries and backlog, the outbox by state, the moderation
queue, and open tickets at risk or overdue.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from bot.app.runtime import Runtime
from bot.app.web.keys import PLUGS, RUNTIME
from bot.contract.domain import OPEN_STATUSES
from bot.stages.pipeline import Outcome
from bot.store.models import ModerationItem, OutboxReply, Ticket

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OPEN = [s.value for s in OPEN_STATUSES]


class Metrics:
    """One registry per web app: what this process counted, and what the stores hold."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.responses = Counter(
            "intake_http_responses",
            "HTTP answers by route and status class",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "intake_http_request_seconds",
            "Time to answer, by route",
            ["route"],
            registry=self.registry,
        )
        self.reply_latency = Histogram(
            "intake_reply_latency_seconds",
            "From a reply owed to it sent, by the sender in this process",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=self.registry,
        )
        self.classifier = Histogram(
            "intake_classifier_seconds",
            "The toxicity classifier's time per batch, in this process's worker",
            registry=self.registry,
        )
        self.decided = Counter(
            "intake_messages_decided",
            "Messages decided by the worker running in this process",
            ["decision"],
            registry=self.registry,
        )
        self.stores = _Stores(runtime)

    async def count_outcomes(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.decided.labels(outcome.decision.value).inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest  # noqa: PLC0415 -- one use

        return generate_latest(self.registry)


class _Stores(Collector):
    """Read at scrape time (prometheus-client collectors are synchronous: the scrape
    handler fills `latest` first, then the registry reads it)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.latest: dict[str, Any] = {}

    async def refresh(self) -> None:
        runtime = self.runtime
        latest: dict[str, Any] = {}
        latest["stream_pending"] = await runtime.stream.pending_count()
        latest["stream_backlog"] = await runtime.stream.backlog()
        async with runtime.sessions() as session:
            latest["outbox"] = {
                row[0]: row[1]
                for row in await session.execute(
                    select(OutboxReply.status, func.count()).group_by(OutboxReply.status)
                )
            }
            latest["moderation_pending"] = await session.scalar(
                select(func.count())
                .select_from(ModerationItem)
                .where(ModerationItem.status == "pending")
            )
            open_ = Ticket.status.in_(_OPEN)
            latest["at_risk"] = await session.scalar(
                select(func.count()).select_from(Ticket).where(open_, Ticket.at_risk_at.isnot(None))
            )
            latest["overdue"] = await session.scalar(
                select(func.count()).select_from(Ticket).where(open_, Ticket.overdue_at.isnot(None))
            )
        self.latest = latest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        latest = self.latest
        if not latest:
            return
        yield GaugeMetricFamily(
            "intake_stream_pending",
            "Entries read by a worker, not yet acknowledged",
            value=latest["stream_pending"],
        )
        if latest["stream_backlog"] is not None:
            yield GaugeMetricFamily(
                "intake_stream_backlog",
                "Entries no worker has read yet",
                value=latest["stream_backlog"],
            )
        outbox = GaugeMetricFamily("intake_outbox", "Replies owed, by state", labels=["status"])
        for status, count in sorted(latest["outbox"].items()):
            outbox.add_metric([status], count)
        yield outbox
        yield GaugeMetricFamily(
            "intake_moderation_pending",
            "Held messages waiting for a moderator",
            value=latest["moderation_pending"] or 0,
        )
        sla = GaugeMetricFamily("intake_tickets_late", "Open tickets by SLA mark", labels=["mark"])
        sla.add_metric(["at_risk"], latest["at_risk"] or 0)
        sla.add_metric(["overdue"], latest["overdue"] or 0)
        yield sla


METRICS = web.AppKey("metrics", Metrics)


def worker_app(runtime: Runtime) -> web.Application:
    """What `intake-bot worker` serves on INTAKE_WORKER_HTTP_PORT: its liveness, its
    readiness and the metrics of its decisions and classifier, which no web process sees."""
    app = web.Application(middlewares=[measured])
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", _alive)
    install(app, runtime)
    return app


async def _alive(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "process": "worker"})


def install(app: web.Application, runtime: Runtime) -> None:
    """The metrics of this app, its routes, and the worker's decisions when it runs here."""
    metrics = Metrics(runtime)
    metrics.registry.register(metrics.stores)
    app[METRICS] = metrics
    previous = runtime.worker.on_outcomes

    async def counted(outcomes: list[Outcome]) -> None:
        await metrics.count_outcomes(outcomes)
        if previous is not None:
            await previous(outcomes)

    runtime.worker.on_outcomes = counted
    runtime.sender.on_sent = metrics.reply_latency.observe
    runtime.pipeline.on_scored = lambda _size, seconds: metrics.classifier.observe(seconds)
    app.router.add_routes(routes)


@web.middleware
async def measured(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer counted by its route's pattern (never the raw path: ids would make
    a new series each)."""
    metrics = request.app.get(METRICS)
    begun = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if metrics is not None:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.responses.labels(route, f"{status // 100}xx").inc()
            metrics.latency.labels(route).observe(time.perf_counter() - begun)


@routes.get("/metrics")
async def metrics_page(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        await metrics.stores.refresh()
    except Exception:  # an outage: the process's own counters still answer
        metrics.stores.latest = {}
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        await runtime.redis.ping()
        checks["redis"] = "ok"
        groups = await runtime.redis.xinfo_groups(runtime.stream.name)
        names = {g.get("name") for g in groups}
        group = runtime.stream.group
        checks["stream_group"] = "ok" if {group, group.encode()} & names else "missing"
    except Exception as exc:
        checks.setdefault("redis", f"unavailable: {type(exc).__name__}")
        checks["stream_group"] = "unknown"
    ready = all(checks[k] == "ok" for k in ("database", "redis", "stream_group"))
    loops = {
        "policy_follower": "subscribed" if runtime.policy.subscribed.is_set() else "reconnecting",
        "sender": runtime.sender.state,
        "worker": runtime.worker.state,
        "sweeper": runtime.sweeper.state,  # these two run in one process (a lease)
        "digests": runtime.digests.state,
    }
    for plug in request.app.get(PLUGS, []):  # the channel families' own loops
        loops |= {f"{plug.name}.{name}": state() for name, state in plug.states.items()}
    body = {
        "status": "ready" if ready else "unready",
        **checks,
        "classifier": runtime.classifier.name,
        "loops": loops,
    }
    return web.json_response(body, status=200 if ready else 503)
