"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.store.db import alembic_config, make_engine, migrate
from bot.store.models import Base
from tests.conftest import DATABASE_URL, _admin, _url_of, need
from tests.helpers import complaint


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _text(described: object) -> str:
    """What the inspector says, as text (an index's WHERE clause by its SQL)."""
    return json.dumps(described, sort_keys=True, default=str)


def _schema(connection: Connection) -> dict[str, dict[str, Any]]:
    """Every table's columns, keys, indexes and constraints, as the database reports them."""
    inspector = inspect(connection)
    return {
        name: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name),
            "foreign_keys": sorted(map(_text, inspector.get_foreign_keys(name))),
            "indexes": sorted(map(_text, inspector.get_indexes(name))),
            "unique": sorted(map(_text, inspector.get_unique_constraints(name))),
        }
        for name in inspector.get_table_names()
    }


async def _rows(connection: AsyncConnection) -> dict[str, list[str]]:
    rows = {
        table.name: sorted(map(repr, await connection.execute(select(table))))
        for table in Base.metadata.sorted_tables
    }
    rows["alembic_version"] = sorted(
        map(repr, await connection.execute(text("SELECT version_num FROM alembic_version")))
    )
    return rows


async def _snapshot(engine: AsyncEngine) -> tuple[dict[str, Any], dict[str, list[str]]]:
    async with engine.connect() as connection:
        return await connection.run_sync(_schema), await _rows(connection)


async def test_migrated_schema_matches_the_models(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        tables = await connection.run_sync(_tables)
    assert {
        "customers",
        "identities",
        "tickets",
        "messages",
        "outbox",
        "moderation_items",
        "channel_settings",
        "staff_users",
        "audit_log",
        "alembic_version",
    } <= tables


async def test_migrating_twice_is_harmless(runtime: Runtime, clock: VirtualClock) -> None:
    await runtime.ingest.accept(
        complaint("anna@example.com", "My inverter is broken.", clock.now())
    )
    assert len(await runtime.worker.drain()) == 1  # a customer, a ticket, a reply owed
    engine = make_engine(runtime.settings.effective_database_url)
    try:
        schema, rows = await _snapshot(engine)
        assert rows["tickets"]
        assert rows["outbox"]
        await migrate(engine)
        await migrate(engine)
        assert await _snapshot(engine) == (schema, rows)
    finally:
        await engine.dispose()


@pytest.fixture(params=["embedded", "distributed"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "embedded":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    need(DATABASE_URL, 5432, "PostgreSQL")
    name = f"intake_empty_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _url_of(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_alembic_commands_open_their_own_connection(empty_database_url: str) -> None:
    """Alembic run on its own (as for `command.revision(..., autogenerate=True)`) connects
    with the bot's own drivers and builds the same schema as the bot's start."""
    config = alembic_config(empty_database_url)
    # In a thread: the environment runs its engine on an event loop of its own.
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.check, config)  # autogenerate finds nothing to add
    engine = make_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert version == ScriptDirectory.from_config(config).get_current_head()
