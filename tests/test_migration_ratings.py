"""Migration 0011 (ratings) on both databases: from 0010 with tickets in it, up and down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from bot.store.db import alembic_config, make_engine
from tests.test_migrations import empty_database_url  # noqa: F401 -- the fixture, reused

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def _run(url: str, *args: str) -> None:
    config = alembic_config(url)
    if args[0] == "upgrade":
        await asyncio.to_thread(command.upgrade, config, args[1])
    else:
        await asyncio.to_thread(command.downgrade, config, args[1])


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


_TICKET = (
    "INSERT INTO customers (id, display_name, created_at) VALUES (1, 'A', :at);"
    "INSERT INTO identities (id, customer_id, channel, address, verified, created_at)"
    " VALUES (1, 1, 'email', 'a@example.com', true, :at);"
    "INSERT INTO tickets (id, ref, customer_id, origin_identity_id, category, details, status,"
    " state_version, language, opened_at, updated_at, ack_due, progress_due, resolve_due,"
    " topic) VALUES (1, 'C-2026-000001', 1, 1, 'product', '{}', 'resolved', 3, 'it', :at, :at,"
    " :at, :at, :at, '')"
)


async def test_ratings_migrate_up_on_a_filled_database_and_down_again(
    empty_database_url: str,  # noqa: F811 -- the fixture
) -> None:
    url = empty_database_url
    await _run(url, "upgrade", "0010")
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in _TICKET.split(";"):
                await connection.execute(text(statement), {"at": AT})
        await _run(url, "upgrade", "head")
        assert {"ratings", "rating_links"} <= await _tables(url)
        insert = text(
            "INSERT INTO ratings (ticket_id, score, comment, language, rated_at)"
            " VALUES (1, :score, '', 'it', :at)"
        )
        async with engine.begin() as connection:
            await connection.execute(insert, {"score": 4, "at": AT})
        with pytest.raises(IntegrityError):  # one rating per ticket, held by the database
            async with engine.begin() as connection:
                await connection.execute(insert, {"score": 1, "at": AT})
        async with engine.connect() as connection:
            scores = list(await connection.scalars(text("SELECT score FROM ratings")))
        assert scores == [4]
    finally:
        await engine.dispose()
    await _run(url, "downgrade", "0010")
    tables = await _tables(url)
    assert "ratings" not in tables
    assert "rating_links" not in tables
    assert "tickets" in tables
