"""The contact form over HTTP (aiohttp's test server), on both backends.

A post is checked in the database right after the answer, then decided by the real
worker, and its acknowledgment travels through the real outbox and the form's own
sender to the confirmation page. Parsing rules (file types, contacts, tokens,
languages) are checked without a backend.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.domain import Channel, Decision, OutboundReply, TicketStatus
from bot.contract.ports import Plug
from bot.rules.details import extract
from bot.store.models import Message, OutboxReply, Ticket
from bot.text import i18n
from channels import page_texts
from channels.form_uploads import FILE_TYPES, display_filename, sniff
from channels.webform import (
    VISITOR_COOKIE,
    FormKeys,
    WebformConfig,
    WebformSender,
    check_token,
    compose,
    contact_address,
    issue_token,
    plug,
)
from tests.helpers import FlakySender

Client = TestClient[web.Request, web.Application]
SECRET = "test-form-secret"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
VALID: dict[str, str] = {
    "type": "product",
    "name": "Anna Rossi",
    "contact": "Anna.Rossi@Example.com",
    "order": "100234",
    "model": "Fronius Primo 5.0-1",
    "serial": "SN88990011",
    "description": "The inverter stopped working after the storm and shows error F23.",
    "solution": "Please send a technician to repair it.",
}


def form_config(runtime: Runtime, upload_dir: Path, **overrides: Any) -> WebformConfig:
    fields: dict[str, Any] = {
        "key_prefix": runtime.keys.prefix,
        "secret": SECRET,
        "upload_dir": upload_dir,
        "done_polls": 2,
        "status_label": i18n.status_label,
    }
    return WebformConfig(**{**fields, **overrides})


def form_plug(runtime: Runtime, upload_dir: Path, **overrides: Any) -> Plug:
    """The form and status pages on the runtime's ingest, look-ups, Redis, policy and clock."""
    return plug(
        form_config(runtime, upload_dir, **overrides),
        runtime.ingest,
        runtime.lookup,
        runtime.redis,
        lambda: runtime.policy.current.accepted,
        now=runtime.clock.now,
    )


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def client(runtime: Runtime, uploads: Path) -> AsyncIterator[Client]:
    async with TestClient(
        TestServer(make_app(runtime, plugs=[form_plug(runtime, uploads)]))
    ) as test_client:
        yield test_client


def visitor_of(client: Client) -> str:
    """The visitor id the form gave this browser (its cookie)."""
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[VISITOR_COOKIE].value


async def token_of(client: Client, **headers: str) -> str:
    response = await client.get("/form", headers=headers)
    assert response.status == 200
    found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert found is not None
    return found.group(1)


def multipart(fields: dict[str, str], files: Sequence[tuple[str, bytes, str]] = ()) -> FormData:
    """The form as a browser sends it: the token first, the files last."""
    data = FormData(default_to_multipart=True)
    for name, value in fields.items():
        data.add_field(name, value)
    for filename, content, declared in files:
        data.add_field("attachments", io.BytesIO(content), filename=filename, content_type=declared)
    return data


async def send(
    client: Client, fields: dict[str, str], files: Sequence[tuple[str, bytes, str]] = ()
) -> tuple[int, str, str]:
    """(status, Location, body) of one post, without following the redirect."""
    response = await client.post("/form", data=multipart(fields, files), allow_redirects=False)
    return response.status, response.headers.get("Location", ""), await response.text()


async def chunked(token: str, file_bytes: int) -> AsyncIterator[bytes]:
    """A multipart body sent without a Content-Length: the token, then one big photo."""
    yield (
        b'--B\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
        + token.encode()
        + b'\r\n--B\r\nContent-Disposition: form-data; name="attachments"; '
        b'filename="big.png"\r\nContent-Type: image/png\r\n\r\n' + PNG
    )
    for _ in range(file_bytes // 65536):
        yield b"\x00" * 65536
    yield b"\r\n--B--\r\n"


async def messages(runtime: Runtime) -> list[Message]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Ticket).order_by(Ticket.id)))


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


async def done_page(client: Client, location: str) -> str:
    response = await client.get(location)
    assert response.status == 200
    return await response.text()


async def settle(runtime: Runtime) -> None:
    """The worker decides what is queued; the sender delivers what is owed."""
    await runtime.worker.drain()
    await runtime.sender.run_once()


# --- the whole way: form -> stream -> worker -> outbox -> confirmation page -------------


async def test_a_valid_form_becomes_a_ticket_and_the_confirmation_shows_its_reference(
    client: Client, runtime: Runtime, uploads: Path
) -> None:
    token = await token_of(client)
    photo = JPEG + b"\x00" * (1024 * 1024)  # bigger than the app's 256 KB body limit
    status, location, _ = await send(
        client,
        {"csrf": token, **VALID},
        [("Photo 1.png", PNG, "image/png"), ("front.jpg", photo, "application/octet-stream")],
    )
    assert status == 303
    assert re.fullmatch(r"/form/done/[A-Za-z0-9_-]+\?lang=en", location)
    [message] = await messages(runtime)
    sid = location.split("/")[-1].split("?")[0]
    assert message.channel == "webform"
    assert message.external_id == f"form:{sid}"
    # The browser wrote it (its visitor cookie); the address it typed is only a claim.
    assert message.sender == f"b:{visitor_of(client)}"
    assert message.details is not None
    assert message.details["email"] == "Anna.Rossi@Example.com"
    assert message.display_name == "Anna Rossi"
    assert message.language == "en"
    assert message.raw["form"]["order"] == "100234"
    assert [(a["filename"], a["content_type"]) for a in message.attachments] == [
        ("Photo 1.png", "image/png"),
        ("front.jpg", "image/jpeg"),
    ]
    stored = files_in(uploads)
    assert sorted(p.read_bytes() for p in stored) == sorted([PNG, photo])
    assert {f"/form/files/{p.name}" for p in stored} == {a["url"] for a in message.attachments}
    for attachment in message.attachments:  # for staff only, never served to the public
        assert (await client.get(attachment["url"])).status == 404

    waiting = await done_page(client, location)
    assert 'http-equiv="refresh"' in waiting
    assert 'id="processing"' in waiting
    assert "Anna Rossi" in waiting  # the summary of what was sent

    await settle(runtime)
    [ticket] = await tickets(runtime)
    assert ticket.details["order_number"] == "100234"
    assert ticket.details["product_model"] == "Fronius Primo 5.0-1"
    assert ticket.details["serial_number"] == "SN88990011"
    assert "repair" in ticket.details["desired_solution"]
    assert ticket.details["description"].startswith("The inverter stopped working")
    answered = await done_page(client, location)
    assert f'<p class="ref" id="ticket-ref">{ticket.ref}</p>' in answered
    assert 'http-equiv="refresh"' not in answered
    async with runtime.sessions() as session:
        outbox = await session.scalar(select(OutboxReply))
    assert outbox is not None
    assert outbox.status == "sent"


async def test_the_same_form_sent_twice_is_one_message_and_one_confirmation(
    client: Client, runtime: Runtime, uploads: Path
) -> None:
    token = await token_of(client)
    first = await send(client, {"csrf": token, **VALID}, [("a.png", PNG, "image/png")])
    again = await send(client, {"csrf": token, **VALID}, [("a.png", PNG, "image/png")])
    assert first[0] == again[0] == 303
    assert first[1] == again[1]
    assert len(await messages(runtime)) == 1
    assert len(files_in(uploads)) == 1  # the second post's copy was not kept
    await settle(runtime)
    assert len(await tickets(runtime)) == 1


async def test_form_page_security_headers_and_language(client: Client) -> None:
    response = await client.get("/form", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    body = await response.text()
    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors *" in csp
    assert "script-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in response.headers  # embeddable in an iframe
    assert '<html lang="ru">' in body
    assert page_texts.texts("ru")["form_title"] in body
    chosen = await (await client.get("/form?lang=zh", headers={"Accept-Language": "ru"})).text()
    assert page_texts.texts("zh")["form_title"] in chosen
    assert "<script" not in body  # the pages need no JavaScript
    css = await client.get("/pages-static/pages.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    assert (await client.get("/pages-static/widget.js")).status == 404  # not ours to serve


# --- refusals ---------------------------------------------------------------------


async def test_errors_are_shown_per_field_with_the_values_kept(
    client: Client, runtime: Runtime
) -> None:
    token = await token_of(client)
    fields = {
        **VALID,
        "csrf": token,
        "contact": "not a contact",
        "order": "",
        "model": "",
        "description": "short",
        "name": 'Anna "<b>x</b>"',
        "lang": "it",
    }
    status, _, body = await send(client, fields)
    texts = page_texts.texts("it")
    assert status == 422
    assert texts["errors_summary"] in body
    for field, key in (
        ("contact", "err_contact"),
        ("model", "err_required"),
    ):
        assert re.search(rf'<p class="error" id="err-{field}">{re.escape(texts[key])}</p>', body)
    assert 'id="err-description"' in body
    assert 'id="err-name"' not in body
    assert 'id="err-order"' not in body  # asked only "if you have one"
    assert 'value="Anna &#34;&lt;b&gt;x&lt;/b&gt;&#34;"' in body  # kept, escaped
    assert ">short</textarea>" in body
    assert f'name="csrf" value="{token.rsplit(".", 2)[0]}.' in body  # the same submission
    assert await messages(runtime) == []


async def test_a_service_complaint_needs_no_model_and_a_phone_is_a_contact(
    client: Client, runtime: Runtime
) -> None:
    token = await token_of(client)
    fields = {
        **VALID,
        "csrf": token,
        "type": "service",
        "model": "",
        "serial": "",
        "contact": "+39 333 123 4567",
    }
    status, _, _ = await send(client, fields)
    assert status == 303
    [message] = await messages(runtime)
    assert message.sender.startswith("b:")
    assert message.details is not None
    assert message.details["phone"] == "+39 333 123 4567"
    assert "Phone: +39 333 123 4567" in message.text


async def test_a_missing_or_forged_token_is_refused_and_nothing_is_stored(
    client: Client, runtime: Runtime, uploads: Path
) -> None:
    token = await token_of(client)
    sid, issued, _ = token.split(".")
    forged = issue_token("another secret", sid, int(issued))
    for fields in ({**VALID}, {**VALID, "csrf": forged}, {**VALID, "csrf": "x.1.abc"}):
        status, _, body = await send(client, fields, [("a.png", PNG, "image/png")])
        assert status == 403
        assert page_texts.texts("en")["forbidden_text"] in body
    urlencoded = await client.post("/form", data={**VALID}, allow_redirects=False)
    assert urlencoded.status == 403
    assert await messages(runtime) == []
    assert files_in(uploads) == []


async def test_a_filled_honeypot_pretends_success_and_stores_nothing(
    client: Client, runtime: Runtime
) -> None:
    token = await token_of(client)
    status, location, _ = await send(client, {"csrf": token, "website": "http://spam", **VALID})
    assert status == 303
    body = await done_page(client, location)
    assert 'id="review"' in body
    assert await messages(runtime) == []


async def test_wrong_types_and_oversized_files_are_refused_with_the_form_kept(
    runtime: Runtime, uploads: Path
) -> None:
    small = form_plug(runtime, uploads, max_file_bytes=1024, max_files=2)
    async with TestClient(TestServer(make_app(runtime, plugs=[small]))) as client:
        token = await token_of(client)
        files = [
            ("evil.jpg", b"<?php echo 1; ?>" * 4, "image/jpeg"),
            ("big.png", PNG + b"\x00" * 2048, "image/png"),
            ("a.png", PNG, "image/png"),
            ("b.png", PNG, "image/png"),
            ("c.png", PNG, "image/png"),
        ]
        status, _, body = await send(client, {"csrf": token, **VALID}, files)
        assert status == 422
        assert "evil.jpg: this file type is not accepted" in body
        assert "big.png: the file is larger than" in body
        assert "At most 2 files." in body
        assert page_texts.texts("en")["files_again"] in body
        assert 'value="Anna Rossi"' in body
        whole = await client.post(
            "/form",
            data=b"x" * (2 * 1024 + 256 * 1024 + 1),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert whole.status == 413
        assert "nothing was saved" in await whole.text()
        streamed = await client.post(
            "/form",
            data=chunked(await token_of(client), 400 * 1024),
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        assert streamed.status == 413  # no Content-Length to refuse early: counted while read
    assert await messages(runtime) == []
    assert files_in(uploads) == []


async def test_an_oversized_description_is_refused_with_a_clear_message(
    client: Client, runtime: Runtime
) -> None:
    token = await token_of(client)
    status, _, body = await send(client, {**VALID, "csrf": token, "description": "word " * 5000})
    assert status == 422
    assert "Too long: at most 8000 characters." in body
    assert await messages(runtime) == []


async def test_an_expired_form_keeps_the_values_and_issues_a_new_token(
    client: Client, runtime: Runtime
) -> None:
    sid = "A" * 22
    await token_of(client)  # the visitor cookie
    old = issue_token(
        SECRET, sid, int(runtime.clock.now().timestamp()) - 2 * 24 * 3600, visitor_of(client)
    )
    status, _, body = await send(client, {**VALID, "csrf": old})
    assert status == 422
    assert page_texts.texts("en")["expired"] in body
    assert 'value="Anna Rossi"' in body
    assert f'value="{sid}.' not in body
    assert await messages(runtime) == []


async def test_submissions_per_ip_are_limited(runtime: Runtime, uploads: Path) -> None:
    limited = form_plug(runtime, uploads, per_ip_per_hour=2)
    async with TestClient(TestServer(make_app(runtime, plugs=[limited]))) as client:
        for index in range(2):
            token = await token_of(client)
            status, _, _ = await send(
                client, {"csrf": token, **VALID, "contact": f"c{index}@example.com"}
            )
            assert status == 303
        token = await token_of(client)
        status, _, body = await send(client, {"csrf": token, **VALID})
        assert status == 429
        assert page_texts.texts("en")["too_many_form"] in body
    assert len(await messages(runtime)) == 2


# --- the stream decides: closed channel, collapse -----------------------------------


async def test_a_closed_form_lists_the_open_channels_and_a_late_post_is_kept(
    client: Client, runtime: Runtime
) -> None:
    token = await token_of(client)
    await runtime.policy.set_channel("webform", False, actor="admin")
    response = await client.get("/form", headers={"Accept-Language": "it"})
    body = await response.text()
    assert response.status == 503
    assert page_texts.texts("it")["unavailable_title"] in body
    assert "Email" in body
    assert "Modulo di contatto" not in body
    assert 'name="csrf"' not in body
    status, location, _ = await send(client, {"csrf": token, **VALID})  # opened before
    assert status == 303
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.CHANNEL_CLOSED
    pages = [await done_page(client, location) for _ in range(3)]
    assert 'id="processing"' in pages[0]
    assert 'id="review"' in pages[-1]
    assert 'http-equiv="refresh"' not in pages[-1]


async def test_a_repeat_without_news_joins_the_open_ticket_and_the_page_says_so(
    client: Client, runtime: Runtime
) -> None:
    first = await send(client, {"csrf": await token_of(client), **VALID})
    await settle(runtime)
    [ticket] = await tickets(runtime)
    second = await send(client, {"csrf": await token_of(client), **VALID})
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.COLLAPSED
    await runtime.sender.run_once()
    pages = [await done_page(client, second[1]) for _ in range(3)]
    assert 'id="processing"' in pages[0]
    assert page_texts.texts("en")["done_added"] in pages[-1]
    assert str(ticket.ref) not in pages[-1]  # whoever typed the address may not own the ticket
    assert f'id="ticket-ref">{ticket.ref}<' in await done_page(client, first[1])
    assert len(await tickets(runtime)) == 1


async def test_an_insulting_form_is_held_for_a_moderator_and_the_page_says_review(
    client: Client, runtime: Runtime
) -> None:
    fields = {
        **VALID,
        "csrf": await token_of(client),
        "description": "Il vostro tecnico è un idiota, siete dei ladri e degli incompetenti.",
    }
    _, location, _ = await send(client, fields)
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.FLAGGED
    await runtime.sender.run_once()
    pages = [await done_page(client, location) for _ in range(3)]
    assert 'id="review"' in pages[-1]
    assert await tickets(runtime) == []


async def test_a_later_update_is_not_delivered_through_the_form(
    client: Client, runtime: Runtime, uploads: Path
) -> None:
    _, location, _ = await send(client, {"csrf": await token_of(client), **VALID})
    sid = location.split("/")[-1].split("?")[0]
    sender = WebformSender(runtime.redis, FormKeys(runtime.keys.prefix), ttl_s=60)

    def reply(outbox_id: int, in_reply_to: str | None) -> OutboundReply:
        return OutboundReply(
            outbox_id=outbox_id,
            channel=Channel.WEBFORM,
            to="a@example.com",
            text="Dear customer",
            language="en",
            ticket_ref="C-2026-000001",
            in_reply_to=in_reply_to,
        )

    assert (await sender.send(reply(7, f"form:{sid}"))).ok
    assert (await sender.send(reply(7, f"form:{sid}"))).ok  # the outbox retrying it
    later = await sender.send(reply(8, f"form:{sid}"))
    assert not later.ok
    assert later.permanent
    assert "status page" in (later.error or "")
    unknown = await sender.send(reply(9, "form:" + "Z" * 22))
    assert unknown.permanent


async def test_an_unknown_confirmation_is_not_found(client: Client) -> None:
    for path in ("/form/done/" + "Q" * 22, "/form/done/..%2f..%2fetc", "/form/done/x"):
        response = await client.get(path)
        assert response.status == 404


# --- rules without a backend -------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00", "image/heic"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"GIF89a\x01\x00", None),
        (b"<svg xmlns=", None),
        (b"MZ\x90\x00", None),
        (b"", None),
        (b"\x00\x00\x00\x18ftypisom", None),  # an MP4 video
    ],
)
def test_file_types_come_from_magic_bytes(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind
    assert kind is None or kind in FILE_TYPES


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("photo.jpg", "photo.jpg"),
        ("C:\\Users\\anna\\IMG 1.HEIC", "IMG 1.HEIC"),
        ("../../etc/passwd", "passwd"),
        ("%22quoted%22.png", '"quoted".png'),
        ("a\x00b\x1fc.pdf", "abc.pdf"),
        ("", "file"),
        ("x" * 300, "x" * 255),
    ],
)
def test_filenames_are_shown_without_paths_or_control_characters(given: str, shown: str) -> None:
    assert display_filename(given) == shown


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("Anna.Rossi@Example.COM", "anna.rossi@example.com"),
        (" a@b.it ", "a@b.it"),
        ("+39 333 123 4567", "393331234567"),
        ("(020) 555-0100", "0205550100"),
        ("a@b", None),
        ("anna", None),
        ("12345", None),
        ("<a@b.it>", None),
        ("+1 234 567 890 123 456 789", None),
        ("a@b.it, c@d.it", None),
    ],
)
def test_contacts_become_identity_addresses(given: str, address: str | None) -> None:
    assert contact_address(given) == address


def test_tokens_are_signed_and_expire() -> None:
    token = issue_token(SECRET, "S" * 22, 1_000_000)
    assert check_token(SECRET, token, 1_000_100, 3600) == ("S" * 22, True)
    assert check_token(SECRET, token, 1_000_000 + 7200, 3600) == ("S" * 22, False)
    assert check_token("other", token, 1_000_100, 3600) is None
    assert check_token(SECRET, token.replace("S" * 22, "T" * 22), 1_000_100, 3600) is None
    assert check_token(SECRET, "", 1_000_100, 3600) is None


def test_the_composed_text_gives_the_core_every_detail() -> None:
    found = extract(compose({**VALID, "solution": "I want a new one"}))
    assert found.values["order_number"] == "100234"
    assert found.values["product_model"] == "Fronius Primo 5.0-1"
    assert found.values["serial_number"] == "SN88990011"
    assert found.values["desired_solution"].endswith("I want a new one")
    assert found.values["description"].startswith(VALID["description"])
    assert found.emails == ("anna.rossi@example.com",)


@pytest.mark.parametrize(
    ("chosen", "header", "language"),
    [
        (None, "it-IT,it;q=0.9,en;q=0.8", "it"),
        (None, "pt-PT,nl;q=0.7,en;q=0.5", "nl"),
        (None, "de-DE,nl;q=0.7,en;q=0.5", "de"),
        (None, "en;q=0.1,zh-CN;q=0.9", "zh"),
        (None, "ru;q=0", "en"),
        (None, "", "en"),
        (None, "pt, ;q=abc,,", "en"),
        ("nl", "it", "nl"),
        ("xx", "ru", "ru"),
    ],
)
def test_the_page_language_follows_the_choice_then_the_browser(
    chosen: str | None, header: str, language: str
) -> None:
    assert page_texts.negotiate(chosen, header, "en") == language


def test_every_language_translates_every_page_text() -> None:
    everything = page_texts.own_keys("en")
    # Status names are the core's (injected as WebformConfig.status_label), in every page language.
    assert set(page_texts.LANGUAGES) <= set(i18n.SUPPORTED)
    for language in page_texts.LANGUAGES:
        for status in TicketStatus:
            assert i18n.status_label(status.value, language), (language, status)
    assert {f"channel.{c.value}" for c in Channel} <= everything
    brands = {"channel.facebook", "channel.instagram", "channel.telegram", "channel.whatsapp"}
    for language in page_texts.LANGUAGES:
        assert everything - brands <= page_texts.own_keys(language), language
        for key, text in page_texts.texts(language).items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", page_texts.texts("en")[key])
            ), (language, key)


def test_without_a_secret_the_form_is_not_configured(tmp_path: Path) -> None:
    config = WebformConfig(key_prefix="x", secret="", upload_dir=tmp_path / "never")
    nothing: Any = None  # never used: without a secret the plug builds nothing
    unplugged = plug(config, sink=nothing, lookup=nothing, redis=nothing, accepted=frozenset)
    assert unplugged.status == "not configured: set INTAKE_FORM_SECRET"
    assert not unplugged.routes
    assert not unplugged.senders
    assert not (tmp_path / "never").exists()


async def test_each_field_reaches_the_ticket_as_given(client: Client, runtime: Runtime) -> None:
    """A model code the text reading would miss, and the customer's own choice of type."""
    await send(
        client,
        {
            "csrf": await token_of(client),
            **VALID,
            "type": "service",
            "model": "SUN-5K-G03",
            "solution": "A call back",
        },
    )
    await settle(runtime)
    [ticket] = await tickets(runtime)
    assert ticket.category == "service"
    assert (ticket.details["product_model"], ticket.details["desired_solution"]) == (
        "SUN-5K-G03",
        "A call back",
    )
    assert ticket.details["email"] == "anna.rossi@example.com"


async def test_a_later_update_goes_by_mail_when_mail_is_configured(
    client: Client, runtime: Runtime, uploads: Path
) -> None:
    _, location, _ = await send(client, {"csrf": await token_of(client), **VALID})
    sid = location.split("/")[-1].split("?")[0]
    mail = FlakySender(Channel.EMAIL, failures=0)
    sender = WebformSender(runtime.redis, FormKeys(runtime.keys.prefix), ttl_s=60, later=mail)

    def reply(outbox_id: int, to: str) -> OutboundReply:
        return OutboundReply(
            outbox_id=outbox_id,
            channel=Channel.WEBFORM,
            to=to,
            text="Dear customer",
            language="en",
            ticket_ref="C-2026-000001",
            in_reply_to=f"form:{sid}",
        )

    assert (await sender.send(reply(7, "a@example.com"))).ok  # shown on the page
    assert mail.attempts == []
    assert (await sender.send(reply(8, "a@example.com"))).ok  # a status change: by mail
    assert [(r.outbox_id, r.to) for r in mail.attempts] == [(8, "anna.rossi@example.com")]
    _, phoned, _ = await send(
        client, {"csrf": await token_of(client), **VALID, "contact": "+39 347 123 4567"}
    )
    sid = phoned.split("/")[-1].split("?")[0]
    assert (await sender.send(reply(9, "b:visitor"))).ok  # its page shows the first
    by_phone = await sender.send(reply(10, "b:visitor"))  # no address to mail
    assert by_phone.permanent
    assert [r.outbox_id for r in mail.attempts] == [8]
