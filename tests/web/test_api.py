"""POST /api/v1/messages and GET /healthz through aiohttp's test server, on both backends.

Every test runs twice (the `runtime` fixture): SQLite + embedded Valkey, and
PostgreSQL + Redis. A message is checked in the database and on the stream right
after the HTTP answer, and then decided by the real worker.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.clock import VirtualClock
from bot.config import Settings
from bot.domain import DEFAULT_ACCEPTED, MAX_TEXT_CHARS, Channel, Decision, OutboundReply
from bot.models import Message, OutboxReply, Ticket
from bot.runtime import Runtime, open_runtime
from bot.web.app import make_app

URL = "/api/v1/messages"
TOKEN = "test-token"  # the api_token the `settings` fixture sets
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 256 * 1024  # the default max_body_bytes

Client = TestClient[web.Request, web.Application]


def complaint(**fields: Any) -> dict[str, Any]:
    """A well-formed message; keyword arguments replace or add fields."""
    body: dict[str, Any] = {
        "channel": "webform",
        "external_id": "form-1001",
        "sender": "anna.rossi@example.com",
        "display_name": "Anna Rossi",
        "subject": "Inverter fault",
        "text": "My solar inverter SUN-5K-G03 shows error F23 since Monday.",
        "received_at": "2026-11-02T09:15:00+01:00",
    }
    body.update(fields)
    return body


def without(*names: str) -> dict[str, Any]:
    body = complaint()
    for name in names:
        del body[name]
    return body


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


async def stored_messages(runtime: Runtime) -> list[Message]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def count(runtime: Runtime, model: type[OutboxReply] | type[Ticket]) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def stream_length(runtime: Runtime) -> int:
    return int(await runtime.redis.xlen(runtime.keys.stream))


async def assert_nothing_written(runtime: Runtime) -> None:
    assert await stored_messages(runtime) == []
    assert await stream_length(runtime) == 0
    assert await runtime.worker.drain() == []


async def post(client: Client, body: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    headers = kwargs.pop("headers", AUTH)
    if isinstance(body, dict | list):
        response = await client.post(URL, json=body, headers=headers, **kwargs)
    else:  # bytes or an async iterator of bytes (a chunked upload)
        response = await client.post(URL, data=body, headers=headers, **kwargs)
    payload = await response.json()
    assert isinstance(payload, dict)
    return response.status, payload


# --- accepted messages ------------------------------------------------------------------------


async def test_message_is_durable_and_undecided_when_answered_202_then_the_worker_decides_it(
        client: Client, runtime: Runtime) -> None:
    status, payload = await post(client, complaint())

    assert status == 202
    assert payload["duplicate"] is False
    assert isinstance(payload["id"], int)
    [row] = await stored_messages(runtime)
    assert row.id == payload["id"]
    assert (row.channel, row.external_id, row.sender) == (
        "webform", "form-1001", "anna.rossi@example.com")
    assert row.text == complaint()["text"]
    assert row.received_at == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)
    assert row.decision is None
    assert row.ticket_id is None
    assert await stream_length(runtime) == 1

    outcomes = await runtime.worker.drain()

    assert [(o.message_id, o.decision) for o in outcomes] == [(row.id, Decision.ANSWERED)]
    [decided] = await stored_messages(runtime)
    assert decided.decision == Decision.ANSWERED.value
    assert decided.ticket_id is not None
    assert decided.processed_at is not None
    assert await count(runtime, OutboxReply) == 1


async def test_duplicate_external_id_is_answered_idempotently(
        client: Client, runtime: Runtime, captured: dict[int, OutboundReply]) -> None:
    first_status, first = await post(client, complaint())
    # A provider retry, possibly with a changed payload: the first delivery wins.
    second_status, second = await post(client, complaint(text="resent by the provider"))

    assert (first_status, first["duplicate"]) == (202, False)
    assert (second_status, second) == (200, {"id": first["id"], "duplicate": True})
    [row] = await stored_messages(runtime)
    assert row.text == complaint()["text"]

    outcomes = await runtime.worker.drain()

    assert [o.message_id for o in outcomes] == [first["id"]]
    assert await count(runtime, OutboxReply) == 1
    assert await runtime.sender.run_once() == 1
    assert len(captured) == 1


async def test_duplicate_after_the_decision_is_not_put_on_the_stream_again(
        client: Client, runtime: Runtime) -> None:
    _, first = await post(client, complaint())
    [outcome] = await runtime.worker.drain()
    entries = await stream_length(runtime)

    status, again = await post(client, complaint())

    assert (status, again) == (200, {"id": first["id"], "duplicate": True})
    assert await stream_length(runtime) == entries
    assert await runtime.worker.drain() == []
    [row] = await stored_messages(runtime)
    assert row.decision == outcome.decision.value
    assert await count(runtime, OutboxReply) == 1


async def test_same_external_id_on_another_channel_is_a_different_message(
        client: Client, runtime: Runtime) -> None:
    _, web_form = await post(client, complaint())
    status, email = await post(client, complaint(channel="email"))

    assert status == 202
    assert email["duplicate"] is False
    assert email["id"] != web_form["id"]
    assert [r.channel for r in await stored_messages(runtime)] == ["webform", "email"]


async def test_missing_received_at_is_filled_with_the_server_clock(
        client: Client, runtime: Runtime, clock: VirtualClock) -> None:
    status, _ = await post(client, without("received_at"))

    assert status == 202
    [row] = await stored_messages(runtime)
    assert row.received_at == clock.now()


async def test_lone_surrogate_escape_in_text_is_stored_safely(
        client: Client, runtime: Runtime) -> None:
    body = json.dumps(complaint(text="broken \ud800 emoji", subject="bad \udfff subject"))
    assert "\\ud800" in body  # the escape goes over the wire as JSON allows it

    status, payload = await post(client, body.encode())

    assert status == 202
    [row] = await stored_messages(runtime)
    assert row.text == "broken ? emoji"
    assert row.subject == "bad ? subject"
    [outcome] = await runtime.worker.drain()
    assert outcome.message_id == payload["id"]
    assert outcome.decision is Decision.ANSWERED


@pytest.mark.parametrize("fields", [
    pytest.param({"sender": "anna\ud800@example.com"}, id="sender"),
    pytest.param({"external_id": "form-\ud800"}, id="external_id"),
    pytest.param({"display_name": "Anna \ud800"}, id="display_name"),
    pytest.param({"thread_refs": ["<ref-\ud800@example.com>"]}, id="thread_refs"),
    pytest.param({"raw": {"note": "\ud800"}}, id="raw"),
])
async def test_lone_surrogate_escape_in_any_field_is_stored_or_refused_never_a_crash(
        client: Client, runtime: Runtime, fields: dict[str, Any]) -> None:
    response = await client.post(URL, data=json.dumps(complaint(**fields)).encode(),
                                 headers=AUTH)

    assert response.status in (202, 422), await response.text()
    if response.status == 202:
        [row] = await stored_messages(runtime)
        assert "\ud800" not in json.dumps(
            [row.sender, row.external_id, row.display_name, row.thread_refs, row.raw],
            ensure_ascii=False)
        [outcome] = await runtime.worker.drain()
        assert outcome.decision is not Decision.ERROR
    else:
        [problem] = (await response.json())["problems"]
        assert problem["field"] == next(iter(fields))
        await assert_nothing_written(runtime)


async def test_text_of_exactly_the_cap_is_accepted(client: Client, runtime: Runtime) -> None:
    status, _ = await post(client, complaint(text="a" * MAX_TEXT_CHARS))

    assert status == 202
    [row] = await stored_messages(runtime)
    assert len(row.text) == MAX_TEXT_CHARS


async def test_body_sent_in_several_chunks_is_read_whole(
        client: Client, runtime: Runtime) -> None:
    body = json.dumps(complaint(text="x" * 60_000)).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    status, _ = await post(client, pieces())

    assert status == 202
    [row] = await stored_messages(runtime)
    assert row.text == "x" * 60_000


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
    pytest.param({"Authorization": f"Bearer {TOKEN}x"}, id="token-with-suffix"),
    pytest.param({"Authorization": "Bearer "}, id="empty-token"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="basic-scheme"),
    pytest.param({"Authorization": f"Token {TOKEN}"}, id="token-scheme"),
    pytest.param({"Authorization": TOKEN}, id="no-scheme"),
])
async def test_request_without_the_right_bearer_token_is_401_and_writes_nothing(
        client: Client, runtime: Runtime, headers: dict[str, str]) -> None:
    status, payload = await post(client, complaint(), headers=headers)

    assert status == 401
    assert "Bearer token" in payload["error"]
    await assert_nothing_written(runtime)


async def test_bearer_scheme_is_case_insensitive(client: Client, runtime: Runtime) -> None:
    status, _ = await post(client, complaint(), headers={"Authorization": f"bearer {TOKEN}"})

    assert status == 202
    assert len(await stored_messages(runtime)) == 1


@pytest.fixture
async def tokenless_runtime(settings: Settings, clock: VirtualClock) -> AsyncIterator[Runtime]:
    async with open_runtime(settings.model_copy(update={"api_token": None}), clock=clock) as rt:
        yield rt


@pytest.mark.parametrize("headers", [
    pytest.param(AUTH, id="bearer"),
    pytest.param({}, id="none"),
])
async def test_api_is_disabled_with_403_when_no_token_is_configured(
        tokenless_runtime: Runtime, headers: dict[str, str]) -> None:
    async with TestClient(TestServer(make_app(tokenless_runtime))) as tokenless:
        status, payload = await post(tokenless, complaint(), headers=headers)
        health = await tokenless.get("/healthz")

        assert status == 403
        assert "INTAKE_API_TOKEN" in payload["error"]
        assert health.status == 200
    assert await stored_messages(tokenless_runtime) == []
    assert await stream_length(tokenless_runtime) == 0


def oversized_body() -> bytes:
    """Valid JSON, one byte over the default limit."""
    body = json.dumps(complaint(raw={"pad": ""})).encode()
    padded = body.replace(b'"pad": ""', b'"pad": "' + b"p" * (LIMIT + 1 - len(body)) + b'"')
    assert len(padded) == LIMIT + 1
    return padded


async def test_body_over_the_limit_is_413(client: Client, runtime: Runtime) -> None:
    status, payload = await post(client, oversized_body())

    assert status == 413
    assert str(LIMIT) in payload["error"]
    await assert_nothing_written(runtime)


async def test_body_of_exactly_the_limit_is_read(client: Client, runtime: Runtime) -> None:
    body = oversized_body().replace(b'"pad": "p', b'"pad": "', 1)
    assert len(body) == LIMIT

    status, _ = await post(client, body)

    assert status == 202
    [row] = await stored_messages(runtime)
    assert len(row.raw["pad"]) > LIMIT - 1024


async def test_chunked_body_over_the_limit_without_content_length_is_413(
        client: Client, runtime: Runtime) -> None:
    body = oversized_body()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start:start + 16 * 1024]

    status, payload = await post(client, pieces())

    assert status == 413
    assert str(LIMIT) in payload["error"]
    await assert_nothing_written(runtime)


@pytest.mark.parametrize(("body", "status", "fragment"), [
    pytest.param(b"", 400, "invalid JSON", id="empty"),
    pytest.param(b'{"channel": "webform",', 400, "invalid JSON", id="truncated-json"),
    pytest.param(b"{'channel': 'webform'}", 400, "invalid JSON", id="single-quotes"),
    pytest.param(b'{"channel": "webform", "text": "caf\xe9"}', 400, "UTF-8", id="latin-1-bytes"),
    pytest.param(b'{"text": "\xff\xfe"}', 400, "UTF-8", id="invalid-utf8"),
    pytest.param(json.dumps([complaint()]).encode(), 422, "JSON object", id="array"),
    pytest.param(b'"a complaint"', 422, "JSON object", id="string"),
    pytest.param(b"null", 422, "JSON object", id="null"),
])
async def test_unreadable_body_is_refused_with_the_reason_and_nothing_written(
        client: Client, runtime: Runtime, body: bytes, status: int, fragment: str) -> None:
    got_status, payload = await post(client, body)

    assert got_status == status
    assert fragment in payload["error"]
    await assert_nothing_written(runtime)


@pytest.mark.parametrize(("body", "field", "fragment"), [
    pytest.param(complaint(text=42), "text", "string", id="text-as-number"),
    pytest.param(complaint(sender=["anna"]), "sender", "string", id="sender-as-list"),
    pytest.param(complaint(channel="ebay"), "channel", "webform", id="unknown-channel"),
    pytest.param(complaint(channel="WhatsApp"), "channel", "whatsapp", id="channel-case"),
    pytest.param(without("sender"), "sender", "required", id="missing-sender"),
    pytest.param(without("external_id"), "external_id", "required", id="missing-external-id"),
    pytest.param(without("channel"), "channel", "required", id="missing-channel"),
    pytest.param(complaint(external_id=""), "external_id", "at least 1", id="empty-external-id"),
    pytest.param(complaint(priority="high"), "priority", "not permitted", id="extra-field"),
    pytest.param(complaint(received_at="2026-11-02T09:15:00"), "received_at", "time zone",
                 id="naive-timestamp"),
    pytest.param(complaint(received_at="yesterday"), "received_at", "datetime",
                 id="unparseable-timestamp"),
    pytest.param(complaint(text="x" * 70_000), "text", str(MAX_TEXT_CHARS), id="text-70kb"),
    pytest.param(complaint(attachments=[{"filename": "a.pdf", "size": -1}]), "attachments.0.size",
                 "greater than or equal", id="negative-attachment-size"),
])
async def test_invalid_message_is_422_naming_the_field_and_nothing_written(
        client: Client, runtime: Runtime, body: dict[str, Any], field: str,
        fragment: str) -> None:
    status, payload = await post(client, body)

    assert status == 422
    assert payload["error"] == "invalid message"
    [problem] = payload["problems"]
    assert problem["field"] == field
    assert fragment in problem["problem"]
    await assert_nothing_written(runtime)


async def test_several_problems_are_all_named(client: Client, runtime: Runtime) -> None:
    body = without("sender")
    body.update(channel="ebay", text=7)

    status, payload = await post(client, body)

    assert status == 422
    assert sorted(p["field"] for p in payload["problems"]) == ["channel", "sender", "text"]
    await assert_nothing_written(runtime)


# --- health -----------------------------------------------------------------------------------


async def test_healthz_reports_database_channels_and_stream_pending(
        client: Client, runtime: Runtime) -> None:
    expected_database = "sqlite" if runtime.settings.database_url is None else "postgresql"

    response = await client.get("/healthz")

    assert response.status == 200
    report = await response.json()
    assert report["status"] == "ok"
    assert report["database"] == expected_database
    assert report["accepted_channels"] == sorted(c.value for c in DEFAULT_ACCEPTED)
    assert "whatsapp" not in report["accepted_channels"]
    assert report["stream_pending"] == 0


async def test_healthz_counts_entries_read_but_not_yet_acknowledged(
        client: Client, runtime: Runtime) -> None:
    await post(client, complaint())
    await post(client, complaint(external_id="form-1002"))
    # A worker that has read the entries and not yet committed (or died) holds them pending.
    await runtime.stream.read("stalled-worker", 10, None)

    stalled = await (await client.get("/healthz")).json()
    await runtime.worker.run_once(block=False, claim=True)
    settled = await (await client.get("/healthz")).json()

    assert stalled["stream_pending"] == 2
    assert settled["stream_pending"] == 0


async def test_healthz_follows_an_admin_channel_change(
        client: Client, runtime: Runtime) -> None:
    await runtime.policy.set_channel("whatsapp", True, actor="test")
    await runtime.policy.set_channel("email", False, actor="test")

    report = await (await client.get("/healthz")).json()

    channels = set(DEFAULT_ACCEPTED) | {Channel.WHATSAPP}
    channels.discard(Channel.EMAIL)
    assert report["accepted_channels"] == sorted(c.value for c in channels)
