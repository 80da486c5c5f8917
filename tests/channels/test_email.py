"""Email over the wire: the bot's own SMTP server, the SMTP relay it sends through, and IMAP.

Storage flows run on both backends through the `runtime` fixture and the real app
(make_app runs the plug's loops and registers its sender). Protocol edge cases
(refusals, size limits, a store that fails) use a small recording sink that speaks
the MessageSink interface, so they need no database. The relay is aiosmtpd on a
loopback port; the IMAP server is Debian's dovecot (tests/fakes/dovecot.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Accepted, Channel, Decision, InboundMessage, OutboundReply
from bot.contract.errors import InvalidMessage, StoreUnavailable
from bot.contract.ports import Plug
from channels.email import EmailConfig, SmtpSender, plug
from channels.imap_poll import ImapPoller, ImapTarget
from tests.fakes.dovecot import Dovecot, free_port
from tests.fakes.smtp_relay import SmtpRelay
from tests.helpers import stored_messages

MAILS = Path(__file__).parent / "mails"
DOMAIN = "intake.test"
SUPPORT = f"support@{DOMAIN}"


def sample(name: str) -> bytes:
    return (MAILS / name).read_bytes()


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait for a condition (never a fixed sleep standing in for one)."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


class RecordingSink:
    """The MessageSink interface with a dict behind it; `failures` accepts raise first."""

    def __init__(self, failures: int = 0, refuse: frozenset[str] = frozenset()) -> None:
        self.messages: dict[str, InboundMessage] = {}
        self.failures = failures
        self.refuse = refuse  # external ids refused as invalid

    async def accept(self, msg: InboundMessage) -> Accepted:
        if msg.external_id in self.refuse:
            raise InvalidMessage(f"{msg.external_id} refused")
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database unreachable")
        duplicate = msg.external_id in self.messages
        self.messages.setdefault(msg.external_id, msg)
        return Accepted(list(self.messages).index(msg.external_id) + 1, duplicate)


@pytest.fixture
def config(relay: SmtpRelay, clock: VirtualClock) -> EmailConfig:
    return EmailConfig(
        smtp_listen=f"127.0.0.1:{free_port()}",
        smtp_relay=f"127.0.0.1:{relay.port}",
        mail_from=f"Intake Support <{SUPPORT}>",
        mail_domains=f"{DOMAIN}, Other.Test",
        now=clock.now,
        imap_interval_s=0.05,
        timeout_s=10,
    )


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    yield server
    server.stop()


def smtp_port(config: EmailConfig) -> int:
    return int(config.smtp_listen.rpartition(":")[2])


@contextlib.asynccontextmanager
async def serving(email_plug: Plug) -> AsyncIterator[None]:
    """Run a plug's loops as the app would, without the app."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for loop in email_plug.loops]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


@contextlib.asynccontextmanager
async def smtp_server(config: EmailConfig, sink: RecordingSink) -> AsyncIterator[int]:
    async with serving(plug(config, sink)):
        port = smtp_port(config)
        await until(lambda: listening(port))
        yield port


@contextlib.asynccontextmanager
async def bot(runtime: Runtime, config: EmailConfig) -> AsyncIterator[None]:
    """The real app with the email plug: its loops run, its sender replaces the capture."""
    async with TestClient(TestServer(make_app(runtime, plugs=[plug(config, runtime.ingest)]))):
        if config.smtp_listen:
            await until(lambda: listening(smtp_port(config)))
        yield


async def submit(
    port: int,
    data: bytes,
    *,
    sender: str = "customer@example.com",
    recipients: tuple[str, ...] = (SUPPORT,),
) -> tuple[int, str]:
    """One mail into the bot's SMTP server by aiosmtplib; the DATA reply."""
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, timeout=10, local_hostname="mx.customer.test"
    )
    await client.connect()
    try:
        await client.mail(sender)
        for recipient in recipients:
            await client.rcpt(recipient)
        response = await client.data(data)
        return response.code, response.message
    finally:
        await client.quit()


def reply(**fields: object) -> OutboundReply:
    values: dict[str, object] = {
        "outbox_id": 7,
        "channel": Channel.EMAIL,
        "to": "anna@example.com",
        "text": "Grazie, abbiamo ricevuto il suo reclamo.",
        "language": "it",
        "ticket_ref": "C-2026-000123",
        "subject": "Abbiamo ricevuto il suo reclamo",
        "in_reply_to": "<first@example.com>",
        "references": ["<root@example.com>"],
    }
    values.update(fields)
    return OutboundReply.model_validate(values)


# --- the whole flow, on both backends ---------------------------------------------------


async def test_a_mail_in_is_stored_answered_by_smtp_and_the_reply_to_it_joins_its_ticket(
    runtime: Runtime, config: EmailConfig, relay: SmtpRelay
) -> None:
    async with bot(runtime, config):
        code, _ = await submit(
            smtp_port(config), sample("multipart_alternative.eml"), sender="Anna.Rossi@Example.com"
        )
        assert code == 250
        [row] = await stored_messages(runtime)  # durable before the 250
        assert (row.sender, row.external_id) == (
            "anna.rossi@example.com",
            "<CAF0001.alt@mail.example.com>",
        )
        assert "SUN-5K-G03" in row.text
        assert "HTML version" not in row.text
        assert row.raw["helo"] == "mx.customer.test"
        assert row.raw["mail_from"] == "Anna.Rossi@Example.com"
        [outcome] = await runtime.worker.drain()
        assert outcome.decision is Decision.ANSWERED
        ref = outcome.ticket_ref
        assert ref is not None

        assert await runtime.sender.run_once() == 1
        [sent] = relay.received
        mail = sent.message
        assert sent.rcpt_tos == ("anna.rossi@example.com",)
        assert sent.mail_from == SUPPORT
        assert str(mail["Subject"]).startswith(f"[{ref}] ")
        assert str(mail["Message-ID"]).startswith(f"<{ref}.o")
        assert str(mail["Message-ID"]).endswith(f"@{DOMAIN}>")
        assert mail["In-Reply-To"] == "<CAF0001.alt@mail.example.com>"
        assert "<CAF0001.alt@mail.example.com>" in str(mail["References"])
        assert mail["Auto-Submitted"] == "auto-replied"
        assert mail["From"].addresses[0].addr_spec == SUPPORT
        assert mail["From"].addresses[0].display_name == "Intake Support"
        assert mail["Date"] is not None
        assert mail["Content-Language"] == "en"  # the ticket's language
        assert mail.get_content_type() == "text/plain"
        assert mail.get_content_charset() == "utf-8"
        assert await runtime.sender.run_once() == 0  # nothing sent twice
        assert len(relay.received) == 1

        answer = EmailMessage()
        answer["From"] = "Anna Rossi <anna.rossi@example.com>"
        answer["To"] = SUPPORT
        answer["Subject"] = "Re: your message"  # the client dropped the [ref]
        answer["Message-ID"] = "<answer-1@mail.example.com>"
        answer["In-Reply-To"] = str(mail["Message-ID"])
        answer.set_content("The serial number is SN123456789.\n\n> quoted reply\n")
        code, _ = await submit(smtp_port(config), answer.as_bytes())
        assert code == 250
        [follow_up] = await runtime.worker.drain()
        assert follow_up.ticket_ref == ref


async def test_duplicates_and_automated_mails_are_stored_once_and_never_answered(
    runtime: Runtime, config: EmailConfig, relay: SmtpRelay
) -> None:
    async with bot(runtime, config):
        port = smtp_port(config)
        assert (await submit(port, sample("out_of_office.eml")))[0] == 250
        code, message = await submit(port, sample("out_of_office.eml"))  # an MTA's retry
        assert (code, message) == (250, "2.0.0 OK: already received")
        assert (await submit(port, sample("dsn_bounce.eml"), sender=""))[0] == 250
        assert (await submit(port, sample("mailing_list.eml")))[0] == 250
        rows = await stored_messages(runtime)
        assert [r.automated for r in rows] == [
            "Auto-Submitted: auto-replied",
            "bounce (multipart/report; report-type=delivery-status)",
            "Precedence: list",
        ]
        outcomes = await runtime.worker.drain()
        assert len(outcomes) == 3
        assert Decision.ANSWERED not in {o.decision for o in outcomes}
        await runtime.sender.run_once()
        assert relay.received == []


async def test_with_a_trusted_mx_a_forged_sender_is_held_and_a_proven_one_answered(
    runtime: Runtime, config: EmailConfig, relay: SmtpRelay
) -> None:
    """Behind an MX that checks DMARC: a mail it does not prove gets no reply (backscatter)."""
    config = replace(config, mail_trusted_authserv_ids="mx.example.com")

    def checked(sender: str, verdict: str, message_id: str) -> bytes:
        mail = EmailMessage()
        domain = sender.rpartition("@")[2]
        mail["Authentication-Results"] = f"mx.example.com; dmarc={verdict} header.from={domain}"
        mail["From"] = sender
        mail["To"] = SUPPORT
        mail["Subject"] = "Inverter broken"
        mail["Message-ID"] = message_id
        mail.set_content("My inverter broke down again and I want a replacement unit now.")
        return mail.as_bytes()

    async with bot(runtime, config):
        port = smtp_port(config)
        assert (await submit(port, checked("victim@example.org", "fail", "<f1@x>")))[0] == 250
        assert (await submit(port, checked("anna@example.com", "pass", "<p1@x>")))[0] == 250
        forged, proven = await stored_messages(runtime)
        assert forged.sender_unproven == "mx.example.com reports dmarc=fail for example.org"
        assert proven.sender_unproven == ""
        outcomes = {o.message_id: o.decision for o in await runtime.worker.drain()}
        assert outcomes == {forged.id: Decision.FLAGGED, proven.id: Decision.ANSWERED}
        assert await runtime.sender.run_once() == 1
        assert [sent.rcpt_tos for sent in relay.received] == [("anna@example.com",)]


async def test_the_imap_poller_stores_unseen_mails_once_and_marks_them_seen(
    runtime: Runtime, config: EmailConfig, dovecot: Dovecot
) -> None:
    mailbox = f"box{free_port()}"
    await asyncio.to_thread(dovecot.create_mailbox, mailbox)
    for name in ("koi8_r.eml", "gb2312.eml", "html_only.eml"):
        await asyncio.to_thread(dovecot.append, mailbox, sample(name))
    await asyncio.to_thread(dovecot.append, mailbox, sample("iso_8859_1.eml"), "\\Seen")
    imap_only = replace(config, smtp_listen="", imap_url=dovecot.url(mailbox))

    async def all_seen() -> bool:
        flags = await asyncio.to_thread(dovecot.flags, mailbox)
        return len(flags) == 4 and all("\\Seen" in f for f in flags)

    async with bot(runtime, imap_only):
        await until(all_seen)
        rows = await stored_messages(runtime)
        assert sorted(r.sender for r in rows) == [
            "ivan@example.ru",
            "jan@example.nl",
            "wang@example.cn",
        ]
        assert {r.raw["via"] for r in rows} == {"imap"}
        assert "Инвертор сломался" in next(r.text for r in rows if r.sender == "ivan@example.ru")

        def unsee_all() -> None:
            client = dovecot.client()
            client.select(mailbox)
            client.store("1:*", "-FLAGS", "(\\Seen)")
            client.logout()

        await asyncio.to_thread(unsee_all)  # fetched again: duplicates, not stored twice
        await until(all_seen)
        assert (
            len(await stored_messages(runtime)) == 4
        )  # the fourth was \Seen before: now it came too
        assert len({o.message_id for o in await runtime.worker.drain()}) == 4


# --- inbound SMTP protocol --------------------------------------------------------------


async def test_recipients_outside_the_mail_domains_are_refused_with_550(
    config: EmailConfig,
) -> None:
    sink = RecordingSink()
    async with smtp_server(config, sink) as port:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
        await client.connect()
        await client.mail("spammer@example.com")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("victim@elsewhere.example")
        assert refused.value.code == 550
        response = await client.rcpt("Help@OTHER.test")  # domains compare case-insensitively
        assert response.code == 250
        await client.quit()
    assert sink.messages == {}


async def test_stopping_the_server_closes_connections_left_open(config: EmailConfig) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(config), timeout=10)
    async with smtp_server(config, RecordingSink()):
        await client.connect()
        await client.ehlo()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await client.noop()
    assert not await listening(smtp_port(config))


async def test_a_20_mb_mail_is_refused_with_552_whether_or_not_it_declares_its_size(
    config: EmailConfig,
) -> None:
    sink = RecordingSink()
    big = b"Subject: big\r\n\r\n" + b"x" * 76 + b"\r\n"
    big = big * (20 * 1024 * 1024 // len(big))
    async with smtp_server(config, sink) as port:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:
            await client.mail("a@example.com", options=[f"SIZE={len(big)}"])
        assert declared.value.code == 552
        await client.mail("a@example.com")  # no SIZE: found out while reading DATA
        await client.rcpt(SUPPORT)
        with pytest.raises(aiosmtplib.SMTPDataError) as at_data:
            await client.data(big)
        assert at_data.value.code == 552
        assert (await submit(port, sample("koi8_r.eml")))[0] == 250  # the server lives on
        await client.quit()
    assert list(sink.messages) == ["<koi8-1@example.ru>"]


async def test_a_store_that_fails_gets_451_and_the_retry_is_stored(config: EmailConfig) -> None:
    sink = RecordingSink(failures=1)
    async with smtp_server(config, sink) as port:
        with pytest.raises(aiosmtplib.SMTPDataError) as failed:
            await submit(port, sample("reply_it.eml"))
        assert failed.value.code == 451
        assert sink.messages == {}
        assert (await submit(port, sample("reply_it.eml")))[0] == 250
    assert sink.messages["<reply-it-1@example.it>"].text == "Il numero di serie è SN99887766."


async def test_a_mail_the_store_refuses_as_invalid_gets_a_permanent_554(
    config: EmailConfig,
) -> None:
    async with smtp_server(
        config, RecordingSink(refuse=frozenset({"<koi8-1@example.ru>"}))
    ) as port:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await submit(port, sample("koi8_r.eml"))
    assert refused.value.code == 554
    assert "refused" in refused.value.message


BAD_MAILS = {  # name -> (Message-ID, what the notes say)
    "broken_mime.eml": ("<broken-1@example.com>", "broken MIME"),
    "broken_nested.eml": ("<broken-2@example.com>", ""),
    "unknown_charset.eml": ("<unknown-charset-1@example.de>", "unknown charset 'x-klingon'"),
    "eight_bit_headers": ("<eight_bit_headers@example.com>", "8-bit bytes in the Subject"),
    "empty_body": ("<empty_body@example.com>", "no text in the mail"),
    "attachments_only": ("<attachments_only@example.com>", "no text in the mail (attachments"),
}


def bad_mail(name: str) -> bytes:
    if name.endswith(".eml"):
        return sample(name)
    head = f"From: x@example.com\r\nTo: {SUPPORT}\r\nMessage-ID: <{name}@example.com>\r\n"
    if name == "eight_bit_headers":
        return (
            head.encode() + b"Subject: Reclamo perch\xe9 \xe8 guasto\r\n"
            b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGuasto\r\n"
        )
    if name == "empty_body":
        return head.encode() + b"Subject: \r\n\r\n"
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        'Content-Type: application/pdf; name="invoice.pdf"\r\n'
        'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    ).encode()


async def test_bad_mails_are_accepted_and_stored_with_the_reason(config: EmailConfig) -> None:
    sink = RecordingSink()
    async with smtp_server(config, sink) as port:
        for name in BAD_MAILS:
            assert (await submit(port, bad_mail(name)))[0] == 250, name
    for name, (message_id, reason) in BAD_MAILS.items():
        notes = " | ".join(sink.messages[message_id].raw.get("notes", []))
        assert reason in notes, (name, notes)
    assert "The inverter is dead" in sink.messages["<broken-1@example.com>"].text
    assert "The inverter is dead (nested)" in sink.messages["<broken-2@example.com>"].text
    assert sink.messages["<eight_bit_headers@example.com>"].subject == "Reclamo perché è guasto"
    assert sink.messages["<empty_body@example.com>"].text == ""
    attached = sink.messages["<attachments_only@example.com>"]
    assert [(a.filename, a.content_type, a.size) for a in attached.attachments] == [
        ("invoice.pdf", "application/pdf", 9)
    ]


# --- outbound SMTP ----------------------------------------------------------------------


async def test_crlf_in_a_subject_does_not_make_a_header(
    config: EmailConfig, relay: SmtpRelay
) -> None:
    result = await SmtpSender(config).send(reply(subject="Hello\r\nBcc: victim@example.org"))
    assert result.ok
    [sent] = relay.received
    assert sent.rcpt_tos == ("anna@example.com",)
    assert sent.message["Bcc"] is None
    assert b"\r\nBcc:" not in sent.data
    assert sent.message["Subject"] == "[C-2026-000123] Hello Bcc: victim@example.org"
    assert result.provider_id == sent.message["Message-ID"]


async def test_crlf_in_the_configured_sender_name_does_not_make_a_header(
    config: EmailConfig, relay: SmtpRelay
) -> None:
    sneaky = replace(config, mail_from=f"Support\r\nBcc: victim@example.org <{SUPPORT}>")
    assert (await SmtpSender(sneaky).send(reply())).ok
    [sent] = relay.received
    assert sent.message["Bcc"] is None
    assert sent.message["From"].addresses[0].addr_spec == SUPPORT


async def test_a_recipient_with_crlf_is_a_permanent_failure_and_nothing_is_sent(
    config: EmailConfig, relay: SmtpRelay
) -> None:
    result = await SmtpSender(config).send(reply(to="anna@example.com\r\nBcc: x@example.org"))
    assert (result.ok, result.permanent) == (False, True)
    assert relay.received == []


async def test_threading_headers_use_message_ids_only(
    config: EmailConfig, relay: SmtpRelay
) -> None:
    hashed = "sha256:" + "0" * 64  # the id of a mail that had no Message-ID
    await SmtpSender(config).send(reply(in_reply_to=hashed, references=[hashed]))
    await SmtpSender(config).send(reply(references=["<root@example.com>", "<first@example.com>"]))
    without, threaded = (r.message for r in relay.received)
    assert (without["In-Reply-To"], without["References"]) == (None, None)
    assert threaded["In-Reply-To"] == "<first@example.com>"
    assert threaded["References"] == "<root@example.com> <first@example.com>"


async def test_relay_4xx_is_retried_5xx_is_permanent_and_an_unreachable_relay_is_retried(
    config: EmailConfig, relay: SmtpRelay
) -> None:
    relay.refuse = {
        "busy@example.com": "451 4.7.1 greylisted, try later",
        "gone@example.com": "550 5.1.1 no such user",
    }
    sender = SmtpSender(config)
    busy = await sender.send(reply(to="busy@example.com"))
    gone = await sender.send(reply(to="gone@example.com"))
    assert (busy.ok, busy.permanent) == (False, False)
    assert "451" in (busy.error or "")
    assert (gone.ok, gone.permanent) == (False, True)
    assert "no such user" in (gone.error or "")
    relay.data_reply = "554 5.7.1 message refused as spam"
    spam = await sender.send(reply())
    assert (spam.ok, spam.permanent) == (False, True)
    relay.data_reply = "452 4.3.1 insufficient storage"
    full = await sender.send(reply())
    assert (full.ok, full.permanent) == (False, False)
    assert relay.received == []
    down = await SmtpSender(replace(config, smtp_relay=f"127.0.0.1:{free_port()}")).send(reply())
    assert (down.ok, down.permanent) == (False, False)


async def test_the_sender_logs_in_to_a_relay_that_wants_it(config: EmailConfig) -> None:
    guarded = await SmtpRelay(credentials=("bot", "s3cret")).start()
    try:
        relayed = replace(config, smtp_relay=f"127.0.0.1:{guarded.port}")
        anonymous = await SmtpSender(relayed).send(reply())
        assert not anonymous.ok
        wrong = await SmtpSender(replace(relayed, smtp_username="bot", smtp_password="nope")).send(
            reply()
        )
        assert (wrong.ok, wrong.permanent) == (False, False)  # a setting to fix, then retry
        right = await SmtpSender(
            replace(relayed, smtp_username="bot", smtp_password="s3cret")
        ).send(reply())
        assert right.ok
        assert [r.login for r in guarded.received] == ["bot"]
    finally:
        await guarded.stop()


# --- IMAP -------------------------------------------------------------------------------


def _target(dovecot: Dovecot, mailbox: str) -> ImapTarget:
    return ImapTarget.from_url(dovecot.url(mailbox))


async def test_imap_mails_stay_unseen_while_the_store_fails(
    config: EmailConfig, dovecot: Dovecot
) -> None:
    mailbox = f"fail{free_port()}"
    await asyncio.to_thread(dovecot.create_mailbox, mailbox)
    await asyncio.to_thread(dovecot.append, mailbox, sample("reply_nl.eml"))
    sink = RecordingSink(failures=1)
    poller = ImapPoller(
        _target(dovecot, mailbox), sink, interval_s=1, max_bytes=1 << 20, now=config.now
    )
    with pytest.raises(StoreUnavailable):
        await poller.poll_once()
    assert "\\Seen" not in (await asyncio.to_thread(dovecot.flags, mailbox))[0]
    assert await poller.poll_once() == 1
    assert "\\Seen" in (await asyncio.to_thread(dovecot.flags, mailbox))[0]
    assert list(sink.messages) == ["<reply-nl-1@example.nl>"]
    assert await poller.poll_once() == 0


async def test_an_imap_mail_the_store_refuses_as_invalid_does_not_block_the_others(
    config: EmailConfig, dovecot: Dovecot
) -> None:
    mailbox = f"poison{free_port()}"
    await asyncio.to_thread(dovecot.create_mailbox, mailbox)
    for name in ("koi8_r.eml", "gb2312.eml"):
        await asyncio.to_thread(dovecot.append, mailbox, sample(name))
    sink = RecordingSink(refuse=frozenset({"<koi8-1@example.ru>"}))
    poller = ImapPoller(
        _target(dovecot, mailbox), sink, interval_s=1, max_bytes=1 << 20, now=config.now
    )
    assert await poller.poll_once() == 2
    assert list(sink.messages) == ["<gb2312-1@example.cn>"]
    assert await poller.poll_once() == 0  # the refused one stays in the mailbox, seen


async def test_a_20_mb_imap_mail_is_stored_cut_with_a_note(
    config: EmailConfig, dovecot: Dovecot
) -> None:
    mailbox = f"big{free_port()}"
    await asyncio.to_thread(dovecot.create_mailbox, mailbox)
    line = b"The inverter hums loudly all night long, please replace it soon.  \r\n"
    big = (
        b"From: big@example.com\r\nSubject: big\r\nMessage-ID: <big@example.com>\r\n\r\n"
        + line * (20 * 1024 * 1024 // len(line))
    )
    await asyncio.to_thread(dovecot.append, mailbox, big)
    sink = RecordingSink()
    poller = ImapPoller(
        _target(dovecot, mailbox), sink, interval_s=1, max_bytes=10 << 20, now=config.now
    )
    assert await poller.poll_once() == 1
    message = sink.messages["<big@example.com>"]
    assert message.text.startswith("The inverter hums")
    assert any(
        f"mail of {len(big)} bytes is over the size limit" in note for note in message.raw["notes"]
    )


async def test_a_wrong_imap_password_fails_the_pass_with_the_reason(
    config: EmailConfig, dovecot: Dovecot
) -> None:
    target = replace(_target(dovecot, "INBOX"), password="wrong")
    poller = ImapPoller(target, RecordingSink(), interval_s=1, max_bytes=1024, now=config.now)
    with pytest.raises(imaplib.IMAP4.error):
        await poller.poll_once()
    assert "wrong" not in repr(target)


# --- the plug ---------------------------------------------------------------------------


def test_without_settings_the_plug_says_what_is_missing_and_adds_nothing() -> None:
    bare = plug(EmailConfig(), RecordingSink())
    assert bare.status == (
        "not configured: set INTAKE_MAIL_DOMAINS (inbound SMTP), "
        "INTAKE_SMTP_RELAY and INTAKE_MAIL_FROM (outbound)"
    )
    assert (bare.loops, bare.senders) == ((), {})
    inbound_only = plug(EmailConfig(mail_domains=DOMAIN), RecordingSink())
    assert inbound_only.status == (
        "configured: inbound SMTP on 127.0.0.1:2525; not configured: "
        "INTAKE_SMTP_RELAY and INTAKE_MAIL_FROM (outbound)"
    )
    assert len(inbound_only.loops) == 1
    assert inbound_only.senders == {}
    checked = plug(
        EmailConfig(mail_domains=DOMAIN, mail_trusted_authserv_ids="MX.example.com"),
        RecordingSink(),
    )
    assert checked.status.startswith(
        "configured: inbound SMTP on 127.0.0.1:2525, senders "
        "proven by mx.example.com; not configured"
    )
    broken = plug(EmailConfig(smtp_listen="nonsense:port", mail_domains=DOMAIN), RecordingSink())
    assert broken.status == "not configured: 'nonsense:port' is not host:port"
    assert plug(EmailConfig(imap_url="http://x"), RecordingSink()).status.startswith(
        "not configured: INTAKE_IMAP_URL must start with imap://"
    )


def test_a_full_configuration_registers_the_sender_and_both_loops(config: EmailConfig) -> None:
    full = plug(replace(config, imap_url="imaps://u:p@imap.example.com/Support"), RecordingSink())
    assert set(full.senders) == {Channel.EMAIL}
    assert len(full.loops) == 2
    assert "IMAP polling of imap.example.com" in full.status
    assert "not configured" not in full.status
