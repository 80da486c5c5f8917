"""Fixtures: the same tests run on the embedded store and on real Redis + PostgreSQL.

Real services are found through INTAKE_TEST_REDIS_URL / INTAKE_TEST_DATABASE_URL
(default: this machine's standard ports). Without them the distributed variants
skip with the reason; with INTAKE_REQUIRE_SERVICES=1 (CI) a missing one fails.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import OutboundReply
from bot.store.db import make_engine, migrate
from bot.store.embedded_valkey import EmbeddedValkey
from channels.capture import capture_senders
from tests.servers import RedisServer

REDIS_URL = os.environ.get("INTAKE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get(
    "INTAKE_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE = os.environ.get("INTAKE_REQUIRE_SERVICES") == "1"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skipped service variants said loudly: a green run without PostgreSQL or Redis has not
    tested the distributed setup (CI sets INTAKE_REQUIRE_SERVICES=1 to fail instead)."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and "not reachable" in str(report.longrepr[2])
    ]
    if skipped:
        reasons = sorted({str(r.longrepr[2]).removeprefix("Skipped: ") for r in skipped})
        terminalreporter.write_line(
            f"WARNING: {len(skipped)} tests on real services were skipped ({'; '.join(reasons)}):"
            " the distributed setup is untested in this run",
            yellow=True,
            bold=True,
        )


def need(url: str, port: int, what: str) -> None:
    if _reachable(url, port):
        return
    message = f"{what} not reachable at {url}"
    if REQUIRE:
        pytest.fail(f"{message} and INTAKE_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Valkey for the session; tests keep apart by key prefix."""
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
    yield server.start()
    server.stop()


@pytest.fixture
def real_redis_url() -> str:
    need(REDIS_URL, 6379, "Redis")
    return REDIS_URL


async def _admin(statement: str) -> None:
    admin = create_async_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


def _url_of(name: str) -> str:
    return f"{DATABASE_URL.rsplit('/', 1)[0]}/{name}"


async def _create_migrated(name: str) -> None:
    await _admin(f'CREATE DATABASE "{name}"')
    engine = make_engine(_url_of(name))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that each test's fresh database is copied from (fast)."""
    need(DATABASE_URL, 5432, "PostgreSQL")
    name = f"intake_tpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_migrated(name))
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_url(postgres_template: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped after it."""
    name = f"intake_t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        yield _url_of(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["embedded", "distributed"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one backend pair: SQLite + embedded Valkey, or PostgreSQL + Redis."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    base = Settings(
        data_dir=tmp_path,
        key_prefix=prefix,
        consumer_name="test-worker",
        api_token="test-token",
        claim_idle_ms=100,
        batch_size=50,
    )
    if request.param == "embedded":
        return base.model_copy(update={"redis_url": request.getfixturevalue("valkey")})
    return base.model_copy(
        update={
            "redis_url": request.getfixturevalue("real_redis_url"),
            "database_url": request.getfixturevalue("postgres_url"),
        }
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def captured() -> dict[int, OutboundReply]:
    return {}


@pytest.fixture
async def runtime(
    settings: Settings, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> AsyncIterator[Runtime]:
    async with open_runtime(
        settings, clock=clock, senders=capture_senders(captured, now=clock.now)
    ) as rt:
        yield rt
        async for key in rt.redis.scan_iter(match=rt.keys.pattern, count=500):
            await rt.redis.delete(key)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server for a test that kills and restarts it (tests.servers)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()
