"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from bot.app.runtime import Runtime
from bot.store.db import make_engine, migrate
from bot.store.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrated_schema_matches_the_models(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        tables = await connection.run_sync(_tables)
    assert {"customers", "identities", "tickets", "messages", "outbox", "moderation_items",
            "channel_settings", "staff_users", "audit_log", "alembic_version"} <= tables


async def test_migrating_twice_is_harmless(runtime: Runtime) -> None:
    engine = make_engine(runtime.settings.effective_database_url)
    try:
        await migrate(engine)
        await migrate(engine)
    finally:
        await engine.dispose()
