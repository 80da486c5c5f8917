"""The aiohttp application: routes per concern, background loops via cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text

from bot import language
from bot.runtime import Runtime
from bot.web import api, moderation
from bot.web.keys import RUNTIME

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    report: dict[str, object] = {
        "database": runtime.engine.dialect.name,
        "redis": "embedded valkey" if runtime.settings.redis_url is None else "external",
        "classifier": runtime.classifier.name,
        "classifier_reason": runtime.classifier.reason,
        "accepted_channels": sorted(c.value for c in runtime.policy.current.accepted),
    }
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        await runtime.redis.ping()
        report["stream_pending"] = await runtime.stream.pending_count()
        report["stream_backlog"] = await runtime.stream.backlog()
    except Exception as exc:
        return web.json_response({"status": "unavailable", "problem": str(exc), **report},
                                 status=503)
    return web.json_response({"status": "ok", **report})


def make_app(runtime: Runtime, *, background: bool = False) -> web.Application:
    """The web app; with background=True it also runs the worker, sender and policy follower."""
    app = web.Application(client_max_size=runtime.settings.max_body_bytes)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(api.routes)
    app.router.add_routes(moderation.routes)
    app.cleanup_ctx.append(_policy_follower)
    if background:
        app.cleanup_ctx.append(_background_loops)
    return app


async def _policy_follower(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[RUNTIME].policy.follow())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _background_loops(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_worker_loops(runtime, stop))]
    yield
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_worker_loops(runtime: Runtime, stop: asyncio.Event) -> None:
    """The worker and the sender side by side until `stop` is set."""
    settings = runtime.settings
    # Load the language models before the first batch, not inside its transaction
    # (about a second, during which SQLite's write lock would be held).
    await asyncio.to_thread(language.preload)
    await asyncio.gather(
        runtime.worker.run(stop, runtime.ingest, settings.requeue_after_s),
        runtime.sender.run(stop, settings.sender_interval_s),
    )
