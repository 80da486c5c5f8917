"""Alembic environment: runs on the connection bot.store.db.migrate hands it, or opens its own.

Its own (an Alembic command run on `bot.store.db.alembic_config(url)` without a connection,
e.g. `command.revision(config, autogenerate=True)` or `command.current(config)`): the bot's
own async engine for that URL (aiosqlite or asyncpg, the drivers the bot depends on), on a
fresh event loop, so call such a command from a thread without a running loop.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.store.db import make_engine
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone(config.get_main_option("sqlalchemy.url") or ""))
