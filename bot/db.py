"""Engine and sessions for SQLite (embedded) and PostgreSQL (distributed), and migrations."""

from __future__ import annotations

from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    # No pre-ping: it costs a round trip on every checkout, the ingest's hottest path. A
    # connection the server dropped fails its one request instead (the API answers 503, the
    # worker retries the batch) and SQLAlchemy then replaces the whole pool; pool_recycle
    # retires connections before idle timeouts on the way can cut them.
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the web app read while the worker writes; foreign keys are off by default."""
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Take the write lock up front: two deferred transactions that both read and then
    write deadlock in SQLite ("database is locked") instead of waiting for each other."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("bot") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any fixed number: the key of the PostgreSQL advisory lock that migrations take.
_MIGRATION_LOCK = 0x696E74616B65  # "intake"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; safe to run on every start.

    On PostgreSQL, processes that start together (a web process and its workers) take
    turns: each migrates in a transaction holding an advisory lock, so the second finds
    the schema done instead of creating the same tables again. SQLite's BEGIN IMMEDIATE
    already serializes them.
    """
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                     {"key": _MIGRATION_LOCK})
        await connection.run_sync(_upgrade)


def _upgrade(connection: Any) -> None:
    config = alembic_config(str(connection.engine.url))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
