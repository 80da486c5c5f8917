"""Engine and sessions for SQLite (embedded) and PostgreSQL (distributed), and migrations.

What the two dialects do differently is decided here, and nowhere else: the statements
that differ (an insert that skips conflicts, a claim that skips locked rows, a write of
one statement) are built by the helpers below.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVarTuple

from alembic import command
from alembic.config import Config
from sqlalchemy import Insert, Select, event, make_url, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.store.models import Base

log = logging.getLogger(__name__)


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        _private_database_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    # No pre-ping: it costs a round trip on every checkout, the ingest's hottest path. A
    # connection the server dropped fails its one request instead (the API answers 503, the
    # worker retries the batch) and SQLAlchemy then replaces the whole pool; pool_recycle
    # retires connections before idle timeouts on the way can cut them.
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)


def _private_database_file(url: str) -> None:
    """The database file, made (or kept) 0600 before SQLite opens it: SQLite creates its
    -wal and -shm files with the database file's mode, so they are private too."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite says so when it connects
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    else:  # new: every connection to it zeroes what it frees (_sqlite_pragmas)
        with contextlib.closing(sqlite3.connect(path)) as new:
            new.execute(f"PRAGMA user_version={_ZEROED}")
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # not ours: left as is
            file.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the web app read while the worker writes; foreign keys are off by default;
    secure_delete overwrites what a delete or an update frees with zeros, so an erased
    customer's bytes do not linger in the file's free space (bot.staff.privacy)."""
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Take the write lock up front: two deferred transactions that both read and then
    write deadlock in SQLite ("database is locked") instead of waiting for each other."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


async def drop_old_pages(engine: AsyncEngine) -> None:
    """After an erasure: no copy of the overwritten rows may stay in SQLite's files.

    secure_delete (every connection) zeroes what an update or delete frees in the database
    file, which is enough for everything written since (measured: tests/
    test_erasure_complete.py), but the write-ahead log still holds the pages as they were
    before: a TRUNCATE checkpoint copies the log into the database and empties it. A file
    written before secure_delete was on (user_version not _ZEROED) holds freed bytes of
    its own: it is VACUUMed once, at its first erasure. PostgreSQL's files are the
    server's business (dead row versions stay until VACUUM reuses their space).
    """
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        busy = await connection.run_sync(_wipe)
    if busy:
        log.warning(
            "the write-ahead log could not be emptied: a reader held it for 30 s; "
            "the old pages go at the next checkpoint"
        )


# PRAGMA user_version of a database file whose every freed byte was zeroed: made by this
# version (see _private_database_file), or VACUUMed once since. Nothing else uses it.
_ZEROED = 1


def _wipe(connection: Any) -> bool:
    """Checkpoint, VACUUM a file from before secure_delete, empty the log; True when a
    reader kept the log from being emptied. Outside any transaction: the statements go to
    the driver's connection (autocommit), so no BEGIN is emitted."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA user_version")
        if cursor.fetchone()[0] != _ZEROED:
            cursor.execute("VACUUM")
            cursor.execute(f"PRAGMA user_version={_ZEROED}")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _log_frames, _done = cursor.fetchone()
    finally:
        cursor.close()
    return bool(busy)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


DIALECTS = ("postgresql", "sqlite")  # the stores the bot runs on


def insert_ignoring_conflicts(model: type[Base], unique: Sequence[str], dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (`unique`) DO NOTHING in `dialect` ("postgresql" or "sqlite"):
    with a RETURNING, a row missing from it was there already."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(model).on_conflict_do_nothing(index_elements=list(unique))


_Row = TypeVarTuple("_Row")


def for_update_skip_locked(
    query: Select[*_Row], session: AsyncSession, of: type[Base]
) -> Select[*_Row]:
    """On PostgreSQL, `query` locks the rows of `of` it picks and skips rows another
    transaction holds, so two claimers take different rows. SQLite has no row locks and
    needs none: BEGIN IMMEDIATE (make_engine) lets one writer in at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return query
    return query.with_for_update(skip_locked=True, of=of)


def for_update(query: Select[*_Row], session: AsyncSession, of: type[Base]) -> Select[*_Row]:
    """On PostgreSQL, `query` locks the rows of `of` it reads until the transaction ends
    (waiting for another transaction that holds them); a no-op on SQLite, which lets one
    writer in at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return query
    return query.with_for_update(of=of)


def single_statement_writes(
    engine: AsyncEngine,
) -> Callable[[], AbstractAsyncContextManager[AsyncConnection]]:
    """Connections for writes of one statement each. On PostgreSQL in autocommit: one
    statement is atomic on its own, so no BEGIN and COMMIT round trips around it. On SQLite
    in a transaction: writers queue on its BEGIN IMMEDIATE (make_engine)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT").connect
    return engine.begin


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("bot.store") / "migrations"))
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
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
        await connection.run_sync(_upgrade)


def _upgrade(connection: Any) -> None:
    config = alembic_config(str(connection.engine.url))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
