"""The console's list of what staff must finish: undecidable messages, undelivered replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.staff.accounts import Role
from bot.store.models import Message, OutboxReply
from tests.helpers import complaint, staff_account
from tests.web.test_console_auth import PASSWORD, sign_in

Client = TestClient[Any, Any]
HOSTILE = "<script>alert('x')</script> la caldaia perde"


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


async def test_staff_see_undecidable_messages_and_replies_that_did_not_arrive(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    delivered = await runtime.ingest.accept(
        complaint("ok@example.it", "Caldaia rotta.", clock.now())
    )
    lost = await runtime.ingest.accept(complaint("lost@example.it", "Forno rotto.", clock.now()))
    broken = await runtime.ingest.accept(complaint("bad@example.it", HOSTILE, clock.now()))
    async with runtime.sessions.begin() as session:  # as the pipeline records a poison message
        await session.execute(
            update(Message)
            .where(Message.id == broken.message_id)
            .values(decision="error", reason="ValueError: the same on every retry")
        )
    outcomes = {o.message_id: o for o in await runtime.worker.drain()}
    async with runtime.sessions.begin() as session:  # as a sender that died mid hand-over
        await session.execute(
            update(OutboxReply)
            .where(OutboxReply.address == "lost@example.it")
            .values(status="uncertain", last_error="the sender stopped while handing it over")
        )
    assert await runtime.sender.run_once() == 1  # the other one goes out

    assert (await client.get("/console/attention", allow_redirects=False)).status == 303
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    assert await sign_in(client, name) == 303
    page = await (await client.get("/console/attention")).text()

    lost_ref = outcomes[lost.message_id].ticket_ref
    assert f'href="/console/tickets/{lost_ref}"' in page
    assert "the sender stopped while handing it over" in page
    delivered_ref = outcomes[delivered.message_id].ticket_ref
    assert delivered_ref is not None
    assert delivered_ref not in page  # delivered: nothing to do
    assert "ValueError: the same on every retry" in page
    assert "&lt;script&gt;" in page
    assert "<script>alert" not in page
    assert 'href="/console/attention"' in page  # in the agents' navigation
