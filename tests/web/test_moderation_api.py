"""The moderators' queue over JSON: list, inspect, release, confirm, block, all audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Decision, OutboundReply
from bot.staff.accounts import Accounts, Role
from bot.store.models import AuditEntry
from tests.helpers import complaint, staff_token

INGEST = {"Authorization": "Bearer test-token"}  # the api_token the `settings` fixture sets
RUDE = "Il mio inverter è rotto di nuovo, idiots!"


@pytest.fixture
async def auth(moderated: Runtime) -> dict[str, str]:
    """mod.anna's personal token; the header naming someone else is ignored."""
    return {**await staff_token(moderated, Role.MODERATOR, "mod.anna"), "X-Intake-Actor": "eve"}


@pytest.fixture
async def client(moderated: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(moderated))) as test_client:
        yield test_client


async def flag(runtime: Runtime, clock: VirtualClock, sender: str = "a@example.it") -> int:
    accepted = await runtime.ingest.accept(complaint(sender, RUDE, clock.now()))
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.FLAGGED
    return accepted.message_id


async def test_flagged_messages_are_listed_with_scores_and_labels(
    auth: dict[str, str], client: TestClient[Any, Any], moderated: Runtime, clock: VirtualClock
) -> None:
    first = await flag(moderated, clock, "a@example.it")
    second = await flag(moderated, clock, "b@example.it")
    response = await client.get("/api/v1/moderation/items?limit=1", headers=auth)
    assert response.status == 200
    page = await response.json()
    assert [i["message_id"] for i in page["items"]] == [first]
    item = page["items"][0]
    assert (item["labels"], item["text"], item["status"]) == (["insult"], RUDE, "pending")
    assert item["scores"]["insult"] > 0.9
    nxt = await (
        await client.get(f"/api/v1/moderation/items?after={page['next_after']}", headers=auth)
    ).json()
    assert [i["message_id"] for i in nxt["items"]] == [second]


async def test_release_answers_once_and_records_who(
    auth: dict[str, str],
    client: TestClient[Any, Any],
    moderated: Runtime,
    clock: VirtualClock,
    captured: dict[int, OutboundReply],
) -> None:
    message_id = await flag(moderated, clock)
    response = await client.post(f"/api/v1/moderation/items/{message_id}/release", headers=auth)
    assert response.status == 200
    assert (await response.json())["status"] == "released"
    assert [o.decision for o in await moderated.worker.drain()] == [Decision.ANSWERED]
    again = await client.post(f"/api/v1/moderation/items/{message_id}/release", headers=auth)
    assert again.status == 409
    await moderated.sender.run_once()
    assert len(captured) == 1
    item = await (await client.get(f"/api/v1/moderation/items/{message_id}", headers=auth)).json()
    assert (item["status"], item["decided_by"]) == ("released", "mod.anna")
    async with moderated.sessions() as session:
        audit = list(
            await session.execute(
                select(AuditEntry.actor, AuditEntry.action).where(
                    AuditEntry.action.like("moderation.%")
                )
            )
        )
    assert [tuple(a) for a in audit] == [("mod.anna", "moderation.release")]  # not "eve"


async def test_block_keeps_the_senders_next_messages_stored_but_unanswered(
    auth: dict[str, str], client: TestClient[Any, Any], moderated: Runtime, clock: VirtualClock
) -> None:
    message_id = await flag(moderated, clock)
    response = await client.post(
        f"/api/v1/moderation/items/{message_id}/block", json={"days": 7}, headers=auth
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "confirmed"
    assert body["blocked_until"].startswith((clock.now() + timedelta(days=7)).date().isoformat())
    polite = "Buongiorno, il mio inverter SUN2000 è guasto, potete aiutarmi?"
    await moderated.ingest.accept(complaint("a@example.it", polite, clock.now()))
    [blocked] = await moderated.worker.drain()
    assert blocked.decision is Decision.FLAGGED
    assert "blocked until" in blocked.reason
    clock.set(clock.now() + timedelta(days=8))
    await moderated.ingest.accept(complaint("a@example.it", polite + " Grazie.", clock.now()))
    [later] = await moderated.worker.drain()
    assert later.decision is Decision.ANSWERED


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/moderation/items?status=bogus", None, 400),
        ("get", "/api/v1/moderation/items?limit=-1", None, 400),
        ("get", "/api/v1/moderation/items/999", None, 404),
        ("get", "/api/v1/moderation/items/abc", None, 404),
        ("post", "/api/v1/moderation/items/999/confirm", None, 404),
        ("post", "/api/v1/moderation/items/{id}/block", {"days": "seven"}, 422),
        ("post", "/api/v1/moderation/items/{id}/block", {"days": 0}, 400),
        ("post", "/api/v1/moderation/items/{id}/block", {"days": True}, 422),
    ],
)
async def test_bad_moderation_requests_are_refused_clearly(
    auth: dict[str, str],
    client: TestClient[Any, Any],
    moderated: Runtime,
    clock: VirtualClock,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    message_id = await flag(moderated, clock)
    call = getattr(client, method)
    response = await call(path.replace("{id}", str(message_id)), json=body, headers=auth)
    assert response.status == status
    assert (await response.json())["error"]
    still = await (await client.get(f"/api/v1/moderation/items/{message_id}", headers=auth)).json()
    assert still["status"] == "pending"


async def test_the_queue_needs_the_token(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/moderation/items")
    assert response.status == 401


async def test_the_ingest_token_and_an_agents_token_may_not_moderate(
    client: TestClient[Any, Any], moderated: Runtime, clock: VirtualClock
) -> None:
    message_id = await flag(moderated, clock)
    agent = await staff_token(moderated, Role.AGENT)
    for headers in (INGEST, agent):
        listed = await client.get("/api/v1/moderation/items", headers=headers)
        released = await client.post(
            f"/api/v1/moderation/items/{message_id}/release", headers=headers
        )
        assert (listed.status, released.status) == (403, 403)
        assert "error" in await released.json()
    assert await moderated.worker.drain() == []  # nothing was released


async def test_a_revoked_or_unknown_token_is_refused_at_once(
    client: TestClient[Any, Any], moderated: Runtime
) -> None:
    headers = await staff_token(moderated, Role.ADMIN, "root")
    assert (await client.get("/api/v1/moderation/items", headers=headers)).status == 200
    accounts = Accounts(moderated.sessions, moderated.clock)
    [issued] = await accounts.tokens("root")
    await accounts.revoke_token(issued.id, actor="root")
    forged = {"Authorization": headers["Authorization"][:-2] + "xx"}
    for refused in (
        headers,
        forged,
        {"Authorization": "Bearer itk_"},
        {"Authorization": "Basic x"},
    ):
        assert (await client.get("/api/v1/moderation/items", headers=refused)).status == 401


async def test_healthz_says_which_backend_scores_and_why(runtime: Runtime) -> None:
    async with TestClient(TestServer(make_app(runtime))) as plain:
        report = await (await plain.get("/healthz")).json()
    assert report["classifier"] == "lexicon"
    assert "Detoxify" in report["classifier_reason"]
