"""Tickets over JSON for staff tokens: read, change a status (one reply), note; the ingest
token and strangers get nothing, and the audit log names the token's account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.staff.accounts import Role
from bot.store.models import AuditEntry
from tests.helpers import complaint, outbox_rows, staff_token

Client = TestClient[Any, Any]
INGEST = {"Authorization": "Bearer test-token"}


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


async def opened(runtime: Runtime, clock: VirtualClock) -> str:
    await runtime.ingest.accept(
        complaint("anna@example.it", "Il mio inverter è rotto, ordine 77120.", clock.now())
    )
    [outcome] = await runtime.worker.drain()
    assert outcome.ticket_ref is not None
    return outcome.ticket_ref


async def test_an_agent_reads_and_changes_a_ticket_with_one_reply_and_is_named(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref = await opened(runtime, clock)
    agent = {**await staff_token(runtime, Role.AGENT, "ag.bea"), "X-Intake-Actor": "mallory"}

    listed = await (
        await client.get("/api/v1/tickets?status=awaiting_details", headers=agent)
    ).json()
    shown = await (await client.get(f"/api/v1/tickets/{ref.lower()}", headers=agent)).json()
    before = len(await outbox_rows(runtime))
    changed = await client.post(
        f"/api/v1/tickets/{ref}/status",
        json={"status": "investigating", "note": "Tecnico assegnato.", "state_version": 1},
        headers=agent,
    )
    stale = await client.post(
        f"/api/v1/tickets/{ref}/status",
        json={"status": "escalated", "note": "x", "state_version": 1},
        headers=agent,
    )
    noted = await client.post(
        f"/api/v1/tickets/{ref}/notes", json={"note": "Chiamato."}, headers=agent
    )

    assert [t["ref"] for t in listed["tickets"]] == [ref]
    assert (shown["ref"], shown["status"], shown["thread"][0]["channel"]) == (
        ref,
        "awaiting_details",
        "email",
    )
    assert changed.status == 200
    assert (await changed.json())["reply_owed"] is True
    assert stale.status == 409
    assert noted.status == 200
    assert len(await outbox_rows(runtime)) == before + 1  # the change's one reply, no more
    async with runtime.sessions() as session:
        actors = set(
            await session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.action.in_(["ticket.status", "ticket.note"])
                )
            )
        )
    assert actors == {"ag.bea"}


async def test_refusals_are_clear_and_change_nothing(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref = await opened(runtime, clock)
    agent = await staff_token(runtime, Role.AGENT)
    cases = [
        (f"/api/v1/tickets/{ref}/status", {"status": "nonsense", "note": "x"}, 422),
        (f"/api/v1/tickets/{ref}/status", {"status": "rejected", "note": ""}, 422),
        (f"/api/v1/tickets/{ref}/status", {"status": "investigating", "note": 5}, 422),
        (
            f"/api/v1/tickets/{ref}/status",
            {"status": "investigating", "new_resolve_date": "soon"},
            422,
        ),
        ("/api/v1/tickets/C-2026-999999/status", {"status": "investigating", "note": "x"}, 404),
        ("/api/v1/tickets/%00%FF/notes", {"note": "x"}, 404),
        (f"/api/v1/tickets/{ref}/notes", {"note": ""}, 422),
    ]
    for path, body, status in cases:
        answer = await client.post(path, json=body, headers=agent)
        assert answer.status == status, (path, body, await answer.text())
        assert "error" in await answer.json()
    assert (await client.get("/api/v1/tickets/C-2026-999999", headers=agent)).status == 404
    assert len(await outbox_rows(runtime)) == 1  # the acknowledgment only


async def test_the_ingest_token_and_strangers_get_no_ticket(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    ref = await opened(runtime, clock)
    for headers, status in ((INGEST, 403), ({}, 401), ({"Authorization": "Bearer itk_x"}, 401)):
        assert (await client.get(f"/api/v1/tickets/{ref}", headers=headers)).status == status
        changed = await client.post(
            f"/api/v1/tickets/{ref}/status",
            json={"status": "investigating", "note": "x"},
            headers=headers,
        )
        assert changed.status == status
    assert len(await outbox_rows(runtime)) == 1
