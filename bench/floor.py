"""The floor of durable ingest: parse the JSON body, INSERT one row, XADD its id. Nothing else.

Run as its own process (`python -m bench.floor`) with FLOOR_DSN (asyncpg),
FLOOR_REDIS, FLOOR_STREAM and FLOOR_PORT. It writes the bot's own `messages`
table and stream, so the bot's worker decides its messages exactly as it decides
those that came through POST /api/v1/messages: both are measured under the same
load. No validation, no ORM, no access log.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
from aiohttp import web
from redis.asyncio import Redis

INSERT = """
INSERT INTO messages (channel, external_id, sender, display_name, subject, text, thread_refs,
                      attachments, raw, received_at, created_at, language, reason, scores)
VALUES ($1, $2, $3, $4, $5, $6, '[]', '[]', '{}', $7, $8, NULL, '', '{}')
ON CONFLICT (channel, external_id) DO NOTHING RETURNING id
"""
POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
REDIS: web.AppKey[Redis] = web.AppKey("redis", Redis)


async def post_message(request: web.Request) -> web.Response:
    data = json.loads(await request.read())
    now = datetime.now(UTC)
    received = data.get("received_at")
    new_id = await request.app[POOL].fetchval(
        INSERT,
        data["channel"],
        data["external_id"],
        data["sender"],
        data.get("display_name", ""),
        data.get("subject", ""),
        data.get("text", ""),
        datetime.fromisoformat(received) if received else now,
        now,
    )
    if new_id is None:
        return web.json_response({"duplicate": True}, status=200)
    await request.app[REDIS].xadd(os.environ["FLOOR_STREAM"], {b"m": str(new_id)})
    return web.json_response({"id": new_id}, status=202)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def connections(app: web.Application) -> AsyncIterator[None]:
    # The bot's engine: pool_size=10, max_overflow=10.
    app[POOL] = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=10, max_size=20)
    app[REDIS] = Redis.from_url(os.environ["FLOOR_REDIS"])
    yield
    await app[REDIS].aclose()
    await app[POOL].close()


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/v1/messages", post_message)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(connections)
    web.run_app(
        app, host="127.0.0.1", port=int(os.environ["FLOOR_PORT"]), access_log=None, print=None
    )


if __name__ == "__main__":
    main()
