"""An erasure leaves nothing: not in Redis, not in any file of the data directory.

One person writes by email, through the contact form (with a photo) and in the chat,
each time with the same unique marker in their name, contact and text. The worker
decides, the sender answers through the channels' own senders (the form's confirmation
page, the chat session). Then the DPO erases every customer record the person left, and
no key or value under the bot's prefix and no byte of any file under the data directory
(the SQLite database and its log, Valkey's append-only files, the uploads) holds the
marker. Embedded, the bot runs its own Valkey with its append-only file in the data
directory, as `intake-bot serve` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import or_, select

from bot.app import channel_setup
from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, InboundMessage, OutboundReply
from bot.store.db import drop_old_pages, make_engine
from bot.store.models import Message, OutboxReply, Ticket
from channels.capture import capture_senders

Client = TestClient[web.Request, web.Application]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The backends of `settings`, the data in a directory of its own; embedded, the bot
    starts its own Valkey there (append-only, as in production) instead of the shared one."""
    update: dict[str, Any] = {"data_dir": tmp_path / "data"}
    if settings.database_url is None:
        update["redis_url"] = None
    return settings.model_copy(update=update)


@pytest.fixture
async def bot(
    own_settings: Settings, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> AsyncIterator[tuple[Runtime, Client]]:
    """The runtime with every channel family as `serve` plugs them (the form's and the
    chat's senders are their own; email, not configured here, is captured)."""
    async with open_runtime(
        own_settings, clock=clock, senders=capture_senders(captured)
    ) as runtime:
        app = make_app(runtime, plugs=channel_setup.plugs(runtime))
        async with TestClient(TestServer(app)) as client:
            yield runtime, client
        async for key in runtime.redis.scan_iter(match=runtime.keys.pattern, count=500):
            await runtime.redis.delete(key)


async def settle(runtime: Runtime) -> None:
    await runtime.worker.drain()
    await runtime.sender.run_once()


async def write_email(runtime: Runtime, marker: str) -> None:
    await runtime.ingest.accept(
        InboundMessage(
            channel=Channel.EMAIL,
            external_id=f"<{marker}@mail.example.com>",
            sender=f"{marker}@example.com",
            display_name=f"Ann {marker}",
            subject=f"Broken inverter {marker}",
            received_at=runtime.clock.now(),
            text=f"My inverter SolarMax 3000 stopped working, order 778812, serial "
            f"SN{marker}. I want a replacement. Ann {marker}",
        )
    )


async def fill_in_the_form(client: Client, marker: str) -> str:
    """Posts the form with a photo; the submission id."""
    page = await client.get("/form")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token is not None
    data = FormData(default_to_multipart=True)
    for name, value in {
        "csrf": token.group(1),
        "type": "product",
        "name": f"Ann {marker}",
        "contact": f"{marker}@example.com",
        "order": "778812",
        "model": "SolarMax 3000",
        "serial": f"SN{marker}",
        "description": f"The inverter shows error F23 since {marker} day.",
        "solution": f"Replace it, {marker}",
    }.items():
        data.add_field(name, value)
    data.add_field(
        "attachments",
        io.BytesIO(PNG + marker.encode()),
        filename=f"{marker}.png",
        content_type="image/png",
    )
    response = await client.post("/form", data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"].split("?")[0].rsplit("/", 1)[1]


async def chat_frame(client: Client, frame: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/chat/send", data=json.dumps(frame))
    assert response.status == 200, await response.text()
    frames: list[dict[str, Any]] = (await response.json())["frames"]
    return frames


async def chat(client: Client, marker: str) -> str:
    """The chat's intake over HTTP, answered with the marker; the session id."""
    [welcome] = [
        f
        for f in await chat_frame(client, {"type": "hello", "session": None, "lang": ["en"]})
        if f["type"] == "welcome"
    ]
    sid = str(welcome["session"])
    answers = [
        "product",
        f"Ann {marker}",
        f"{marker}@example.com",
        "ORD-778812",
        "SolarMax 3000",
        "skip",
        f"The inverter shows error F23, {marker} here.",
        f"A replacement please, {marker}",
    ]
    for n, text in enumerate(answers):
        await chat_frame(client, {"type": "message", "session": sid, "text": text, "cid": f"c{n}"})
    return sid


def files_holding(directory: Path, marker: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if path.is_file() and marker in path.read_bytes()
    )


async def redis_holding(redis: Redis, pattern: str, marker: str) -> list[str]:
    """Keys under the prefix whose name or value (of any type) holds the marker."""
    found = []
    async for key in redis.scan_iter(match=pattern, count=500):
        if marker in repr((key, await value_of(redis, key))):
            found.append(repr(key))
    return found


async def value_of(redis: Redis, key: bytes) -> Any:
    """Read whole, as the bot's clients would: DUMP's form may compress a long string."""
    kind = await redis.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    readers: dict[str, Callable[[], Awaitable[Any]]] = {
        "string": lambda: redis.get(key),
        "hash": lambda: redis.hgetall(key),
        "list": lambda: redis.lrange(key, 0, -1),
        "zset": lambda: redis.zrange(key, 0, -1),
        "set": lambda: redis.smembers(key),
        "stream": lambda: redis.xrange(key),
    }
    return await readers[kind]()


async def customers_writing(runtime: Runtime, marker: str) -> set[int]:
    """Every customer record the person left: one, or one per channel where what they
    typed is only a claim to be the others."""
    like = f"%{marker}%"
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(Message.customer_id).where(
                or_(
                    Message.text.like(like),
                    Message.sender.like(like),
                    Message.display_name.like(like),
                )
            )
        )
        return {customer for customer in found if customer is not None}


async def test_an_erasure_leaves_the_marker_nowhere_in_redis_or_the_data_directory(
    bot: tuple[Runtime, Client],
) -> None:
    runtime, client = bot
    marker = f"zq{uuid.uuid4().hex[:12]}"
    data_dir = runtime.settings.data_dir
    await write_email(runtime, marker)
    await settle(runtime)
    sid = await fill_in_the_form(client, marker)
    session = await chat(client, marker)
    await settle(runtime)
    done = await client.get(f"/form/done/{sid}")
    assert marker in await done.text()
    poll = await client.post("/chat/poll", data=json.dumps({"type": "poll", "session": session}))
    assert marker in await poll.text()
    assert await redis_holding(runtime.redis, runtime.keys.pattern, marker)
    assert "uploads" in {Path(p).parts[0] for p in files_holding(data_dir, marker.encode())}
    if runtime.embedded:  # the grep below sees what the stores' files hold
        await drop_old_pages(runtime.engine)  # as SQLite's own checkpoints do as pages add up
        held = files_holding(data_dir, marker.encode())
        assert "intake.db" in held, held  # in the database file itself, not only in its log
        assert any(p.startswith("valkey") for p in held), held

    customers = await customers_writing(runtime, marker)
    assert customers
    erasures = [
        await channel_setup.erase_customer(runtime, customer, actor="dpo@company")
        for customer in sorted(customers)
    ]

    assert sum(e.forgotten.get("files", 0) for e in erasures) == 1
    assert await redis_holding(runtime.redis, runtime.keys.pattern, marker) == []
    assert await eventually_no_file_holding(data_dir, marker.encode()) == []
    assert (await client.get(f"/form/done/{sid}")).status == 404
    assert (
        await client.post("/chat/poll", data=json.dumps({"type": "poll", "session": session}))
    ).status == 404
    async with runtime.sessions() as db:
        outbox = list(
            await db.execute(
                select(OutboxReply.provider_id, OutboxReply.last_error, OutboxReply.address)
                .join(Ticket, Ticket.id == OutboxReply.ticket_id)
                .where(Ticket.customer_id.in_(customers))
            )
        )
    assert outbox
    assert {row.provider_id for row in outbox} == {None}
    assert all(marker not in row.last_error + row.address for row in outbox)


async def eventually_no_file_holding(directory: Path, marker: bytes) -> list[str]:
    """The server unlinks the old append-only files in a background thread once the
    rewrite is done: allow it a moment."""
    for _ in range(50):
        held = files_holding(directory, marker)
        if not held:
            break
        await asyncio.sleep(0.1)
    return held


async def test_a_database_file_from_before_secure_delete_is_vacuumed_at_its_first_erasure(
    tmp_path: Path,
) -> None:
    """Freed space of a file written without secure_delete still holds old rows: the
    first erasure VACUUMs it, once; a file this version made never needs it."""
    path = tmp_path / "intake.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            zeroing = await connection.exec_driver_sql("PRAGMA secure_delete")
            assert zeroing.scalar() == 1
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as legacy:
            assert legacy.execute("PRAGMA user_version").fetchone() == (1,)
            legacy.execute("PRAGMA user_version=0")  # as a file from an older version
            legacy.execute("PRAGMA secure_delete=OFF")
            legacy.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, text TEXT)")
            legacy.executemany(
                "INSERT INTO m (text) VALUES (?)",
                [(f"zqlegacy {n} " + "x" * 200,) for n in range(20)],
            )
            legacy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            legacy.execute("UPDATE m SET text = ''")
            legacy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert b"zqlegacy" in path.read_bytes()
        await drop_old_pages(engine)
        assert files_holding(tmp_path, b"zqlegacy") == []
        with contextlib.closing(sqlite3.connect(path)) as check:
            assert check.execute("PRAGMA user_version").fetchone() == (1,)
    finally:
        await engine.dispose()
