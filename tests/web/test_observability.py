"""/readyz and /metrics: what a load balancer and Prometheus read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import channel_setup
from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from tests.helpers import complaint

Client = TestClient[Any, Any]


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


async def test_ready_with_every_part_and_each_loop_said(client: Client) -> None:
    answer = await client.get("/readyz")
    body = await answer.json()
    assert answer.status == 200
    assert (body["status"], body["database"], body["redis"], body["stream_group"]) == (
        "ready",
        "ok",
        "ok",
        "ok",
    )
    assert set(body["loops"]) == {"policy_follower", "sender", "worker", "sweeper", "digests"}


async def test_a_lost_consumer_group_makes_the_process_unready(
    client: Client, runtime: Runtime
) -> None:
    await runtime.redis.delete(runtime.stream.name)
    answer = await client.get("/readyz")
    assert answer.status == 503
    assert (await answer.json())["stream_group"] != "ok"


async def test_metrics_count_answers_decisions_and_what_the_stores_hold(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    await client.get("/healthz")
    await client.get("/console/tickets/C-2026-000001")  # a pattern, not the raw path
    await runtime.ingest.accept(complaint("m@example.it", "Inverter rotto, ordine 1.", clock.now()))
    await runtime.worker.drain()
    await runtime.sender.run_once()

    answer = await client.get("/metrics")
    text = await answer.text()

    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert 'intake_http_responses_total{route="/healthz",status="2xx"} 1.0' in text
    assert 'route="/console/tickets/{ref}"' in text
    assert "C-2026-000001" not in text
    assert 'intake_messages_decided_total{decision="answered"} 1.0' in text
    assert 'intake_outbox{status="sent"} 1.0' in text
    assert "intake_reply_latency_seconds_count 1.0" in text
    assert "intake_classifier_seconds_count 1.0" in text
    assert "intake_stream_pending 0.0" in text
    assert "intake_moderation_pending 0.0" in text
    assert 'intake_tickets_late{mark="overdue"} 0.0' in text


async def test_the_channels_loops_say_their_state_beside_the_bots(runtime: Runtime) -> None:
    plugs = channel_setup.plugs(runtime)
    [chat] = [plug for plug in plugs if plug.name == "webchat"]
    hub = chat.loops[0].__self__  # type: ignore[attr-defined]
    async with TestClient(TestServer(make_app(runtime, plugs=plugs))) as client:
        await asyncio.wait_for(hub.ready.wait(), 30)
        body = await (await client.get("/readyz")).json()

    assert body["loops"]["webchat.chat_hub"] == "subscribed"
    assert hub.state == "stopped"  # and says so once the app is gone
