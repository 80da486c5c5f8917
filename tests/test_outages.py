"""Outages, against a Redis server this test starts, kills and restarts on a private port:
no acknowledged message becomes an `error`, and the worker recovers by itself.

The recovery time is printed (pytest -s), never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import channel_setup
from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, OutboundReply
from bot.rules.policy import PolicyStore
from bot.stages.pipeline import Outcome
from bot.store.models import Customer, Message
from bot.store.outages import conflict, transient
from channels.capture import capture_senders
from channels.meta import PATH, signature_of
from tests.channels.test_meta import dm, entry, page
from tests.helpers import complaint
from tests.servers import DEADLINE_S, RedisServer


@pytest.fixture(params=["embedded", "distributed"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """SQLite in the data dir, or the test's own PostgreSQL database."""
    return None if request.param == "embedded" else request.getfixturevalue("postgres_url")


@pytest.fixture
async def outage_runtime(
    database_url: str | None,
    redis_server: RedisServer,
    tmp_path: Path,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
) -> AsyncIterator[Runtime]:
    """The bot on the private Redis, with SQLite or the test's PostgreSQL database."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_server.url,
        key_prefix="outage",
        consumer_name="w1",
        claim_idle_ms=500,
        batch_size=20,
        block_ms=100,
        requeue_after_s=1,
        api_token="test-token",
    )
    async with open_runtime(
        settings, clock=clock, senders=capture_senders(captured, now=clock.now)
    ) as runtime:
        yield runtime


async def decisions(runtime: Runtime) -> dict[str | None, int]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Message.decision, func.count()).group_by(Message.decision)
        )
        return {row[0]: row[1] for row in rows}


async def all_decided(runtime: Runtime, total: int) -> float:
    """Seconds until every one of `total` stored messages has a decision (bounded): looked
    at again each time the worker reports a decided batch."""
    begun, batch_done = time.monotonic(), asyncio.Event()

    async def told(_outcomes: list[Outcome]) -> None:
        batch_done.set()

    runtime.worker.on_outcomes = told
    try:
        while True:
            batch_done.clear()
            counts = await decisions(runtime)
            if counts.get(None, 0) == 0 and sum(counts.values()) == total:
                return time.monotonic() - begun
            await asyncio.wait_for(batch_done.wait(), DEADLINE_S)
    finally:
        runtime.worker.on_outcomes = None


async def accept_stored(runtime: Runtime, sender: str, text: str, now: datetime) -> bool:
    """Ingest during an outage: the row may be stored even though the answer is an error."""
    failed: BaseException | None = None
    try:
        await runtime.ingest.accept(complaint(sender, text, now))
    except Exception as exc:
        failed = exc
    if failed is not None and not transient(failed):
        raise failed
    return failed is None


async def test_redis_restarting_without_its_data_loses_no_message_and_the_worker_recovers(
    outage_runtime: Runtime, redis_server: RedisServer, clock: VirtualClock
) -> None:
    runtime = outage_runtime
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.worker.run(stop, runtime.ingest, 1))
    try:
        for n in range(10):
            await runtime.ingest.accept(
                complaint(f"before{n}@example.it", f"Inverter rotto, ordine {n}.", clock.now())
            )
        await all_decided(runtime, 10)

        redis_server.kill()
        answered_during = [
            await accept_stored(
                runtime, f"during{n}@example.it", f"Caldaia rotta {n}.", clock.now()
            )
            for n in range(5)
        ]
        redis_server.start()  # empty: no stream, no consumer group
        restarted = time.monotonic()
        for n in range(10):
            await runtime.ingest.accept(
                complaint(f"after{n}@example.it", f"Pompa guasta, ordine {n}.", clock.now())
            )

        waited = await all_decided(runtime, 25)
        print(f"\nall 25 decided {time.monotonic() - restarted:.1f} s after Redis returned")
    finally:
        stop.set()
        await worker

    assert answered_during == [False] * 5  # the callers were told it failed (503 on the web)
    counts = await decisions(runtime)
    assert Decision.ERROR.value not in counts
    assert counts == {Decision.ANSWERED.value: 25}
    assert waited < DEADLINE_S


async def test_an_outage_while_deciding_leaves_the_batch_pending_not_in_error(
    outage_runtime: Runtime, redis_server: RedisServer, clock: VirtualClock
) -> None:
    runtime = outage_runtime
    for n in range(5):
        await runtime.ingest.accept(
            complaint(f"mid{n}@example.it", f"Inverter rotto, ordine {n}.", clock.now())
        )
    read = await runtime.worker._read(block=False, claim=False)
    redis_server.kill()

    with pytest.raises(Exception) as raised:  # noqa: PT011 -- whatever the client raises
        await runtime.worker._finish(read)

    assert transient(raised.value)
    assert await decisions(runtime) == {None: 5}  # still undecided, nothing recorded as error
    redis_server.start()
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.worker.run(stop, runtime.ingest, 1))
    try:
        await all_decided(runtime, 5)
    finally:
        stop.set()
        await worker
    assert await decisions(runtime) == {Decision.ANSWERED.value: 5}


async def test_a_redis_client_of_a_dead_server_raises_what_counts_as_an_outage(
    redis_server: RedisServer,
) -> None:
    client = Redis.from_url(redis_server.url)
    try:
        await client.ping()
        redis_server.kill()
        with pytest.raises(Exception) as raised:  # noqa: PT011
            await client.ping()
        assert transient(raised.value)
    finally:
        await client.aclose()


async def test_the_ingest_api_answers_503_with_retry_after_and_what_it_stored_is_decided(
    outage_runtime: Runtime, redis_server: RedisServer, clock: VirtualClock
) -> None:
    runtime = outage_runtime
    body = complaint("api@example.it", "Inverter rotto, ordine 4410.", clock.now())
    payload = body.model_dump(mode="json")
    headers = {"Authorization": "Bearer test-token"}
    async with TestClient(TestServer(make_app(runtime))) as client:
        redis_server.kill()
        down = await client.post("/api/v1/messages", json=payload, headers=headers)
        assert down.status == 503
        assert down.headers["Retry-After"] == "5"
        assert "error" in await down.json()
        assert await decisions(runtime) == {None: 1}  # stored before the stream failed
        unready = await client.get("/readyz")
        assert unready.status == 503
        assert (await unready.json())["redis"].startswith("unavailable")

        redis_server.start()
        retried = await client.post("/api/v1/messages", json=payload, headers=headers)
        assert retried.status == 200  # the provider's retry: a duplicate, handed on again
        stop = asyncio.Event()
        worker = asyncio.create_task(runtime.worker.run(stop, runtime.ingest, 1))
        try:
            await all_decided(runtime, 1)
        finally:
            stop.set()
            await worker
    assert await decisions(runtime) == {Decision.ANSWERED.value: 1}


async def test_the_policy_follower_outlives_redis_and_sees_the_next_switch(
    outage_runtime: Runtime, redis_server: RedisServer, clock: VirtualClock
) -> None:
    runtime = outage_runtime
    other_process = PolicyStore(runtime.sessions, runtime.redis, runtime.keys, clock)
    follower = asyncio.create_task(runtime.policy.follow())
    try:
        await asyncio.wait_for(runtime.policy.subscribed.wait(), DEADLINE_S)
        redis_server.kill()
        begun = time.monotonic()
        redis_server.start()  # empty: the old subscription is gone with the old server
        runtime.policy.reloaded.clear()

        # Whether this announcement reaches a new subscription or is lost with the old one,
        # the follower reloads once it has subscribed again.
        await other_process.set_channel("whatsapp", True, actor="admin")
        while Channel.WHATSAPP not in runtime.policy.current.accepted:
            await asyncio.wait_for(runtime.policy.reloaded.wait(), DEADLINE_S)
            runtime.policy.reloaded.clear()
        print(f"\nthe switch was followed {time.monotonic() - begun:.1f} s after the kill")
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


# A real fault in the database: the decision of a message saying this cannot be written, so
# its transaction rolls back after the throttle has heard of it (as a crash before the
# commit would leave it).
_UNWRITABLE = "scheda bruciata, ordine perso"
_REFUSE_DECISION = f"""
CREATE TRIGGER refuse_decision BEFORE UPDATE OF decision ON messages
WHEN NEW.decision IS NOT NULL AND NEW.decision != 'error' AND NEW.text LIKE '%{_UNWRITABLE}%'
BEGIN SELECT RAISE(ABORT, 'injected: this decision cannot be written'); END
"""


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_ids_of_a_rolled_back_transaction_reused_by_sqlite_cannot_deny_a_reply(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    async with runtime.sessions.begin() as session:
        await session.execute(text(_REFUSE_DECISION))
    poison = await runtime.ingest.accept(
        complaint("first@example.it", f"Aiuto: {_UNWRITABLE}.", clock.now())
    )
    await runtime.worker.drain()  # tried, rolled back each time, recorded as its own error
    async with runtime.sessions() as session:
        assert (await session.get_one(Message, poison.message_id)).decision == "error"
        next_id = (await session.scalar(select(func.max(Customer.id))) or 0) + 1
    # What the rolled-back attempts told the throttle about the customer they created.
    assert await runtime.redis.hgetall(runtime.keys.answered(next_id))

    strangers = [
        await runtime.ingest.accept(
            complaint(f"stranger{n}@example.it", f"Il frigo numero {n} perde acqua.", clock.now())
        )
        for n in range(2)
    ]
    outcomes = {o.message_id: o for o in await runtime.worker.drain()}

    async with runtime.sessions() as session:
        first = await session.get_one(Message, strangers[0].message_id)
    assert first.customer_id == next_id  # SQLite gave the stranger that id again
    assert [outcomes[a.message_id].decision for a in strangers] == [Decision.ANSWERED] * 2
    assert await runtime.sender.run_once() == 2
    assert sorted(r.to for r in captured.values()) == [
        "stranger0@example.it",
        "stranger1@example.it",
    ]


async def test_a_deadlock_between_two_transactions_is_a_conflict_to_retry(
    postgres_url: str,
) -> None:
    """Two real PostgreSQL transactions locking two rows in opposite orders."""
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as setup:
            await setup.execute(text("CREATE TABLE locks (id int PRIMARY KEY)"))
            await setup.execute(text("INSERT INTO locks VALUES (1), (2)"))
        both_hold_one = asyncio.Barrier(2)

        async def lock(first: int, second: int) -> None:
            async with engine.begin() as connection:
                touch = text("UPDATE locks SET id = id WHERE id = :id")
                await connection.execute(touch, {"id": first})
                await both_hold_one.wait()
                await connection.execute(touch, {"id": second})

        outcomes = await asyncio.gather(lock(1, 2), lock(2, 1), return_exceptions=True)
    finally:
        await engine.dispose()

    [victim] = [o for o in outcomes if isinstance(o, BaseException)]  # PostgreSQL chose one
    assert conflict(victim)
    assert transient(victim)  # never an `error` decision: the message is tried again
    assert not conflict(ValueError("a bad message"))


async def test_the_channels_answer_503_with_retry_after_while_redis_is_down(
    outage_runtime: Runtime, redis_server: RedisServer
) -> None:
    """The form, the chat and a provider's webhook: told to come back, never a 500."""
    runtime = outage_runtime
    runtime.settings.meta_app_secret = "meta-secret"
    webhook = json.dumps(page(entry(dm("m_outage")))).encode()
    signed = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature_of("meta-secret", webhook),
    }
    app = make_app(runtime, plugs=channel_setup.plugs(runtime))
    async with TestClient(TestServer(app)) as client:
        redis_server.kill()
        answers = {
            "form": await client.post(
                "/form", data={"name": "Ada", "email": "ada@example.it", "message": "Rotto."}
            ),
            "chat": await client.post("/chat/send", json={"sid": "x" * 32, "text": "Ciao"}),
            "meta webhook": await client.post(PATH, data=webhook, headers=signed),
        }
        redis_server.start()

    for name, answer in answers.items():
        assert (name, answer.status) == (name, 503)
        assert answer.headers.get("Retry-After") == "5", name
