"""Hostile input to the ingest and moderation APIs: every refusal is a 4xx, never a crash.

Bytes that are not UTF-8 in a header, JSON nested to exhaust the parser's stack, ids
past what the database's integers hold, timestamps at the ends of the calendar. The
flows that store run on both backends (the `runtime` fixture).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract import safe_json
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, InboundMessage
from bot.staff.accounts import Role
from bot.store.models import Ticket
from bot.tickets import lifecycle
from tests.conftest import START
from tests.helpers import staff_token, stored_messages

URL = "/api/v1/messages"
AUTH = {"Authorization": "Bearer test-token"}  # the api_token the `settings` fixture sets
Client = TestClient[web.Request, web.Application]


def complaint(**fields: Any) -> dict[str, Any]:
    return {
        "channel": "webform",
        "external_id": "form-1",
        "sender": "anna@example.com",
        "text": "My inverter SUN-5K-G03 shows error F23.",
        **fields,
    }


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value `depth` containers deep (lists and objects in turn), built without recursion."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object_text(depth: int) -> str:
    """Objects `depth` deep, as text: json.dumps itself would exhaust the stack."""
    return '{"k": ' * depth + "1" + "}" * depth


def with_raw(text: str) -> str:
    """A complaint whose raw payload is the JSON `text`."""
    return json.dumps(complaint(raw={"x": "@"})).replace('"@"', text)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


async def raw_post(client: Client, path: str, headers: list[bytes], body: bytes = b"{}") -> int:
    """POST with header lines as bytes: aiohttp's client will not send bytes that are not
    UTF-8, but a hostile one will. Returns the answer's status."""
    server = client.server
    assert server.host is not None
    assert server.port is not None
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = [
        f"POST {path} HTTP/1.1".encode(),
        b"Host: intake.test",
        b"Connection: close",
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        *headers,
    ]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    try:
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split(b" ", 2)[1])


# --- safe_json ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_json_deeper_than_the_cap_is_refused_before_parsing(depth: int) -> None:
    with pytest.raises(safe_json.TooDeep, match="nested deeper than 32"):
        safe_json.loads(deep_text(depth))
    with pytest.raises(ValueError, match="nested deeper than 32"):
        safe_json.loads(deep_object_text(depth).encode())


def test_json_at_the_cap_and_brackets_inside_strings_are_parsed() -> None:
    assert safe_json.loads(json.dumps(nested(32))) == nested(32)
    text = json.dumps({"a": "[" * 1000 + '\\"{' * 500, "b": ["]]]", "\\"]})
    assert safe_json.loads(text) == json.loads(text)
    assert safe_json.loads(b'{"x": 1}') == {"x": 1}
    assert safe_json.loads('{"x": 1}'.encode("utf-16")) == {"x": 1}


@pytest.mark.parametrize("text", ['"unterminated [[[', '{"a": "\\', "]]]]", "[}", "\ufeff[]"])
def test_broken_json_is_a_value_error_never_anything_else(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- json's own errors: any ValueError
        safe_json.loads(text)


def test_an_unterminated_string_of_escapes_is_scanned_in_linear_time() -> None:
    hostile = '"' + '\\"' * 200_000
    with pytest.raises(ValueError):  # noqa: PT011 -- json's own error
        safe_json.loads(hostile)


# --- the ingest API -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [b"Bearer test-token\xff", b"Bearer \xff\xfe", b"\xc3(", b"bearer \xe2\x82"]
)
async def test_authorization_that_is_not_utf8_is_401(
    client: Client, runtime: Runtime, value: bytes
) -> None:
    body = json.dumps(complaint()).encode()
    assert await raw_post(client, URL, [b"Authorization: " + value], body) == 401
    assert await stored_messages(runtime) == []


@pytest.mark.parametrize(
    "body",
    [
        deep_text(900),
        deep_object_text(900),
        with_raw(deep_object_text(900)),
        with_raw(json.dumps(nested(40))),
    ],
)
async def test_deeply_nested_json_is_a_400_that_says_so(
    client: Client, runtime: Runtime, body: str
) -> None:
    response = await client.post(URL, data=body.encode(), headers=AUTH)

    assert response.status == 400
    assert "nested deeper than 32" in (await response.json())["error"]
    assert await stored_messages(runtime) == []


async def test_nesting_within_the_cap_is_stored(client: Client, runtime: Runtime) -> None:
    body = complaint(raw={"x": nested(20)}, text="[[[[ not structure ]]]] {{{")
    response = await client.post(URL, json=body, headers=AUTH)

    assert response.status == 202
    [row] = await stored_messages(runtime)
    assert row.raw == {"x": nested(20)}


# --- received_at at the ends of the calendar ------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "9999-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+01:00",
        (START - timedelta(days=1, minutes=1)).isoformat(),
        (START + timedelta(days=1, minutes=1)).isoformat(),
    ],
)
async def test_received_at_far_from_now_is_replaced_by_now_and_kept_in_raw(
    client: Client, runtime: Runtime, clock: VirtualClock, given: str
) -> None:
    response = await client.post(URL, json=complaint(received_at=given), headers=AUTH)

    assert response.status == 202, await response.text()
    [row] = await stored_messages(runtime)
    assert row.received_at.astimezone(UTC) == clock.now()
    assert row.raw["given_received_at"] == given
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    async with runtime.sessions() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    assert START < ticket.ack_due.astimezone(UTC) < START + timedelta(days=30)
    assert START < ticket.resolve_due.astimezone(UTC) < START + timedelta(days=60)


@pytest.mark.parametrize("offset", [timedelta(hours=-23), timedelta(0), timedelta(hours=23)])
async def test_received_at_within_a_day_of_now_is_kept(
    client: Client, runtime: Runtime, offset: timedelta
) -> None:
    given = START + offset
    response = await client.post(URL, json=complaint(received_at=given.isoformat()), headers=AUTH)

    assert response.status == 202
    [row] = await stored_messages(runtime)
    assert row.received_at.astimezone(UTC) == given
    assert "given_received_at" not in row.raw


async def test_every_channel_gets_the_received_at_check_in_the_ingest(
    runtime: Runtime, clock: VirtualClock
) -> None:
    given = datetime(1970, 1, 1, tzinfo=UTC)
    message = InboundMessage(
        channel=Channel.TELEGRAM,
        external_id="1:1",
        sender="1",
        text="Inverter broken",
        received_at=given,
        raw={"update_id": 7},
    )
    await runtime.ingest.accept(message)

    [row] = await stored_messages(runtime)
    assert row.received_at.astimezone(UTC) == clock.now()
    assert row.raw == {"update_id": 7, "given_received_at": given.isoformat()}


# --- the moderation API ---------------------------------------------------------------------


TOO_BIG = str(2**63)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", f"/api/v1/moderation/items/{TOO_BIG}", 404),
        ("get", f"/api/v1/moderation/items/{10**40}", 404),
        ("get", "/api/v1/moderation/items/%C2%B2", 404),  # "²": isdigit() but not int()
        ("get", "/api/v1/moderation/items/%D9%A3", 404),  # Arabic-Indic three
        ("get", f"/api/v1/moderation/items/{2**63 - 1}", 404),
        ("post", f"/api/v1/moderation/items/{TOO_BIG}/release", 404),
        ("post", f"/api/v1/moderation/items/{TOO_BIG}/confirm", 404),
        ("post", f"/api/v1/moderation/items/{TOO_BIG}/block", 404),
        ("get", f"/api/v1/moderation/items?after={TOO_BIG}", 400),
        ("get", f"/api/v1/moderation/items?limit={TOO_BIG}", 400),
        ("get", "/api/v1/moderation/items?after=%C2%B2", 400),
    ],
)
async def test_ids_out_of_range_are_refused_not_a_crash(
    client: Client, runtime: Runtime, method: str, path: str, status: int
) -> None:
    moderator = await staff_token(runtime, Role.MODERATOR)
    response = await getattr(client, method)(path, json={"days": 1}, headers=moderator)

    assert response.status == status, await response.text()
    assert (await response.json())["error"]


async def test_the_largest_after_lists_nothing(client: Client, runtime: Runtime) -> None:
    moderator = await staff_token(runtime, Role.MODERATOR)
    response = await client.get(f"/api/v1/moderation/items?after={2**63 - 1}", headers=moderator)
    assert response.status == 200
    assert (await response.json())["items"] == []


@pytest.mark.parametrize(
    "ref", ["C-2026-000001\x00", "\x00", "C-2026-00000\udcff", "c-2026-0000011' OR 1=1"]
)
async def test_a_reference_with_nul_or_bad_bytes_is_no_ticket_not_a_crash(
    runtime: Runtime, ref: str
) -> None:
    async with runtime.sessions() as session:
        assert await lifecycle.by_ref(session, ref) is None
    allowance = await runtime.lookup.request_link(ref, "a@example.it", "127.0.0.1")
    assert allowance.allowed
