"""Mail bytes -> InboundMessage: charsets, broken MIME, HTML, quotes, auto-replies, threading.

Pure functions, no services: the sample mails in tests/channels/mails/ are real
shapes (Gmail, Outlook, Apple Mail, Postfix bounces, list servers).
"""

# Samples mix scripts on purpose (Cyrillic, CJK full-width punctuation).
# ruff: noqa: RUF001

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.contract.domain import MAX_TEXT_CHARS, InboundMessage
from bot.rules.details import extract, with_thread_refs
from channels.mail_parse import NO_SENDER, Delivery, parse_mail
from channels.mail_text import html_to_text, new_text

MAILS = Path(__file__).parent / "mails"
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def parse(data: bytes, **delivery: object) -> InboundMessage:
    return parse_mail(
        data,
        now=NOW,
        delivery=Delivery(**delivery),  # type: ignore[arg-type]
        own_addresses=frozenset({"support@intake.test"}),
    )


def sample(name: str) -> InboundMessage:
    return parse((MAILS / name).read_bytes())


def mail(*headers: str, body: str = "Hello", raw_body: bytes | None = None) -> bytes:
    head = "\r\n".join(["From: Anna <anna@example.com>", "To: support@intake.test", *headers])
    return head.encode() + b"\r\n\r\n" + (raw_body if raw_body is not None else body.encode())


def notes(message: InboundMessage) -> str:
    return " | ".join(message.raw.get("notes", []))


# --- the samples ------------------------------------------------------------------------


def test_multipart_alternative_takes_the_plain_part() -> None:
    message = sample("multipart_alternative.eml")
    assert message.sender == "anna.rossi@example.com"
    assert message.display_name == "Anna Rossi"
    assert message.subject == "Inverter SUN-5K-G03 shows error F23"
    assert "since Monday. Order number 100234" in message.text  # quoted-printable joined
    assert "HTML version" not in message.text
    assert message.received_at == datetime(2026, 11, 2, 7, 55, tzinfo=UTC)
    assert message.automated == ""


def test_an_html_only_mail_becomes_text_without_scripts_styles_or_quoted_history() -> None:
    message = sample("html_only.eml")
    assert message.text == (
        "Mijn omvormer geeft foutcode E07 & start niet meer.\n\n"
        "- Model: SUN-3K\n- Serienummer: AB778899\n\n"
        "Graag een reparatie.\nGroet, Jan"
    )


@pytest.mark.parametrize(
    ("name", "subject", "text", "display"),
    [
        ("iso_8859_1.eml", "Reclamo perché è guasto", "l'inverter è guasto e la società", ""),
        ("koi8_r.eml", "Жалоба на инвертор", "Инвертор сломался, прошу заменить.", "Иван Петров"),
        ("gb2312.eml", "投诉：逆变器故障", "我的逆变器坏了，订单号 100555", "王伟"),
        ("gbk_as_gb2312.eml", "逆变器", "朱镕先生的逆变器坏了", ""),
    ],
)
def test_declared_charsets_are_decoded(name: str, subject: str, text: str, display: str) -> None:
    message = sample(name)
    assert message.subject == subject
    assert text in message.text
    assert "\ufffd" not in message.text
    if display:
        assert message.display_name == display
    assert "notes" not in message.raw


@pytest.mark.parametrize(
    "charset", ["base64", "zlib", "unicode_escape", "undefined", "x\x00y", "utf-7"]
)
def test_codecs_that_are_not_charsets_are_refused_and_flagged(charset: str) -> None:
    message = parse(
        mail(f'Content-Type: text/plain; charset="{charset}"', body="Ciao \\u0041 +AGEA-")
    )
    assert message.text.startswith("Ciao")
    if charset != "utf-7":
        assert message.text == "Ciao \\u0041 +AGEA-"
        assert "unknown charset" in notes(message)


def test_an_unknown_charset_is_read_with_replacement_and_flagged() -> None:
    message = sample("unknown_charset.eml")
    assert message.text.startswith("Mein Wechselrichter ist kaputt \ufffd")
    assert "unknown charset 'x-klingon'" in notes(message)


def test_a_multipart_without_its_boundary_is_read_with_the_boundary_its_body_uses() -> None:
    message = sample("broken_mime.eml")
    assert message.text.startswith("The inverter is dead, no boundary declared.")
    assert "Content-Type" not in message.text
    assert "boundary was missing" in notes(message)
    assert "NoBoundaryInMultipartDefect" in message.raw["defects"]


def test_nested_garbage_keeps_the_readable_text_and_lists_attachments() -> None:
    message = sample("broken_nested.eml")
    assert message.text == "The inverter is dead (nested)."
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("x.bin", "application/octet-stream"),
        ("été.html", "text/html"),
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("out_of_office.eml", "Auto-Submitted: auto-replied"),
        ("dsn_bounce.eml", "bounce (multipart/report; report-type=delivery-status)"),
        ("mailing_list.eml", "Precedence: list"),
    ],
)
def test_automated_samples_say_why(name: str, reason: str) -> None:
    assert sample(name).automated == reason


def test_a_bounce_lists_the_returned_mail_as_an_attachment_not_its_text() -> None:
    message = sample("dsn_bounce.eml")
    assert "could not be delivered" in message.text
    assert "Thank you." not in message.text
    assert [a.content_type for a in message.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("reply_it.eml", "Il numero di serie è SN99887766."),
        ("reply_nl.eml", "Het ordernummer is 445566.\n\nMet vriendelijke groet,\nJan"),
        ("reply_en_outlook.eml", "The model is SUN-8K-G05, serial number SN55443322."),
    ],
)
def test_replies_keep_only_what_is_new(name: str, new: str) -> None:
    assert sample(name).text == new


def test_a_signature_is_kept_aside_in_raw() -> None:
    assert sample("reply_nl.eml").raw["signature"] == "--\nJan de Vries | 06-12345678"


def test_a_reply_to_the_bots_mail_names_its_ticket_through_its_thread() -> None:
    message = sample("reply_it.eml")
    assert message.thread_refs == ["<C-2026-000007.o3.f00d@intake.test>", "<latin1-1@example.it>"]
    found = with_thread_refs(extract(message.text), message.thread_refs)
    assert found.ticket_refs == ("C-2026-000007",)


# --- quotes, attributions and signatures, in eight languages -----------------------------

ATTRIBUTIONS = [
    "On Mon, 2 Nov 2026 at 09:00, Support <support@intake.test> wrote:",
    "Il giorno lun 2 nov 2026 alle ore 09:00 Support <support@intake.test> ha scritto:",
    "Op ma 2 nov. 2026 om 09:00 schreef Support <support@intake.test>:",
    "пн, 2 нояб. 2026 г. в 09:00, Support <support@intake.test>:",
    "02.11.2026 9:00, Support пишет:",
    "Am Mo., 2. Nov. 2026 um 09:00 Uhr schrieb Support <support@intake.test>:",
    "Support <support@intake.test> schrieb am 02.11.2026 09:00:",
    "Le lun. 2 nov. 2026 à 09:00, Support <support@intake.test> a écrit :",
    "El lun, 2 nov 2026 a las 09:00, Support (<support@intake.test>) escribió:",
    "Support <support@intake.test> 于2026年11月2日周一 09:00写道：",
    "在 2026年11月2日 09:00, Support 写道:",
]


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_an_attribution_and_its_quote_are_dropped(attribution: str) -> None:
    body = f"New detail: SN12345.\n\n{attribution}\n> old text\n> more old text\n"
    assert new_text(body)[0] == "New detail: SN12345."


@pytest.mark.parametrize("attribution", ATTRIBUTIONS[:3])
def test_an_unquoted_history_after_an_attribution_is_cut(attribution: str) -> None:
    body = f"New detail.\n\n{attribution}\n\nOld text without quote marks.\n"
    assert new_text(body)[0] == "New detail."


def test_an_attribution_wrapped_over_two_lines_is_recognised() -> None:
    body = (
        "Thanks.\n\nOn Mon, 2 Nov 2026 at 09:00, Support Team of Intake <\n"
        "support@intake.test> wrote:\n\nold\n"
    )
    assert new_text(body)[0] == "Thanks."


def test_a_bottom_posted_reply_keeps_the_answer_under_the_quote() -> None:
    body = (
        "On 2 Nov 2026 Support <support@intake.test> wrote:\n> Which model?\n\n"
        "SUN-5K-G03.\n\n> And the serial?\n\nSN998877.\n"
    )
    assert new_text(body)[0] == "SUN-5K-G03.\n\nSN998877."


def test_a_customer_saying_someone_wrote_is_not_cut() -> None:
    body = "My colleague wrote:\nthe inverter is broken\n"
    assert new_text(body)[0] == "My colleague wrote:\nthe inverter is broken"


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Исходное сообщение-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----原始邮件-----",
    ],
)
def test_outlook_original_message_separators_cut(separator: str) -> None:
    assert new_text(f"New.\n\n{separator}\nFrom: x\nold\n")[0] == "New."


@pytest.mark.parametrize(
    ("from_line", "sent_line"),
    [
        ("From: Support <s@x.test>", "Sent: Monday, 2 November 2026 09:00"),
        ("Da: Support <s@x.test>", "Inviato: lunedì 2 novembre 2026 09:00"),
        ("Van: Support <s@x.test>", "Verzonden: maandag 2 november 2026 09:00"),
        ("От: Support <s@x.test>", "Отправлено: 2 ноября 2026 г. 9:00"),
        ("Von: Support <s@x.test>", "Gesendet: Montag, 2. November 2026 09:00"),
        ("De : Support <s@x.test>", "Envoyé : lundi 2 novembre 2026 09:00"),
        ("De: Support <s@x.test>", "Enviado: lunes, 2 de noviembre de 2026 9:00"),
        ("发件人: Support <s@x.test>", "发送时间: 2026年11月2日 9:00"),
    ],
)
def test_outlook_header_blocks_cut(from_line: str, sent_line: str) -> None:
    body = f"New.\n\n________________________________\n{from_line}\n{sent_line}\nTo: a\n\nold\n"
    assert new_text(body)[0] == "New."


@pytest.mark.parametrize(
    "signature",
    [
        "-- ",
        "--",
        "Sent from my iPhone",
        "Inviato da iPhone",
        "Verstuurd vanaf mijn iPhone",
        "Отправлено с iPhone",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Enviado desde mi iPhone",
        "发自我的iPhone",
    ],
)
def test_signatures_are_cut(signature: str) -> None:
    text, kept = new_text(f"The inverter is broken.\n{signature}\nAnna Rossi\n+39 333 1234567\n")
    assert text == "The inverter is broken."
    assert kept.startswith(signature.strip())


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "---------- Messaggio inoltrato ----------",
        "-------- Weitergeleitete Nachricht --------",
    ],
)
def test_a_forwarded_mail_is_kept_whole(marker: str) -> None:
    body = (
        f"See below.\n\n{marker}\nFrom: Shop <shop@example.com>\n"
        "Date: Mon, 2 Nov 2026\nSubject: Order 100234\n\nYour inverter SUN-5K ships today.\n"
    )
    assert new_text(body)[0] == body.strip()


def test_html_blockquotes_become_quotes_and_entities_text() -> None:
    html = (
        "<p>Ciao &amp; grazie&nbsp;!</p><blockquote><p>vecchio</p></blockquote>"
        "<pre>a  b\nc</pre><table><tr><td>x</td><td>y</td></tr></table>"
    )
    assert html_to_text(html) == "Ciao & grazie !\n\n> vecchio\n\na  b\nc\n\nx y"


def test_unbalanced_html_does_not_break_the_converter() -> None:
    assert html_to_text("</blockquote></script><p>ok<style>x") == "ok"
    assert html_to_text("<html><head><title>t<meta x=1><body><p>visible</p>") == "visible"


# --- threading and identity --------------------------------------------------------------


def test_a_mail_without_message_id_gets_a_stable_hash() -> None:
    data = mail("Subject: no id")
    first, again = parse(data), parse(data)
    assert first.external_id == again.external_id
    assert first.external_id.startswith("sha256:")
    assert parse(data + b"!").external_id != first.external_id


def test_thread_refs_are_in_reply_to_then_references_capped() -> None:
    references = " ".join(f"<r{i}@x.test>" for i in range(300))
    message = parse(
        mail("Message-ID: <m@x.test>", "In-Reply-To: <parent@x.test>", f"References: {references}")
    )
    assert len(message.thread_refs) == 100
    assert message.thread_refs[:3] == ["<parent@x.test>", "<r0@x.test>", "<r202@x.test>"]
    assert message.thread_refs[-1] == "<r299@x.test>"


def test_a_message_id_without_angle_brackets_is_still_an_id() -> None:
    assert parse(mail("Message-ID: bare-id@x.test")).external_id == "<bare-id@x.test>"


def test_a_garbage_message_id_falls_back_to_the_hash() -> None:
    assert parse(mail("Message-ID: <<<garbage")).external_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Mon, 02 Nov 2026 09:30:00 +0100", datetime(2026, 11, 2, 8, 30, tzinfo=UTC)),
        ("Mon, 02 Nov 2026 12:00:00 +0000", NOW),  # in the future: the receipt time
        ("Mon, 02 Nov 2020 09:00:00 +0000", NOW),  # years old
        ("yesterday-ish", NOW),
        ("Mon, 02 Nov 2026 09:00:00 -0000", NOW),  # no zone known
    ],
)
def test_the_date_header_is_used_only_when_plausible(date: str, expected: datetime) -> None:
    assert parse(mail(f"Date: {date}")).received_at == expected


def test_no_sender_at_all_is_stored_unanswerable() -> None:
    message = parse(b"Subject: who?\r\n\r\nhello\r\n")
    assert message.sender == NO_SENDER
    assert message.automated == "no sender address: cannot be answered"


def test_the_envelope_sender_stands_in_for_a_missing_from() -> None:
    message = parse(b"Subject: hi\r\n\r\nhello\r\n", mail_from="Real@Example.com")
    assert message.sender == "real@example.com"
    assert message.automated == ""


# --- headers that try something -----------------------------------------------------------


def test_an_encoded_crlf_in_a_subject_stays_on_one_line() -> None:
    message = parse(mail("Subject: =?utf-8?q?Hi=0D=0ABcc:_x@y.test?="))
    assert message.subject == "Hi Bcc: x@y.test"


def test_eight_bit_headers_in_the_bodys_charset_are_decoded() -> None:
    data = (
        b"From: =?utf-8?q?Ren=C3=A9?= <rene@example.fr>\r\n"
        b"Subject: R\xe9clamation \xe0 traiter\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nOnduleur en panne\r\n"
    )
    message = parse(data)
    assert (message.display_name, message.subject) == ("René", "Réclamation à traiter")
    assert "8-bit bytes in the Subject header" in notes(message)


def test_eight_bit_utf8_headers_are_read_as_utf8() -> None:
    data = "From: Юрий <yuri@example.ru>\r\nSubject: Жалоба\r\n\r\nТекст\r\n".encode()
    message = parse(data)
    assert (message.display_name, message.subject, message.text) == ("Юрий", "Жалоба", "Текст")


# --- automated mail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (("Auto-Submitted: auto-generated",), "Auto-Submitted: auto-generated"),
        (("Precedence: bulk",), "Precedence: bulk"),
        (("Precedence: junk",), "Precedence: junk"),
        (("List-Id: <x.lists.test>",), "List-Id: <x.lists.test>"),
        (("X-Autoreply: yes",), "X-Autoreply: yes"),
        (("X-Autorespond: on",), "X-Autorespond: on"),
        (("Subject: Out of Office: back Monday",), "out-of-office subject"),
        (("Subject: Automatic reply: your complaint",), "out-of-office subject"),
        (("Subject: Abwesenheitsnotiz",), "out-of-office subject"),
        (("Subject: Automatisch antwoord: klacht",), "out-of-office subject"),
        (("Subject: Réponse automatique",), "out-of-office subject"),
        (("Subject: Respuesta automática",), "out-of-office subject"),
        (("Subject: Автоответ",), "out-of-office subject"),
        (("Subject: 自动回复: 投诉",), "out-of-office subject"),
        (("Return-Path: <>",), "bounce: empty return path"),
        (
            ("Content-Type: multipart/report; report-type=disposition-notification; boundary=x",),
            "read receipt (multipart/report; report-type=disposition-notification)",
        ),
    ],
)
def test_automated_mail_is_flagged_with_its_reason(headers: tuple[str, ...], reason: str) -> None:
    assert parse(mail(*headers)).automated == reason


@pytest.mark.parametrize(
    "headers",
    [
        ("Auto-Submitted: no",),
        ("Precedence: first-class",),
        ("Subject: My inverter is out of order",),
        ("Subject: Re: absence of a reply",),
    ],
)
def test_a_persons_mail_is_not_flagged(headers: tuple[str, ...]) -> None:
    assert parse(mail(*headers)).automated == ""


def test_a_null_envelope_sender_and_mailer_daemon_are_bounces() -> None:
    assert parse(mail(), mail_from="").automated == "bounce: empty return path"
    daemon = b"From: MAILER-DAEMON@mx.example.com\r\n\r\nfailed\r\n"
    assert parse(daemon).automated == "bounce: sent by mailer-daemon"


def test_mail_from_our_own_address_is_a_loop() -> None:
    data = b"From: Support <Support@Intake.test>\r\n\r\nhello\r\n"
    assert parse(data).automated == "sent from our own address (a mail loop)"


# --- bad input -----------------------------------------------------------------------------


def test_an_empty_body_and_attachments_only_are_stored_with_a_note() -> None:
    assert "no text in the mail" in notes(parse(mail(body="")))
    attachments = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        body="--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment;"
        ' filename="photo.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        "iVBORw0KGgo=\r\n--b--\r\n",
    )
    message = parse(attachments)
    assert message.text == ""
    assert [(a.filename, a.size) for a in message.attachments] == [("photo.png", 8)]
    assert "attachments only" in notes(message)


def test_more_than_fifty_attachments_are_listed_up_to_the_limit() -> None:
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
        f'filename="f{i}.txt"\r\n\r\nx\r\n'
        for i in range(60)
    )
    message = parse(mail('Content-Type: multipart/mixed; boundary="b"', body=parts + "--b--\r\n"))
    assert len(message.attachments) == 50
    assert "60 attachments" in notes(message)


def test_a_deeply_nested_tree_is_read_without_crashing() -> None:
    depth = 3000
    body = "".join(
        f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
        for i in range(depth)
    )
    message = parse(mail('Content-Type: multipart/mixed; boundary="b0"', body=body))
    assert "MIME tree" in notes(message)


def test_a_huge_text_is_cut_to_the_limit_with_a_note() -> None:
    message = parse(mail(body="word " * (MAX_TEXT_CHARS // 2)))
    assert len(message.text) == MAX_TEXT_CHARS
    assert "cut to" in notes(message)


def test_a_truncated_fetch_is_noted() -> None:
    assert "over the size limit" in notes(parse(mail(), truncated_from=20_000_000))


def test_random_bytes_and_cut_samples_never_raise() -> None:
    chance = random.Random(6)  # noqa: S311 (reproducible fuzz input, not a secret)
    inputs = [
        bytes(chance.getrandbits(8) for _ in range(chance.randint(0, 3000))) for _ in range(30)
    ]
    for path in sorted(MAILS.glob("*.eml")):
        data = path.read_bytes()
        inputs += [data[:cut] for cut in range(0, len(data), max(1, len(data) // 7))]
    for data in inputs:
        message = parse(data)
        assert message.sender
        assert message.received_at - NOW < timedelta(minutes=16)


def test_control_characters_never_reach_an_identifier() -> None:
    data = (
        b"From: a@b.c\r\nTo: support@intake.test\r\nMessage-ID: <a\x00b@x.y>\r\n"
        b"In-Reply-To: c\x01d@x.y\r\nSubject: hi\x00there\r\n\r\nbody\x00text\r\n"
    )
    msg = parse_mail(data, now=NOW)
    assert msg.external_id.startswith("sha256:")  # the broken Message-ID is not used
    assert (msg.sender, msg.subject, msg.thread_refs) == ("a@b.c", "hi there", [])
    assert msg.text == "body\ufffdtext"
