"""Meta's webhook and senders: Messenger, Instagram and WhatsApp, against a local Graph API.

Payloads have the shapes Meta documents (messages, message_echoes,
message_deliveries, message_reads; Instagram messaging; WhatsApp `messages`
changes with contacts and statuses) and are signed with the app secret like
Meta signs them. Flows that store run on both backends (the `runtime` fixture);
parsing and the senders' mapping of Graph answers run without a store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import (
    HUMAN_AGENT_CHANNELS,
    Accepted,
    Channel,
    Decision,
    InboundMessage,
    OutboundReply,
)
from bot.store.models import TicketEvent
from channels.meta import PATH, MetaConfig, parse, plug, safe_name, signature_of
from channels.meta_send import (
    GraphClient,
    MessengerSender,
    WhatsAppSender,
    human_agent_allowed,
    split_text,
)
from tests.conftest import START
from tests.fakes.graph_api import PHONE_NUMBER_ID, TOKEN, FakeGraphApi, running_graph_api
from tests.helpers import outbox_rows, stored_messages

SECRET = "meta-app-secret-for-tests"
VERIFY = "verify-token-for-tests"
PAGE_ID = "682498302938465"
PSID = "6783451290451234"
IG_ID = "17841405822304914"
IGSID = "5270187416352071"
WA_FROM = "393471234567"
SENT_AT = START - timedelta(minutes=5)
LIMIT = 256 * 1024  # the default max_body_bytes

Client = TestClient[web.Request, web.Application]


# --- payloads as Meta sends them -----------------------------------------------------------------


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def dm(
    mid: str,
    text: str = "My inverter SUN-5K-G03 shows error F23.",
    sender: str = PSID,
    recipient: str = PAGE_ID,
    at: datetime = SENT_AT,
    **message: Any,
) -> dict[str, Any]:
    """One `messaging` event of a customer's message (Messenger and Instagram alike)."""
    body: dict[str, Any] = {"mid": mid, **message}
    if text:
        body["text"] = text
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": epoch_ms(at),
        "message": body,
    }


def echo(mid: str) -> dict[str, Any]:
    return {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": epoch_ms(SENT_AT),
        "message": {
            "is_echo": True,
            "app_id": 1517776481860111,
            "mid": mid,
            "text": "Thank you, we received your complaint.",
        },
    }


def delivery() -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "delivery": {
            "mids": ["mid.1458668856218:ed81099e15d3f4f233"],
            "watermark": epoch_ms(SENT_AT),
        },
    }


def read() -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": epoch_ms(SENT_AT),
        "read": {"watermark": epoch_ms(SENT_AT)},
    }


def entry(*events: dict[str, Any], page: str = PAGE_ID) -> dict[str, Any]:
    return {"id": page, "time": epoch_ms(SENT_AT), "messaging": list(events)}


def page(*entries: dict[str, Any], kind: str = "page") -> dict[str, Any]:
    return {"object": kind, "entry": list(entries)}


def wa_text(
    wamid: str,
    body: str = "Il mio inverter SUN-5K-G03 non funziona, errore F23.",
    sender: str = WA_FROM,
) -> dict[str, Any]:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(int(SENT_AT.timestamp())),
        "type": "text",
        "text": {"body": body},
    }


def whatsapp(
    *messages: dict[str, Any],
    name: str = "Giulia Bianchi",
    statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": WA_FROM}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def wa_status(wamid: str, status: str) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(int(SENT_AT.timestamp())),
        "recipient_id": WA_FROM,
        "conversation": {"id": "f5fdae3920125a39a1e6a23e5f877c16", "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
    }


# --- fixtures and helpers ------------------------------------------------------------------------


def config(graph_url: str, **changes: Any) -> MetaConfig:
    values: dict[str, Any] = {
        "app_secret": SECRET,
        "verify_token": VERIFY,
        "access_token": TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "graph_api_url": graph_url,
    }
    return MetaConfig(**{**values, **changes})


@pytest.fixture
async def graph() -> AsyncIterator[tuple[FakeGraphApi, str]]:
    async with running_graph_api() as running:
        yield running


@pytest.fixture
def fake(graph: tuple[FakeGraphApi, str]) -> FakeGraphApi:
    return graph[0]


@pytest.fixture
async def client(
    runtime: Runtime, graph: tuple[FakeGraphApi, str], clock: VirtualClock
) -> AsyncIterator[Client]:
    meta = plug(config(graph[1], now=clock.now), runtime.ingest)
    async with TestClient(TestServer(make_app(runtime, plugs=[meta]))) as test_client:
        yield test_client


async def post(
    client: Client, payload: Any, *, secret: str = SECRET, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST the payload (a dict as JSON, or bytes as they are) signed with `secret`."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_of(secret, body)}
    response = await client.post(PATH, data=body, headers=sent if headers is None else headers)
    answer = await response.json()
    assert isinstance(answer, dict)
    return response.status, answer


async def assert_nothing_written(runtime: Runtime) -> None:
    assert await stored_messages(runtime) == []
    assert await runtime.redis.xlen(runtime.keys.stream) == 0


# --- core flows, both backends -------------------------------------------------------------------


async def test_messenger_message_is_stored_then_acknowledged_through_the_send_api(
    client: Client, runtime: Runtime, fake: FakeGraphApi
) -> None:
    status, answer = await post(client, page(entry(dm("m_AG5Hz2Uq7tuwNEhX"))))

    assert (status, answer["stored"], answer["duplicates"]) == (200, 1, 0)
    [row] = await stored_messages(runtime)
    assert (row.channel, row.external_id, row.sender) == ("facebook", "m_AG5Hz2Uq7tuwNEhX", PSID)
    assert row.received_at == SENT_AT
    assert row.raw["message"]["mid"] == "m_AG5Hz2Uq7tuwNEhX"  # the event, not the batch
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED

    assert await runtime.sender.run_once() == 1

    [call] = fake.calls
    assert (call.node, call.token, call.accepted) == ("me", TOKEN, True)
    assert call.body["recipient"] == {"id": PSID}
    assert call.body["messaging_type"] == "RESPONSE"
    assert outcome.ticket_ref is not None
    assert outcome.ticket_ref in call.body["message"]["text"]
    [reply] = await outbox_rows(runtime)
    assert (reply.status, reply.provider_id) == ("sent", "m_FAKE000001")


async def test_instagram_message_with_attachment_is_answered_through_the_send_api(
    client: Client, runtime: Runtime, fake: FakeGraphApi
) -> None:
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1789&signature=AbC"
    event = dm(
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE",
        sender=IGSID,
        recipient=IG_ID,
        attachments=[{"type": "image", "payload": {"url": url}}],
    )

    status, _ = await post(client, page(entry(event, page=IG_ID), kind="instagram"))

    assert status == 200
    [row] = await stored_messages(runtime)
    assert (row.channel, row.sender) == ("instagram", IGSID)
    assert row.attachments == [{"filename": "", "content_type": "image/*", "size": 0, "url": url}]
    [outcome] = await runtime.worker.drain()
    assert await runtime.sender.run_once() == 1
    [call] = fake.sent
    assert call.body["recipient"] == {"id": IGSID}
    assert str(outcome.ticket_ref) in call.body["message"]["text"]


async def test_whatsapp_is_closed_by_default_so_its_message_is_stored_and_not_answered(
    client: Client, runtime: Runtime, fake: FakeGraphApi
) -> None:
    payload = whatsapp(
        wa_text("wamid.HBgLMzkzNDcxMjM0NTY3FQIAEhgg"),
        name="Giulia\x1b[31m \u202eBianchi\r\nX-Injected: 1",
    )

    status, answer = await post(client, payload)

    assert (status, answer["stored"]) == (200, 1)
    [row] = await stored_messages(runtime)
    assert (row.channel, row.sender) == ("whatsapp", WA_FROM)
    assert row.display_name == "Giulia [31m Bianchi X-Injected: 1"
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.CHANNEL_CLOSED
    assert await runtime.sender.run_once() == 0
    assert fake.calls == []


async def test_whatsapp_opened_by_policy_is_answered_through_the_whatsapp_api(
    client: Client, runtime: Runtime, fake: FakeGraphApi
) -> None:
    await runtime.policy.set_channel("whatsapp", accepted=True, actor="admin")

    await post(client, whatsapp(wa_text("wamid.HBgLMzkzNDcxMjM0NTY3FQIAEhgh")))
    [outcome] = await runtime.worker.drain()
    assert await runtime.sender.run_once() == 1

    assert outcome.decision is Decision.ANSWERED
    [call] = fake.sent
    assert (call.node, call.token) == (PHONE_NUMBER_ID, TOKEN)
    assert {k: call.body[k] for k in ("messaging_product", "to", "type")} == {
        "messaging_product": "whatsapp",
        "to": WA_FROM,
        "type": "text",
    }
    assert str(outcome.ticket_ref) in call.body["text"]["body"]
    [reply] = await outbox_rows(runtime)
    assert (reply.status, reply.provider_id) == ("sent", "wamid.HBgLFAKE000001")


async def test_reply_after_the_24_hour_window_goes_again_with_the_human_agent_tag(
    client: Client, runtime: Runtime, fake: FakeGraphApi, clock: VirtualClock
) -> None:
    await post(client, page(entry(dm("m_window_1"))))
    await runtime.worker.drain()
    clock.set(SENT_AT + timedelta(hours=24, minutes=1))

    assert await runtime.sender.run_once() == 1  # refused by the window, without a call
    assert fake.calls == []
    [routed] = await outbox_rows(runtime)
    assert (routed.status, routed.human_agent) == ("pending", True)
    assert await runtime.sender.run_once() == 1

    [call] = fake.sent
    assert (call.body["messaging_type"], call.body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    [reply] = await outbox_rows(runtime)
    assert (reply.status, reply.channel) == ("sent", "facebook")


async def test_reply_past_the_human_agent_week_needs_another_channel_and_is_noted(
    client: Client, runtime: Runtime, fake: FakeGraphApi, clock: VirtualClock
) -> None:
    await post(client, page(entry(dm("m_window_2"))))
    [outcome] = await runtime.worker.drain()
    clock.set(SENT_AT + timedelta(days=7, minutes=1))

    await runtime.sender.run_once()
    await runtime.sender.run_once()

    assert fake.calls == []
    [reply] = await outbox_rows(runtime)
    assert reply.status == "needs_other_channel"
    assert "outside the 24-hour messaging window" in (reply.last_error or "")
    assert await runtime.sender.counts() == {"needs_other_channel": 1, "failed": 0, "uncertain": 0}
    async with runtime.sessions() as session:
        notes = list(
            await session.scalars(
                select(TicketEvent.note).where(TicketEvent.ticket_id == outcome.ticket_id)
            )
        )
    assert any("needs another channel" in note for note in notes)


async def test_batch_stores_every_customer_message_and_ignores_echoes_and_receipts(
    client: Client, runtime: Runtime
) -> None:
    other = "7012345678901234"
    feed = {"id": PAGE_ID, "time": 1, "changes": [{"field": "feed", "value": {"item": "post"}}]}
    payload = page(
        entry(dm("m_1", "first"), echo("m_echo"), delivery(), read(), dm("m_2", "second")),
        entry(dm("m_3", "from another customer", sender=other), read()),
        feed,
    )
    statuses = [wa_status("wamid.OURS", s) for s in ("sent", "delivered", "read")]

    status, answer = await post(client, payload)
    wa_status_code, wa_answer = await post(client, whatsapp(statuses=statuses))

    assert (status, answer["stored"], answer["ignored"], answer["problems"]) == (200, 3, 5, [])
    assert (wa_status_code, wa_answer["stored"], wa_answer["ignored"]) == (200, 0, 3)
    rows = await stored_messages(runtime)
    assert [(r.external_id, r.sender, r.text) for r in rows] == [
        ("m_1", PSID, "first"),
        ("m_2", PSID, "second"),
        ("m_3", other, "from another customer"),
    ]
    assert await runtime.redis.xlen(runtime.keys.stream) == 3


async def test_replayed_webhook_is_stored_once_and_answered_once(
    client: Client, runtime: Runtime, fake: FakeGraphApi
) -> None:
    payload = page(entry(dm("m_replayed")))

    first = await post(client, payload)
    await runtime.worker.drain()
    second = await post(client, payload)
    await runtime.worker.drain()
    await runtime.sender.run_once()
    third = await post(client, payload)

    assert [(s, a["stored"], a["duplicates"]) for s, a in (first, second, third)] == [
        (200, 1, 0),
        (200, 0, 1),
        (200, 0, 1),
    ]
    assert len(await stored_messages(runtime)) == 1
    assert await runtime.worker.drain() == []
    assert await runtime.sender.run_once() == 0
    assert len(fake.sent) == 1


async def test_forged_or_missing_signatures_are_refused_and_store_nothing(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    body = json.dumps(page(entry(dm("m_forged")))).encode()
    other = json.dumps(page(entry(dm("m_other")))).encode()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    cases = {
        "missing": ({}, 401),
        "empty": ({"X-Hub-Signature-256": ""}, 401),
        "wrong secret": ({"X-Hub-Signature-256": signature_of("not-the-secret", body)}, 403),
        "over another body": ({"X-Hub-Signature-256": signature_of(SECRET, other)}, 403),
        "sha1 only": ({"X-Hub-Signature": sha1}, 401),
        "sha1 in the sha256 header": ({"X-Hub-Signature-256": sha1}, 403),
        "bare hex": ({"X-Hub-Signature-256": signature_of(SECRET, body)[7:]}, 403),
        "truncated": ({"X-Hub-Signature-256": signature_of(SECRET, body)[:-2]}, 403),
        "not hex": ({"X-Hub-Signature-256": "sha256=" + "zz" * 32}, 403),
    }
    for case, (headers, expected) in cases.items():
        with subtests.test(case):
            status, answer = await post(client, body, headers=headers)

            assert status == expected
            assert "X-Hub-Signature-256" in answer["error"]
            await assert_nothing_written(runtime)


async def test_signed_payloads_of_the_wrong_shape_are_200_with_nothing_stored(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    cases: dict[str, Any] = {
        "array": [page(entry(dm("m_x")))],
        "no entry": {"object": "page"},
        "entry not a list": {"object": "page", "entry": {"id": PAGE_ID}},
        "unknown object": page(entry(dm("m_x")), kind="user"),
        "entry without messaging": page({"id": PAGE_ID, "time": 1}),
        "messaging not a list": page({"id": PAGE_ID, "messaging": dm("m_x")}),
        "event not an object": page(entry("m_x")),  # type: ignore[arg-type]
        "message without mid": page(entry(dm(""))),
        "sender missing": page(entry({**dm("m_x"), "sender": {}})),
        "sender with a newline": page(entry(dm("m_x", sender="123\r\nX-Evil: 1"))),
        "mid with a space": page(entry(dm("m_x y"))),
        "attachments not a list": page(entry(dm("m_x", attachments={"type": "image"}))),
        "whatsapp without changes": {"object": "whatsapp_business_account", "entry": [{"id": "1"}]},
        "whatsapp value not an object": {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": "text"}]}],
        },
        "whatsapp from not a phone": whatsapp(wa_text("wamid.X", sender="not-a-number")),
    }
    for case, payload in cases.items():
        with subtests.test(case):
            status, answer = await post(client, payload)

            assert status == 200, answer
            assert answer["stored"] == 0
            assert answer["problems"], "a skipped payload names its problem"
            await assert_nothing_written(runtime)


async def test_a_malformed_event_does_not_lose_the_good_ones_beside_it(
    client: Client, runtime: Runtime
) -> None:
    payload = page(
        entry(dm("m_good_1"), {"sender": {"id": PSID}, "message": []}, dm("m_good_2")),
        {"id": PAGE_ID, "messaging": "nonsense"},
    )

    status, answer = await post(client, payload)

    assert (status, answer["stored"], len(answer["problems"])) == (200, 2, 2)
    assert [r.external_id for r in await stored_messages(runtime)] == ["m_good_1", "m_good_2"]


async def test_unparseable_or_oversized_bodies_are_refused(
    client: Client, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    cases = {
        "not JSON": (b"object=page&entry=1", 400),
        "truncated JSON": (json.dumps(page(entry(dm("m_x")))).encode()[:-5], 400),
        "invalid UTF-8": (b'{"object": "page\xff\xfe"}', 400),
        "nested too deep": (b"[" * 100_000 + b"]" * 100_000, 400),
        # Signed and shaped right, but deeper than any event (JSON depth is capped at 32).
        "nested deeper than the cap": (
            json.dumps(page(entry(dm("m_x", deep=json.loads("[" * 600 + "]" * 600))))).encode(),
            400,
        ),
        "over the size limit": (b'{"object": "page", "pad": "' + b"p" * LIMIT + b'"}', 413),
    }
    for case, (body, expected) in cases.items():
        with subtests.test(case):
            status, answer = await post(client, body)

            assert status == expected
            assert answer["error"]
            await assert_nothing_written(runtime)


async def test_store_failure_answers_503_and_meta_redelivery_then_stores_it(
    client: Client, runtime: Runtime
) -> None:
    payload = page(entry(dm("m_store_down")))
    async with runtime.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE messages RENAME TO messages_away"))
    try:
        status, answer = await post(client, payload)
    finally:
        async with runtime.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE messages_away RENAME TO messages"))
    await runtime.engine.dispose()  # PostgreSQL's cached statements name the old table

    again, stored_answer = await post(client, payload)

    assert (status, "unavailable" in answer["error"]) == (503, True)
    assert (again, stored_answer["stored"]) == (200, 1)
    assert [r.external_id for r in await stored_messages(runtime)] == ["m_store_down"]


# --- handshake, configuration --------------------------------------------------------------------


async def test_subscription_handshake_echoes_the_challenge_only_for_our_verify_token(
    graph: tuple[FakeGraphApi, str],
) -> None:
    app = web.Application()
    app.router.add_routes(plug(config(graph[1]), _NoStore()).routes)
    async with TestClient(TestServer(app)) as client:
        good = await client.get(
            PATH,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY,
                "hub.challenge": "1158201444",
            },
        )
        wrong = await client.get(
            PATH,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": "guess",
                "hub.challenge": "1158201444",
            },
        )
        no_mode = await client.get(PATH, params={"hub.verify_token": VERIFY, "hub.challenge": "1"})

        assert (good.status, await good.text(), good.content_type) == (
            200,
            "1158201444",
            "text/plain",
        )
        assert wrong.status == 403
        assert "1158201444" not in await wrong.text()
        assert no_mode.status == 400


async def test_without_an_app_secret_the_webhook_answers_503_and_nothing_is_sent(
    graph: tuple[FakeGraphApi, str],
) -> None:
    sink = _NoStore()
    meta = plug(config(graph[1], app_secret=""), sink)
    app = web.Application()
    app.router.add_routes(meta.routes)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(PATH, json=page(entry(dm("m_x"))))
        handshake = await client.get(PATH, params={"hub.mode": "subscribe"})

        assert response.status == 503
        assert "INTAKE_META_APP_SECRET" in (await response.json())["error"]
        assert handshake.status == 503
    assert "INTAKE_META_APP_SECRET" in meta.status
    assert meta.senders == {}
    assert sink.accepted == []


def test_without_an_access_token_it_receives_but_has_no_senders() -> None:
    meta = plug(config("http://127.0.0.1:9", access_token=""), _NoStore())

    assert "INTAKE_META_ACCESS_TOKEN" in meta.status
    assert meta.senders == {}
    assert meta.routes


def test_without_a_phone_number_id_whatsapp_has_no_sender() -> None:
    meta = plug(config("http://127.0.0.1:9", whatsapp_phone_number_id=""), _NoStore())

    assert set(meta.senders) == {Channel.FACEBOOK, Channel.INSTAGRAM}
    assert "INTAKE_WHATSAPP_PHONE_NUMBER_ID" in meta.status


class _NoStore:
    """A sink for the tests above that must never reach one: it records what it is given."""

    def __init__(self) -> None:
        self.accepted: list[InboundMessage] = []

    async def accept(self, msg: InboundMessage) -> Accepted:
        self.accepted.append(msg)
        raise AssertionError("nothing should have been stored")


# --- parsing (no store) --------------------------------------------------------------------------


GRAPH = "https://graph.facebook.com/v21.0"


def test_whatsapp_media_becomes_attachment_metadata_with_its_caption_as_text() -> None:
    image = {
        "from": WA_FROM,
        "id": "wamid.IMG",
        "timestamp": "1762070100",
        "type": "image",
        "image": {
            "caption": "Targhetta del SUN-5K-G03",
            "mime_type": "image/jpeg",
            "sha256": "81d3bd8a8db4868c9520ed47186e8b7c",
            "id": "2754859441498128",
        },
    }
    document = {
        "from": f"+{WA_FROM}",
        "id": "wamid.DOC",
        "timestamp": "1762070101",
        "type": "document",
        "document": {
            "filename": "fattura.pdf",
            "mime_type": "application/pdf",
            "sha256": "abc",
            "id": "1003383421387256",
        },
    }

    batch = parse(whatsapp(image, document), GRAPH, START)

    first, second = batch.messages
    assert (first.text, first.sender, first.display_name) == (
        "Targhetta del SUN-5K-G03",
        WA_FROM,
        "Giulia Bianchi",
    )
    assert first.received_at == datetime(2025, 11, 2, 7, 55, tzinfo=UTC)
    assert first.attachments[0].model_dump() == {
        "filename": "",
        "content_type": "image/jpeg",
        "size": 0,
        "url": f"{GRAPH}/2754859441498128",
    }
    assert second.sender == WA_FROM  # "+39..." stored as digits, like the identity
    assert (second.attachments[0].filename, second.attachments[0].content_type) == (
        "fattura.pdf",
        "application/pdf",
    )


def test_whatsapp_buttons_locations_and_reactions() -> None:
    base = {"from": WA_FROM, "timestamp": "1762070100"}
    button = {
        **base,
        "id": "wamid.B",
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "status", "title": "Stato pratica"},
        },
    }
    where = {
        **base,
        "id": "wamid.L",
        "type": "location",
        "location": {
            "latitude": 45.46,
            "longitude": 9.19,
            "name": "Magazzino",
            "address": "Via Roma 1",
        },
    }
    reaction = {
        **base,
        "id": "wamid.R",
        "type": "reaction",
        "reaction": {"message_id": "wamid.B", "emoji": "\U0001f44d"},
    }

    batch = parse(whatsapp(button, where, reaction), GRAPH, START)

    assert [m.text for m in batch.messages] == [
        "Stato pratica",
        "Magazzino - Via Roma 1 - 45.46, 9.19",
    ]
    assert batch.ignored == 1


def test_messenger_attachments_edits_and_standby() -> None:
    url = "https://scontent.xx.fbcdn.net/v/t1.15752-9/123_n.jpg?_nc_cat=1&oh=abc"
    photo = dm(
        "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c",
        "",
        attachments=[
            {"type": "image", "payload": {"url": url}},
            {"type": "file", "payload": {"url": "x" * 3000}},
            {"type": "fallback", "payload": None},
        ],
    )
    edit = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": epoch_ms(SENT_AT),
        "message_edit": {
            "mid": "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c",
            "text": "now with text",
            "num_edit": 2,
        },
    }
    standby = {"id": PAGE_ID, "time": 1, "standby": [dm("m_standby", "handled by a human")]}

    batch = parse(page(entry(photo, edit), standby), GRAPH, START)

    first, edited, held = batch.messages
    assert [(a.filename, a.content_type, a.url) for a in first.attachments] == [
        ("123_n.jpg", "image/*", url),
        ("", "application/x-meta-file", ""),
        ("", "application/x-meta-fallback", ""),
    ]
    assert first.external_id == "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c"
    assert (edited.external_id, edited.edit_of, edited.text) == (
        f"{first.external_id}#edit2",
        first.external_id,
        "now with text",
    )
    assert "standby" in held.automated
    assert first.automated == edited.automated == ""


def test_instagram_echoes_unsent_messages_reactions_and_seen_events_are_not_messages() -> None:
    ig_echo = dm("aWdfZAG1_echo", sender=IG_ID, recipient=IGSID, is_echo=True)
    unsent = dm("aWdfZAG1_unsent", "", sender=IGSID, recipient=IG_ID, is_deleted=True)
    reaction = {
        "sender": {"id": IGSID},
        "recipient": {"id": IG_ID},
        "timestamp": 1,
        "reaction": {"mid": "aWdfZAG1_x", "action": "react", "reaction": "love", "emoji": "\u2764"},
    }
    seen = {
        "sender": {"id": IGSID},
        "recipient": {"id": IG_ID},
        "timestamp": 1,
        "read": {"mid": "aWdfZAG1_x"},
    }

    batch = parse(
        page(entry(ig_echo, unsent, reaction, seen, page=IG_ID), kind="instagram"), GRAPH, START
    )

    assert (batch.messages, batch.ignored, batch.problems) == ([], 4, [])


def test_unreadable_timestamp_falls_back_to_the_arrival_time() -> None:
    event = {**dm("m_t"), "timestamp": "yesterday"}

    [message] = parse(page(entry(event)), GRAPH, START).messages

    assert message.received_at == START


def test_display_names_lose_control_and_bidi_characters() -> None:
    assert safe_name("Anna\x00\x07 Rossi\u202e\u2066\n\tX") == "Anna Rossi X"
    assert safe_name("\U0001f469\u200d\U0001f527 Li") == "\U0001f469\u200d\U0001f527 Li"
    assert safe_name(None) == ""
    assert len(safe_name("a" * 500)) == 200


# --- senders against the fake Graph API (no store) ----------------------------------------------


def reply(
    channel: Channel = Channel.FACEBOOK,
    text: str = "We received your complaint C-1.",
    to: str = PSID,
    last: datetime | None = START,
    *,
    human_agent: bool = False,
) -> OutboundReply:
    return OutboundReply(
        outbox_id=1,
        channel=channel,
        to=to,
        text=text,
        language="en",
        ticket_ref="C-1",
        last_inbound_at=last,
        human_agent=human_agent,
    )


@pytest.fixture
async def graph_client(graph: tuple[FakeGraphApi, str]) -> AsyncIterator[GraphClient]:
    client = GraphClient(graph[1], TOKEN, 5.0)
    yield client
    await client.close()


@pytest.fixture
def messenger(graph_client: GraphClient) -> MessengerSender:
    return MessengerSender(Channel.FACEBOOK, graph_client, lambda: START)


@pytest.fixture
def instagram(graph_client: GraphClient) -> MessengerSender:
    return MessengerSender(Channel.INSTAGRAM, graph_client, lambda: START)


@pytest.fixture
def whatsapp_sender(graph_client: GraphClient) -> WhatsAppSender:
    return WhatsAppSender(graph_client, PHONE_NUMBER_ID, lambda: START)


async def test_graph_errors_map_to_retry_delay_permanent_or_retryable(
    fake: FakeGraphApi, messenger: MessengerSender, subtests: pytest.Subtests
) -> None:
    usage = json.dumps(
        {PAGE_ID: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    )
    cases: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        (
            "613 rate limit",
            (400, 613, "Calls to this api have exceeded the rate limit."),
            {"retry_after": 60.0, "permanent": False},
        ),
        (
            "429 with Retry-After",
            (429, 4, "Application request limit reached"),
            {"retry_after": 120.0, "permanent": False},
        ),
        (
            "page rate limit with usage header",
            (400, 32, "Page request limit reached"),
            {"retry_after": 420.0, "permanent": False},
        ),
        (
            "outside the window",
            (400, 10, "(#10) This message is sent outside of allowed window."),
            {"permanent": True, "retry_after": None},
        ),
        (
            "person unavailable",
            (400, 551, "This person isn't available right now."),
            {"permanent": True},
        ),
        (
            "server error",
            (500, 2, "An unexpected error has occurred. Please retry later."),
            {"permanent": False, "retry_after": None},
        ),
        ("bad request", (400, 100, "(#100) Invalid parameter"), {"permanent": True}),
    ]
    headers = {
        "429 with Retry-After": {"Retry-After": "120"},
        "page rate limit with usage header": {"X-Business-Use-Case-Usage": usage},
    }
    subcodes = {"outside the window": 2018278}
    for case, (status, code, message), expected in cases:
        with subtests.test(case):
            fake.fail_next(status, code, message, subcodes.get(case), headers.get(case))

            result = await messenger.send(reply())

            assert not result.ok
            assert f"error {code}" in str(result.error)
            assert {k: getattr(result, k) for k in expected} == expected
            if case == "outside the window":
                assert "outside the 24-hour messaging window" in str(result.error)


async def test_a_wrong_access_token_is_permanent(graph: tuple[FakeGraphApi, str]) -> None:
    client = GraphClient(graph[1], "expired-token", 5.0)
    try:
        result = await MessengerSender(Channel.FACEBOOK, client, lambda: START).send(reply())
    finally:
        await client.close()

    assert (result.ok, result.permanent) == (False, True)
    assert "error 190" in str(result.error)


async def test_an_unreachable_graph_api_is_retried_later() -> None:
    client = GraphClient("http://127.0.0.1:9/v21.0", TOKEN, 5.0)  # port 9: discard, closed
    try:
        result = await MessengerSender(Channel.FACEBOOK, client, lambda: START).send(reply())
    finally:
        await client.close()

    assert (result.ok, result.permanent) == (False, False)
    assert "cannot reach" in str(result.error)


async def test_window_is_checked_before_any_call(
    fake: FakeGraphApi, messenger: MessengerSender
) -> None:
    never = await messenger.send(reply(last=None))
    stale = await messenger.send(reply(last=START - timedelta(hours=30)))
    just_in = await messenger.send(reply(last=START - timedelta(hours=23, minutes=59)))

    assert (never.permanent, stale.permanent) == (True, True)
    assert "30 hours ago" in str(stale.error)
    assert just_in.ok
    assert len(fake.calls) == 1


async def test_long_replies_go_in_parts_within_each_channel_limit(
    graph: tuple[FakeGraphApi, str],
) -> None:
    fake, url = graph
    client = GraphClient(url, TOKEN, 5.0)
    paragraph = "Il nostro tecnico la contatterà entro due giorni lavorativi. " * 20
    try:
        sent_ig = await MessengerSender(Channel.INSTAGRAM, client, lambda: START).send(
            reply(Channel.INSTAGRAM, "\n".join([paragraph] * 3), to=IGSID)
        )
        sent_wa = await WhatsAppSender(client, PHONE_NUMBER_ID, lambda: START).send(
            reply(Channel.WHATSAPP, "ok", to=WA_FROM)
        )
    finally:
        await client.close()

    assert sent_ig.ok
    assert sent_wa.provider_id is not None
    ig_texts = [c.body["message"]["text"] for c in fake.sent if c.node == "me"]
    assert len(ig_texts) > 3
    assert all(len(t.encode()) <= 1000 for t in ig_texts)
    assert " ".join(ig_texts).split() == "\n".join([paragraph] * 3).split()


async def test_a_failure_after_the_first_part_is_permanent_so_no_part_repeats(
    fake: FakeGraphApi, messenger: MessengerSender
) -> None:
    long_text = ("word " * 450).strip()  # two parts of at most 2,000 characters
    fake.pass_next()
    fake.fail_next(500, 2, "An unexpected error has occurred. Please retry your request later.")

    result = await messenger.send(reply(text=long_text))

    assert (result.ok, result.permanent) == (False, True)
    assert "part 2 of 2" in str(result.error)
    assert [c.accepted for c in fake.calls] == [True, False]


def test_split_text_cuts_at_lines_then_words_then_characters() -> None:
    assert split_text("short", 10) == ["short"]
    assert split_text("one two three four", 9) == ["one two", "three", "four"]
    assert split_text("line one\nline two", 12) == ["line one", "line two"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert all(
        len(p.encode()) <= 8 for p in split_text("\u00e8" * 20, 8, lambda s: len(s.encode()))
    )


# --- closed windows and Meta's HUMAN_AGENT tag ---------------------------------------------------


async def test_every_closed_window_refusal_says_window_closed_and_others_do_not(
    fake: FakeGraphApi,
    messenger: MessengerSender,
    whatsapp_sender: WhatsAppSender,
    subtests: pytest.Subtests,
) -> None:
    outside = "(#10) This message is sent outside of allowed window."
    wa_outside = (
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number."
    )
    graph_window_errors = {
        "messenger 10/2018278": (messenger, (400, 10, outside, 2018278)),
        "messenger 10/2534022": (messenger, (400, 10, outside, 2534022)),
        "whatsapp 131047": (whatsapp_sender, (400, 131047, wa_outside, None)),
    }
    with subtests.test("local refusal, before any call"):
        never = await messenger.send(reply(last=None))
        stale = await messenger.send(reply(last=START - timedelta(hours=25)))

        assert [(r.ok, r.permanent, r.window_closed) for r in (never, stale)] == [
            (False, True, True)
        ] * 2
        assert fake.calls == []
    for case, (sender, (status, code, message, subcode)) in graph_window_errors.items():
        with subtests.test(case):
            fake.fail_next(status, code, message, subcode)
            to = WA_FROM if sender is whatsapp_sender else PSID

            result = await sender.send(reply(sender.channel, to=to))

            assert (result.ok, result.permanent, result.window_closed) == (False, True, True)
            assert "outside the 24-hour messaging window" in str(result.error)
            assert f"error {code}/{subcode}" in str(result.error)
    with subtests.test("other permanent errors are not a closed window"):
        fake.fail_next(400, 10, "(#10) Requires pages_messaging permission to manage the object")
        fake.fail_next(400, 551, "This person isn't available right now.")

        results = [await messenger.send(reply()) for _ in range(2)]

        assert [(r.ok, r.permanent, r.window_closed) for r in results] == [(False, True, False)] * 2


def test_human_agent_is_allowed_on_messenger_and_instagram_for_7_days_only() -> None:
    edge = START - timedelta(days=7)

    assert {c for c in Channel if human_agent_allowed(c, START, START)} == HUMAN_AGENT_CHANNELS
    assert human_agent_allowed(Channel.FACEBOOK, edge, START)
    assert human_agent_allowed(Channel.INSTAGRAM, START - timedelta(days=3), START)
    assert not human_agent_allowed(Channel.FACEBOOK, edge - timedelta(seconds=1), START)
    assert not human_agent_allowed(Channel.FACEBOOK, None, START)
    assert not human_agent_allowed(Channel.WHATSAPP, START - timedelta(hours=1), START)
    assert not human_agent_allowed(Channel.TELEGRAM, START - timedelta(hours=1), START)


async def test_human_agent_reply_inside_24_hours_is_a_plain_response(
    fake: FakeGraphApi, messenger: MessengerSender
) -> None:
    result = await messenger.send(reply(last=START - timedelta(hours=2), human_agent=True))

    assert result.ok
    [call] = fake.sent
    assert call.body["messaging_type"] == "RESPONSE"
    assert "tag" not in call.body


async def test_human_agent_reply_after_24_hours_goes_with_the_human_agent_tag(
    fake: FakeGraphApi, messenger: MessengerSender, instagram: MessengerSender
) -> None:
    three_days = START - timedelta(days=3)

    sent_fb = await messenger.send(reply(last=three_days, human_agent=True))
    sent_ig = await instagram.send(
        reply(Channel.INSTAGRAM, to=IGSID, last=three_days, human_agent=True)
    )
    untagged = await messenger.send(reply(last=three_days))

    assert (sent_fb.ok, sent_fb.provider_id) == (True, "m_FAKE000001")
    assert (sent_ig.ok, sent_ig.provider_id) == (True, "m_FAKE000002")
    assert [(c.body["recipient"], c.body["messaging_type"], c.body["tag"]) for c in fake.sent] == [
        ({"id": PSID}, "MESSAGE_TAG", "HUMAN_AGENT"),
        ({"id": IGSID}, "MESSAGE_TAG", "HUMAN_AGENT"),
    ]
    assert (untagged.ok, untagged.window_closed) == (False, True)  # the tag is asked, not assumed


async def test_human_agent_reply_after_7_days_is_refused_without_a_call(
    fake: FakeGraphApi, messenger: MessengerSender
) -> None:
    late = await messenger.send(reply(last=START - timedelta(days=7, minutes=1), human_agent=True))
    never = await messenger.send(reply(last=None, human_agent=True))

    for result in (late, never):
        assert (result.ok, result.permanent, result.window_closed) == (False, True, True)
        assert "7-day human-agent window is closed too" in str(result.error)
    assert "no message from this customer on record" in str(never.error)
    assert fake.calls == []


async def test_tagged_reply_refused_by_graph_still_says_window_closed(
    fake: FakeGraphApi, messenger: MessengerSender
) -> None:
    fake.fail_next(400, 10, "(#10) This message is sent outside of allowed window.", 2018278)

    result = await messenger.send(reply(last=START - timedelta(days=2), human_agent=True))

    assert (result.ok, result.permanent, result.window_closed) == (False, True, True)
    [call] = fake.calls
    assert (call.body["messaging_type"], call.body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


async def test_whatsapp_ignores_human_agent_and_keeps_its_24_hour_window(
    fake: FakeGraphApi, whatsapp_sender: WhatsAppSender
) -> None:
    late = await whatsapp_sender.send(
        reply(Channel.WHATSAPP, to=WA_FROM, last=START - timedelta(hours=30), human_agent=True)
    )
    fresh = await whatsapp_sender.send(
        reply(Channel.WHATSAPP, to=WA_FROM, last=START - timedelta(hours=1), human_agent=True)
    )

    assert (late.ok, late.permanent, late.window_closed) == (False, True, True)
    assert "outside the 24-hour messaging window (the customer last wrote 30" in str(late.error)
    assert fresh.ok
    [call] = fake.calls
    assert "tag" not in call.body
    assert "messaging_type" not in call.body


async def test_every_part_of_a_long_human_agent_reply_carries_the_tag(
    fake: FakeGraphApi, instagram: MessengerSender
) -> None:
    paragraph = "Il nostro tecnico la contatterà entro due giorni lavorativi. " * 20
    text = "\n".join([paragraph] * 3)

    result = await instagram.send(
        reply(Channel.INSTAGRAM, text, to=IGSID, last=START - timedelta(days=5), human_agent=True)
    )

    assert result.ok
    assert len(fake.sent) > 3
    assert all(
        (c.body["messaging_type"], c.body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
        for c in fake.sent
    )
    assert " ".join(c.body["message"]["text"] for c in fake.sent).split() == text.split()
