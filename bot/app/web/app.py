"""The aiohttp application: routes per concern, background loops via cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot.app.runtime import Runtime, run_worker
from bot.app.web import (
    api,
    compression,
    console,
    console_attention,
    console_audit,
    console_channels,
    console_dashboard,
    console_moderation,
    console_policy,
    console_privacy,
    console_tickets,
    console_users,
    moderation,
    observability,
    sso,
    tickets_api,
    unavailable,
)
from bot.app.web.console_pages import ConsolePages, static_routes
from bot.app.web.keys import CONSOLE, PLUGS, RUNTIME, STAFF
from bot.app.web.staff_auth import StaffAuth
from bot.contract.ports import Plug

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    report: dict[str, object] = {
        "database": runtime.engine.dialect.name,
        "redis": "embedded valkey" if runtime.settings.redis_url is None else "external",
        "classifier": runtime.classifier.name,
        "classifier_reason": runtime.classifier.reason,
        "accepted_channels": sorted(c.value for c in runtime.policy.current.accepted),
        "channel_families": {plug.name: plug.status for plug in request.app[PLUGS]},
    }
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        await runtime.redis.ping()
        report["stream_pending"] = await runtime.stream.pending_count()
        report["stream_backlog"] = await runtime.stream.backlog()
        # Replies owed that did not go: staff must reach these customers another way.
        report["replies_not_sent"] = await runtime.sender.counts()
    except Exception as exc:
        return web.json_response(
            {"status": "unavailable", "problem": str(exc), **report}, status=503
        )
    return web.json_response({"status": "ok", **report})


def make_app(
    runtime: Runtime, *, background: bool = False, send: bool = False, plugs: Sequence[Plug] = ()
) -> web.Application:
    """The web app; with background=True it also runs the worker and the sender.

    `plugs`: the channel families' routes, senders and inbound loops (SMTP, IMAP, polling).
    The sender runs where the channels' clients live: in the web process (`send=True`
    without the worker, as `intake-bot serve` runs beside separate workers).
    """
    app = web.Application(
        client_max_size=runtime.settings.max_body_bytes,
        middlewares=[
            observability.measured,
            compression.compressed,
            unavailable.outages,
            console.forbidden_pages,
        ],
    )
    app[RUNTIME] = runtime
    app[PLUGS] = list(plugs)
    app[STAFF] = StaffAuth(runtime)
    app[CONSOLE] = ConsolePages(runtime.policy.current.sla.timezone)
    app.router.add_get("/healthz", healthz)
    observability.install(app, runtime)
    app.router.add_routes(api.routes)
    app.router.add_routes(moderation.routes)
    app.router.add_routes(tickets_api.routes)
    app.router.add_routes(console.routes)
    app.router.add_routes(console_moderation.routes)
    app.router.add_routes(console_tickets.routes)
    app.router.add_routes(sso.routes)
    app.on_startup.append(console_moderation.warm_up)
    app.router.add_routes(console_dashboard.routes)
    app.router.add_routes(console_channels.routes)
    app.router.add_routes(console_policy.routes)
    app.router.add_routes(console_privacy.routes)
    app.router.add_routes(console_users.routes)
    app.router.add_routes(console_audit.routes)
    app.router.add_routes(console_attention.routes)
    app.router.add_routes(static_routes())
    for plug in plugs:
        app.router.add_routes(plug.routes)
        runtime.sender.register(plug.senders)
        for hook in plug.shutdown:
            app.on_shutdown.append(_on_shutdown(hook))
    app.cleanup_ctx.append(_policy_follower)
    app.cleanup_ctx.append(_channel_loops)
    if background or send:
        app.cleanup_ctx.append(_background_loops(work=background))
    return app


def _on_shutdown(
    hook: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[web.Application], Coroutine[Any, Any, None]]:
    async def run(_app: web.Application) -> None:
        await hook()

    return run


async def _channel_loops(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for plug in app[PLUGS] for loop in plug.loops]
    yield
    stop.set()
    _, late = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
    for task in late:  # a loop that does not heed `stop` in time
        task.cancel()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            log.error("a channel loop failed", exc_info=outcome)


async def _policy_follower(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[RUNTIME].policy.follow())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _background_loops(*, work: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def loops(app: web.Application) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        stop = asyncio.Event()

        async def run() -> None:
            sending = runtime.sender.run(stop, runtime.settings.sender_interval_s)
            await (asyncio.gather(sending, run_worker(runtime, stop)) if work else sending)

        task = asyncio.create_task(run())
        yield
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return loops
