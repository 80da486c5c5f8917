"""POST /api/v1/messages and GET /healthz through aiohttp's test server, on both backends.

Every test runs twice (the `runtime` fixture): SQLite + embedded Valkey, and
PostgreSQL + Redis. A message is checked in the database and on the stream right
after the HTTP answer, then decided by the real worker. Tables of refusals run as
subtests on one runtime per backend, so a new PostgreSQL database is not built
for every bad body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import DEFAULT_ACCEPTED, MAX_TEXT_CHARS, Channel, Decision, OutboundReply
from bot.store.models import OutboxReply, Ticket
from tests.helpers import stored_messages

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


async def count(runtime: Runtime, model: type[OutboxReply] | type[Ticket]) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def stream_length(runtime: Runtime) -> int:
    return int(await runtime.redis.xlen(runtime.keys.stream))


async def assert_nothing_written(runtime: Runtime) -> None:
    assert await stored_messages(runtime) == []
    assert await stream_length(runtime) == 0
    assert await runtime.worker.drain() == []


async def post(
    client: Client, body: Any, *, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a dict as JSON, or bytes / an async iterator of bytes (chunked) as they are."""
    headers = AUTH if headers is None else headers
    if isinstance(body, dict | list):
        response = await client.post(URL, json=body, headers=headers)
    else:
        response = await client.post(URL, data=body, headers=headers)
    payload = await response.json()
    assert isinstance(payload, dict)
    return response.status, payload


def oversized_body() -> bytes:
    """Valid JSON, exactly one byte over the default limit."""
    body = json.dumps(complaint(raw={"pad": ""})).encode()
    padded = body.replace(b'"pad": ""', b'"pad": "' + b"p" * (LIMIT + 1 - len(body)) + b'"')
    assert len(padded) == LIMIT + 1
    return padded


# --- raw HTTP/1.1 on a socket, for what a well-behaved client library will not send ----------


async def open_raw(client: Client) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    server = client.server
    assert server.host is not None
    assert server.port is not None
    return await asyncio.open_connection(server.host, server.port)


def request_head(**headers: str | int) -> bytes:
    lines = [
        f"POST {URL} HTTP/1.1",
        "Host: intake.test",
        f"Authorization: Bearer {TOKEN}",
        "Content-Type: application/json",
        "Connection: close",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
    payload = json.loads(body) if body.startswith(b"{") else {"error": body.decode()}
    assert isinstance(payload, dict)
    return status, payload


async def answer_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """The first byte of an answer if one comes within `seconds`, else None."""
    try:
        async with asyncio.timeout(seconds):
            return await reader.read(1)
    except TimeoutError:
        return None


# --- accepted messages ------------------------------------------------------------------------


async def test_message_is_durable_and_undecided_when_answered_202_then_the_worker_decides_it(
    client: Client, runtime: Runtime
) -> None:
    status, payload = await post(client, complaint())

    assert status == 202
    assert payload["duplicate"] is False
    assert isinstance(payload["id"], int)
    [row] = await stored_messages(runtime)
    assert row.id == payload["id"]
    assert (row.channel, row.external_id, row.sender) == (
        "webform",
        "form-1001",
        "anna.rossi@example.com",
    )
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
    client: Client, runtime: Runtime, captured: dict[int, OutboundReply]
) -> None:
    first_status, first = await post(client, complaint())
    # A provider's retry, possibly with a changed payload: the first delivery wins.
    second_status, second = await post(client, complaint(text="resent by the provider"))

    assert (first_status, first["duplicate"]) == (202, False)
    assert (second_status, second) == (200, {"id": first["id"], "duplicate": True})
    [row] = await stored_messages(runtime)
    assert row.text == complaint()["text"]

    outcomes = await runtime.worker.drain()

    assert [o.message_id for o in outcomes] == [first["id"]]
    assert await runtime.stream.pending_count() == 0
    assert await count(runtime, Ticket) == 1
    assert await count(runtime, OutboxReply) == 1
    assert await runtime.sender.run_once() == 1
    assert [r.ticket_ref for r in captured.values()] == [outcomes[0].ticket_ref]


async def test_duplicate_after_the_decision_is_not_put_on_the_stream_again(
    client: Client, runtime: Runtime
) -> None:
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


async def test_simultaneous_deliveries_of_one_message_store_it_once(
    client: Client, runtime: Runtime
) -> None:
    answers = await asyncio.gather(*(post(client, complaint()) for _ in range(5)))

    [row] = await stored_messages(runtime)
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 202]
    assert {payload["id"] for _, payload in answers} == {row.id}
    assert [o.message_id for o in await runtime.worker.drain()] == [row.id]
    assert await count(runtime, OutboxReply) == 1


async def test_same_external_id_on_another_channel_is_a_different_message(
    client: Client, runtime: Runtime
) -> None:
    _, web_form = await post(client, complaint())
    status, email = await post(client, complaint(channel="email"))

    assert status == 202
    assert email["duplicate"] is False
    assert email["id"] != web_form["id"]
    assert [r.channel for r in await stored_messages(runtime)] == ["webform", "email"]


async def test_missing_received_at_is_filled_with_the_server_clock(
    client: Client, runtime: Runtime, clock: VirtualClock
) -> None:
    status, _ = await post(client, without("received_at"))

    assert status == 202
    [row] = await stored_messages(runtime)
    assert row.received_at == clock.now()


async def test_text_of_exactly_the_cap_is_accepted(client: Client, runtime: Runtime) -> None:
    status, _ = await post(client, complaint(text="a" * MAX_TEXT_CHARS))

    assert status == 202
    [row] = await stored_messages(runtime)
    assert len(row.text) == MAX_TEXT_CHARS


async def test_chunked_upload_under_the_limit_is_accepted(client: Client, runtime: Runtime) -> None:
    body = json.dumps(complaint(text="x" * 60_000)).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    status, _ = await post(client, pieces())

    assert status == 202
    [row] = await stored_messages(runtime)
    assert row.text == "x" * 60_000


async def test_body_arriving_in_two_parts_is_read_whole(client: Client, runtime: Runtime) -> None:
    body = json.dumps(complaint()).encode()
    reader, writer = await open_raw(client)
    try:
        writer.write(request_head(Content_Length=len(body)) + body[:40])
        await writer.drain()
        # A server that waits for the announced length says nothing until the rest arrives.
        early = await answer_within(reader, 0.5)
        assert early is None, "answered before the body was complete"
        writer.write(body[40:])
        status, payload = await read_answer(reader)
    finally:
        writer.close()

    assert (status, payload["duplicate"]) == (202, False)
    assert len(await stored_messages(runtime)) == 1


async def test_body_of_exactly_the_limit_is_accepted(client: Client, runtime: Runtime) -> None:
    body = oversized_body().replace(b'"pad": "p', b'"pad": "', 1)
    assert len(body) == LIMIT

    status, payload = await post(client, body)

    assert status == 202, payload
    [row] = await stored_messages(runtime)
    assert row.raw["pad"] == "p" * (LIMIT - len(json.dumps(complaint(raw={"pad": ""}))))


# --- lone surrogates --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["text", "subject", "display_name"])
async def test_lone_surrogate_escape_in_free_text_is_replaced_and_stored(
    client: Client, runtime: Runtime, field: str
) -> None:
    body = json.dumps(complaint(**{field: "broken \ud800 emoji"}))
    assert "\\ud800" in body  # JSON allows the escape; Python's json module produces it

    status, payload = await post(client, body.encode())

    assert status == 202, payload
    [row] = await stored_messages(runtime)
    assert getattr(row, field) in ("broken ? emoji", "broken \ufffd emoji")
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED


@pytest.mark.parametrize("field", ["sender", "external_id"])
async def test_lone_surrogate_escape_in_an_identifier_is_refused_naming_the_field(
    client: Client, runtime: Runtime, field: str
) -> None:
    body = json.dumps(complaint(**{field: "anna\ud800"}))

    status, payload = await post(client, body.encode())

    assert status == 422
    assert [p["field"] for p in payload["problems"]] == [field]
    await assert_nothing_written(runtime)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"thread_refs": ["<ref-\ud800@example.com>"]}, id="thread_refs"),
        pytest.param({"raw": {"note": "\ud800"}}, id="raw"),
    ],
)
async def test_lone_surrogate_escape_in_structured_fields_never_reaches_the_store(
    client: Client, runtime: Runtime, fields: dict[str, Any]
) -> None:
    response = await client.post(URL, data=json.dumps(complaint(**fields)).encode(), headers=AUTH)

    assert response.status in (202, 422), await response.text()
    for row in await stored_messages(runtime):
        stored = json.dumps([row.thread_refs, row.raw], ensure_ascii=False)
        assert not any(0xD800 <= ord(char) <= 0xDFFF for char in stored), stored


# --- refusals ---------------------------------------------------------------------------------


async def test_request_without_the_right_bearer_token_is_401_and_writes_nothing(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    cases = {
        "missing": {},
        "wrong token": {"Authorization": "Bearer wrong-token"},
        "token with a suffix": {"Authorization": f"Bearer {TOKEN}x"},
        "token prefix only": {"Authorization": f"Bearer {TOKEN[:-1]}"},
        "empty token": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": f"Basic {TOKEN}"},
        "token scheme": {"Authorization": f"Token {TOKEN}"},
        "no scheme": {"Authorization": TOKEN},
    }
    for case, headers in cases.items():
        with subtests.test(case):
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
        async for key in rt.redis.scan_iter(match=rt.keys.pattern, count=500):
            await rt.redis.delete(key)


async def test_api_is_disabled_with_403_when_no_token_is_configured(
    tokenless_runtime: Runtime,
) -> None:
    async with TestClient(TestServer(make_app(tokenless_runtime))) as tokenless:
        with_token = await post(tokenless, complaint(), headers=AUTH)
        without_token = await post(tokenless, complaint(), headers={})
        empty_bearer = await post(tokenless, complaint(), headers={"Authorization": "Bearer "})
        health = await tokenless.get("/healthz")

        for status, payload in (with_token, without_token, empty_bearer):
            assert status == 403
            assert "INTAKE_API_TOKEN" in payload["error"]
        assert health.status == 200
    assert await stored_messages(tokenless_runtime) == []
    assert await stream_length(tokenless_runtime) == 0


async def test_body_over_the_limit_is_413(client: Client, runtime: Runtime) -> None:
    status, payload = await post(client, oversized_body())

    assert status == 413
    assert str(LIMIT) in payload["error"]
    await assert_nothing_written(runtime)


async def test_chunked_upload_over_the_limit_without_content_length_is_413(
    client: Client, runtime: Runtime
) -> None:
    body = oversized_body()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    status, payload = await post(client, pieces())

    assert status == 413
    assert str(LIMIT) in payload["error"]
    await assert_nothing_written(runtime)


async def test_announced_length_over_the_limit_is_413_before_any_body_is_sent(
    client: Client, runtime: Runtime
) -> None:
    reader, writer = await open_raw(client)
    try:
        writer.write(request_head(Content_Length=10 * LIMIT))
        await writer.drain()
        status, payload = await read_answer(reader)
    finally:
        writer.close()

    assert status == 413
    assert str(LIMIT) in payload["error"]
    await assert_nothing_written(runtime)


async def test_content_length_together_with_chunked_encoding_is_refused(
    client: Client, runtime: Runtime
) -> None:
    body = json.dumps(complaint()).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    reader, writer = await open_raw(client)
    try:
        # A smuggling shape: the two framings disagree about where the body ends.
        writer.write(request_head(Content_Length=10, Transfer_Encoding="chunked") + chunked)
        await writer.drain()
        status, _ = await read_answer(reader)
    finally:
        writer.close()

    assert status == 400
    await assert_nothing_written(runtime)


async def test_unreadable_body_is_refused_with_the_reason_and_nothing_written(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    cases: dict[str, tuple[bytes, int, str]] = {
        "empty": (b"", 400, "invalid JSON"),
        "truncated JSON": (b'{"channel": "webform",', 400, "invalid JSON"),
        "single quotes": (b"{'channel': 'webform'}", 400, "invalid JSON"),
        "latin-1 bytes": (b'{"channel": "webform", "text": "caf\xe9"}', 400, "UTF-8"),
        "invalid UTF-8": (b'{"text": "\xff\xfe"}', 400, "UTF-8"),
        "array": (json.dumps([complaint()]).encode(), 422, "JSON object"),
        "string": (b'"a complaint"', 422, "JSON object"),
        "null": (b"null", 422, "JSON object"),
    }
    for case, (body, status, fragment) in cases.items():
        with subtests.test(case):
            got_status, payload = await post(client, body)

            assert got_status == status
            assert fragment in payload["error"]
            await assert_nothing_written(runtime)


async def test_invalid_message_is_422_naming_the_field_and_nothing_written(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    cases: dict[str, tuple[dict[str, Any], str, str]] = {
        "text as a number": (complaint(text=42), "text", "valid string"),
        "sender as a list": (complaint(sender=["anna"]), "sender", "valid string"),
        "unknown channel": (complaint(channel="ebay"), "channel", "'webform'"),
        "channel in capitals": (complaint(channel="WhatsApp"), "channel", "'whatsapp'"),
        "missing sender": (without("sender"), "sender", "required"),
        "missing external_id": (without("external_id"), "external_id", "required"),
        "missing channel": (without("channel"), "channel", "required"),
        "empty external_id": (complaint(external_id=""), "external_id", "at least 1"),
        "blank sender": (complaint(sender=""), "sender", "at least 1"),
        "unknown extra field": (complaint(priority="high"), "priority", "not permitted"),
        "timestamp without zone": (
            complaint(received_at="2026-11-02T09:15:00"),
            "received_at",
            "time zone",
        ),
        "unparseable timestamp": (complaint(received_at="yesterday"), "received_at", "datetime"),
        "70 KB text": (complaint(text="x" * 70_000), "text", f"{MAX_TEXT_CHARS} characters"),
        "negative attachment size": (
            complaint(attachments=[{"filename": "a.pdf", "size": -1}]),
            "attachments.0.size",
            "greater than or equal to 0",
        ),
    }
    for case, (body, field, fragment) in cases.items():
        with subtests.test(case):
            status, payload = await post(client, body)

            assert status == 422
            assert payload["error"] == "invalid message"
            [problem] = payload["problems"]
            assert problem["field"] == field
            assert fragment in problem["problem"]
            await assert_nothing_written(runtime)


async def test_every_problem_of_a_message_is_named(client: Client, runtime: Runtime) -> None:
    body = without("sender")
    body.update(channel="ebay", text=7)

    status, payload = await post(client, body)

    assert status == 422
    assert sorted(p["field"] for p in payload["problems"]) == ["channel", "sender", "text"]
    await assert_nothing_written(runtime)


# --- health -----------------------------------------------------------------------------------


async def test_healthz_reports_database_channels_and_stream_pending(
    client: Client, runtime: Runtime
) -> None:
    expected_database = "sqlite" if runtime.settings.database_url is None else "postgresql"

    response = await client.get("/healthz")

    assert response.status == 200
    report = await response.json()
    assert report["status"] == "ok"
    assert report["database"] == expected_database
    assert report["accepted_channels"] == sorted(c.value for c in DEFAULT_ACCEPTED)
    assert "whatsapp" not in report["accepted_channels"]
    assert report["stream_pending"] == 0


async def test_healthz_stream_pending_counts_entries_a_worker_holds_until_they_are_decided(
    client: Client, runtime: Runtime
) -> None:
    await post(client, complaint())
    await post(client, complaint(external_id="form-1002"))
    # A worker that read the entries and then stalled (or died) leaves them pending.
    await runtime.stream.read("stalled-worker", 10, None)

    stalled = await (await client.get("/healthz")).json()

    assert stalled["stream_pending"] == 2
    # Our worker takes them over once they are idle longer than claim_idle_ms (100 ms here).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (await (await client.get("/healthz")).json())["stream_pending"] > 0:
        assert loop.time() < deadline, "the stalled worker's entries were never reclaimed"
        await runtime.worker.run_once(block=False, claim=True)
        await asyncio.sleep(0.05)
    assert all(row.decision is not None for row in await stored_messages(runtime))


async def test_healthz_follows_an_admin_channel_change(client: Client, runtime: Runtime) -> None:
    await runtime.policy.set_channel("whatsapp", True, actor="test")
    await runtime.policy.set_channel("email", False, actor="test")

    report = await (await client.get("/healthz")).json()

    channels = (set(DEFAULT_ACCEPTED) | {Channel.WHATSAPP}) - {Channel.EMAIL}
    assert report["accepted_channels"] == sorted(c.value for c in channels)
