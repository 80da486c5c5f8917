"""One received mail (bytes) -> one InboundMessage: pure, so every oddity is unit-testable.

Mail is the channel with the most broken input: 8-bit headers in no declared
charset, charsets Python does not know, multiparts without a boundary, HTML-only
bodies, whole quoted threads under one new line. Every step here degrades to a
best effort and notes what it could not read in `raw["notes"]`; nothing raises.
The text kept is what is *new* in the mail (quotes and signatures stripped), so
the throttle's collapse compares what the customer just added.

A mail costs bounded time whatever it holds: the MIME parser reads a bounded number of
lines and parts, bodies are read up to a size, HTML is converted under one budget per
mail (channels/mail_text.py). Callers on the event loop parse in a worker process
(`MailReader`), so the web app answers meanwhile.
"""

# Patterns for quotes and auto-replies mix scripts on purpose (Cyrillic, CJK colons).

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email
import functools
import hashlib
import logging
import multiprocessing
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from itertools import islice
from multiprocessing.context import BaseContext
from typing import Any

from bot.contract.domain import MAX_TEXT_CHARS, Attachment, Channel, InboundMessage
from channels.mail_auth import sender_unproven
from channels.mail_text import HtmlBudget, html_to_text, new_text

log = logging.getLogger(__name__)

MAX_PARTS = 200  # MIME leaves looked at; the rest of a pathological tree is ignored
MAX_DEPTH = 20  # multipart nesting followed
MAX_ATTACHMENTS = 50  # InboundMessage's own limit
MAX_REFS = 100
# What the MIME parser reads (pure Python, a few microseconds a line): a 10 MB mail of base64
# has some 135,000 lines; 8 MB of empty parts or of header lines took it half a minute.
MAX_LINES = 200_000
MAX_BOUNDARIES = 1_000  # lines starting with "--", as part boundaries do
MAX_HEADERS = 1_000  # header fields read of the mail's own header
# What is read of the bodies: enough for the kept text after quotes are stripped, bounded
# so a 10 MB mail costs what a few hundred kB do (the mail's size limit bounds the rest).
SCAN_TEXT_CHARS = 4 * MAX_TEXT_CHARS  # of all the bodies together: what new_text reads
SCAN_HTML_CHARS = 16 * MAX_TEXT_CHARS  # of one HTML body, converted within the HTML budget
SCAN_BYTES = 4 * SCAN_HTML_CHARS  # raw bytes decoded per body part (UTF-8: up to 4 a char)
MAX_HEADER_CHARS = 998
MAX_HEADER_VALUE = 64 * 1024  # characters read of one header field (a References of 500 ids)
DATE_PAST = timedelta(days=30)  # a Date header older than this is not believed
DATE_FUTURE = timedelta(minutes=15)  # nor one further ahead than a clock's skew
NO_SENDER = "unknown-sender@invalid"
# Headers kept in `raw` (lowercase name -> raw key): enough for staff and threading, not the mail.
KEPT_HEADERS = {
    "message-id": "message_id",
    "in-reply-to": "in_reply_to",
    "references": "references",
    "from": "from",
    "sender": "sender",
    "reply-to": "reply_to",
    "to": "to",
    "cc": "cc",
    "date": "date",
    "return-path": "return_path",
    "auto-submitted": "auto_submitted",
    "precedence": "precedence",
    "list-id": "list_id",
    "x-autoreply": "x_autoreply",
    "x-autorespond": "x_autorespond",
    "content-type": "content_type",
    "content-language": "content_language",
    "x-mailer": "x_mailer",
    "user-agent": "user_agent",
    "authentication-results": "authentication_results",  # the fronting MTA's SPF/DKIM verdict
}


@dataclass(frozen=True)
class Delivery:
    """How the mail reached us: the SMTP envelope, or an IMAP mailbox (mail_from unknown)."""

    via: str = "smtp"
    mail_from: str | None = None  # "" is the null reverse path of a bounce
    rcpt_to: tuple[str, ...] = ()
    helo: str = ""
    peer: str = ""
    truncated_from: int | None = None  # the full size when only the start of the mail was read


@dataclass
class _Notes:
    """What could not be read as it should: shown to staff in raw["notes"]."""

    items: list[str] = field(default_factory=list)

    def add(self, note: str) -> None:
        if note not in self.items and len(self.items) < 20:
            self.items.append(note[:300])


# --- charsets -------------------------------------------------------------------------

# Names mail uses for encodings Python knows under another name, or whose real-world use is
# a superset (gb2312 mail is routinely GBK; GB18030 covers both).
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "us-ascii": "",
    "ascii": "",
    "default": "",
}
# Codecs Python has that are not mail charsets (decoding with them would rewrite the text).
_NOT_CHARSETS = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "charmap"}
)


def _codec(charset: str | None) -> str | None:
    """The Python codec for a declared charset; "" for none/ascii; None when unknown."""
    name = (charset or "").strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    if not name:
        return ""
    try:
        info = codecs.lookup(name)
        b"x".decode(info.name, "replace")  # bytes-to-bytes codecs (base64, zlib) refuse here
    except (LookupError, ValueError, TypeError, UnicodeError):
        return None
    return None if info.name in _NOT_CHARSETS else info.name


def decode_bytes(data: bytes, charset: str | None, notes: _Notes, *, final: bool = True) -> str:
    """Text in the declared charset; undeclared 8-bit as UTF-8 or else Windows-1252.

    `final=False`: `data` is a cut, so a character split at its end is not an error.
    """
    codec = _codec(charset)
    if codec is None:
        notes.add(f"unknown charset {charset!r}: read as UTF-8 with replacement characters")
        return _decode(data, "utf-8", "replace", final)
    if not codec:
        try:
            return _decode(data, "utf-8", "strict", final)
        except UnicodeDecodeError:
            return _decode(data, "cp1252", "replace", final)
    try:
        return _decode(data, codec, "strict", final)
    except UnicodeError:
        notes.add(f"bytes not valid in charset {charset!r}: replaced")
        try:
            return _decode(data, codec, "replace", final)
        except UnicodeError:  # a codec that cannot even replace (utf-7 on garbage)
            return _decode(data, "utf-8", "replace", final)


def _decode(data: bytes, codec: str, errors: str, final: bool) -> str:
    try:
        decoder = codecs.getincrementaldecoder(codec)(errors)
    except LookupError:  # a codec without an incremental form
        return data.decode(codec, errors)
    return decoder.decode(data, final=final)


# --- headers --------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
_MSG_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,250})>")  # no control characters in an id


def _one_line(value: str, limit: int = MAX_HEADER_CHARS) -> str:
    """No control characters (a decoded CR/LF in a subject is not a new header line)."""
    return _CONTROL.sub(" ", value).strip()[:limit]


_REGISTRY = HeaderRegistry()  # the default policy's
_RAW_8BIT = re.compile("[\udc80-\udcff]")  # how the parser keeps bytes it could not decode


@functools.cache
def _header_class(name: str) -> type[BaseHeader]:
    """The registry's header class for a name (the registry builds a new class per lookup)."""
    return _REGISTRY[name]


class _Headers:
    """Decoded header values: raw 8-bit bytes read as UTF-8 or the body's charset."""

    def __init__(self, msg: Message, fallback_charset: str | None, notes: _Notes) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in islice(msg.raw_items(), MAX_HEADERS):
            unfolded = "".join(str(value)[:MAX_HEADER_VALUE].splitlines())
            if _RAW_8BIT.search(unfolded):
                notes.add(f"8-bit bytes in the {name} header without an encoding")
                unfolded = decode_bytes(
                    unfolded.encode("utf-8", "surrogateescape"), fallback_charset, _Notes()
                )
            self._values.setdefault(name.lower(), []).append(unfolded)

    def raw(self, name: str) -> str:
        values = self._values.get(name)
        return values[0] if values else ""

    def has(self, name: str) -> bool:
        return name in self._values

    def text(self, name: str) -> str:
        """An unstructured header with its RFC 2047 encoded words decoded."""
        value = self.raw(name)
        try:
            return _one_line(str(_header_class(name)(name, value)))
        except Exception:  # the stdlib's header parser has crashes of its own on garbage
            return _one_line(value)

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) pairs; a header the registry cannot parse via parseaddr."""
        value = self.raw(name)
        if not value:
            return []
        try:
            header: Any = _header_class(name)(name, value)
            found = [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            found = []
        if not any(addr for _, addr in found):
            display, addr = parseaddr(value)
            found = [(display, addr)] if addr else []
        return [(_one_line(d, 200), _one_line(a, 320)) for d, a in found if "@" in a]

    def kept(self) -> dict[str, str]:
        return {
            key: _one_line(self.raw(name)) for name, key in KEPT_HEADERS.items() if self.has(name)
        }


def msg_ids(value: str) -> list[str]:
    """The <id@host> tokens of a Message-ID / In-Reply-To / References header, in order."""
    found = [f"<{m}>" for m in _MSG_ID.findall(value)]
    bare = value.strip()
    if (
        not found
        and bare
        and "@" in bare
        and not any(c in bare for c in " <>\t")
        and not _CONTROL.search(bare)
    ):
        found = [f"<{bare[:250]}>"]  # a mailer that forgot the angle brackets
    return found


def _thread_refs(headers: _Headers) -> list[str]:
    """In-Reply-To first, then References: the root and the most recent, when there are many."""
    in_reply_to = msg_ids(headers.raw("in-reply-to"))
    references = msg_ids(headers.raw("references"))
    if len(references) > MAX_REFS - len(in_reply_to):
        references = [references[0], *references[-(MAX_REFS - len(in_reply_to) - 1) :]]
    return list(dict.fromkeys([*in_reply_to, *references]))[:MAX_REFS]


def _external_id(headers: _Headers, data: bytes) -> str:
    ids = msg_ids(headers.raw("message-id"))
    if ids:
        return ids[0]
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _received_at(headers: _Headers, now: datetime, notes: _Notes) -> datetime:
    value = headers.raw("date")
    try:
        stamp = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        if value:
            notes.add("Date header unreadable: the time of receipt is used")
        return now
    if not now - DATE_PAST <= stamp <= now + DATE_FUTURE:
        notes.add("Date header implausible: the time of receipt is used")
        return now
    return stamp.astimezone(UTC)


# --- MIME tree ------------------------------------------------------------------------


@dataclass
class _Tree:
    bodies: list[Message] = field(default_factory=list)
    attachments: list[Message] = field(default_factory=list)


@dataclass
class _Budget:
    """Parts left to look at, shared by the whole walk (alternatives included)."""

    parts: int = MAX_PARTS


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return (
        disposition == "attachment"
        or bool(part.get_filename())
        or (part.get_content_type() not in {"text/plain", "text/html"})
    )


def _children(part: Message) -> list[Message]:
    payload = part.get_payload() if part.is_multipart() else None
    return [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []


def _walk(part: Message, tree: _Tree, depth: int, budget: _Budget, notes: _Notes) -> None:
    """Bodies and attachments; multipart/alternative contributes one body, plain preferred."""
    budget.parts -= 1
    if budget.parts < 0 or depth > MAX_DEPTH:
        notes.add(f"MIME tree over {MAX_PARTS} parts or {MAX_DEPTH} levels: the rest ignored")
        return
    children = _children(part)
    if not children and part.get_content_maintype() == "multipart":
        recovered = _with_guessed_boundary(part)
        if recovered is not None:
            notes.add("broken MIME: the multipart's boundary was missing; guessed from the body")
            _walk(recovered, tree, depth + 1, budget, notes)
        else:
            tree.bodies.append(part)  # read as plain text, with a note
        return
    if not children or part.get_content_maintype() == "message":
        (tree.attachments if _is_attachment(part) else tree.bodies).append(part)
        return
    if part.get_content_subtype() != "alternative":
        for child in children:
            _walk(child, tree, depth + 1, budget, notes)
        return
    options = [_Tree() for _ in children]
    for child, option in zip(children, options, strict=True):
        _walk(child, option, depth + 1, budget, notes)
    tree.bodies += _preferred(options).bodies
    tree.attachments += [a for o in options for a in o.attachments]


_BOUNDARY_LINE = re.compile(r"^--([^\s\"]{1,70})\r?$", re.MULTILINE)


def _with_guessed_boundary(part: Message) -> Message | None:
    """A multipart whose Content-Type lost its boundary, re-read with the body's first one."""
    payload = part.get_payload()
    found = _BOUNDARY_LINE.search(payload) if isinstance(payload, str) else None
    if found is None or not isinstance(payload, str):
        return None
    header = f'Content-Type: {part.get_content_type()}; boundary="{found.group(1)}"\n\n'
    fixed = email.message_from_string(header + payload, policy=policy.compat32)
    return fixed if fixed.is_multipart() else None


def _preferred(options: Sequence[_Tree]) -> _Tree:
    with_body = [o for o in options if o.bodies]
    plain = [
        o
        for o in with_body
        if all(b.get_content_type() == "text/plain" for b in o.bodies)
        and any(_payload(b).strip() for b in o.bodies)
    ]
    return (plain or with_body or [_Tree()])[0]


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _filename(part: Message) -> str:
    """The filename, with the RFC 2047 words Outlook puts in it (against RFC 2231) decoded."""
    name = str(part.get_filename() or "")
    with contextlib.suppress(LookupError, UnicodeError, ValueError, HeaderParseError):
        name = str(make_header(decode_header(name)))
    return _one_line(name, 255)


def _attachment(part: Message) -> Attachment:
    if part.get_content_type() == "message/rfc822":
        size = len(part.as_bytes())
    else:
        size = len(_payload(part))
    return Attachment(
        filename=_filename(part), content_type=part.get_content_type()[:255], size=size
    )


# --- automated mail ---------------------------------------------------------------------

_OUT_OF_OFFICE = re.compile(
    r"^\s*(?:out of (?:the )?office|auto(?:matic|matische)?[- ]?(?:reply|response|antwort|"
    r"antwoord)|autoreply|abwesenheitsnotiz|risposta automatica|fuori sede|fuori ufficio|"
    r"automatisch antwoord|afwezig|niet aanwezig|réponse automatique|absence du bureau|"
    r"absent du bureau|respuesta automática|fuera de la oficina|автоответ|"
    r"автоматический ответ|нет на месте|自动回复|自動回覆|自動回复|vacation reply|on vacation)",
    re.IGNORECASE,
)
_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BULK = frozenset({"bulk", "junk", "list", "auto_reply"})


def _header_reason(headers: _Headers) -> str:
    auto = headers.raw("auto-submitted").strip()
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {_one_line(auto, 80)}"
    precedence = headers.raw("precedence").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe", "x-autoreply", "x-autorespond", "x-autoresponder"):
        if headers.has(name):
            return f"{name.title()}: {_one_line(headers.raw(name), 80)}"
    return ""


def _report_reason(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    kind = str(msg.get_param("report-type") or "").lower()
    if kind == "disposition-notification":
        return "read receipt (multipart/report; report-type=disposition-notification)"
    return f"bounce (multipart/report; report-type={_one_line(kind, 40) or 'unknown'})"


def automated_reason(
    msg: Message,
    headers: _Headers,
    sender: str,
    subject: str,
    delivery: Delivery,
    own: frozenset[str],
) -> str:
    """Why nobody waits for an answer to this mail ("" for a person's mail)."""
    local = sender.split("@", 1)[0].lower()
    return_path = headers.raw("return-path").strip()
    checks = (
        _header_reason(headers),
        _report_reason(msg),
        f"bounce: sent by {local}" if local in _DAEMONS else "",
        "bounce: empty return path" if delivery.mail_from == "" or return_path == "<>" else "",
        "out-of-office subject" if _OUT_OF_OFFICE.match(subject) else "",
        "sent from our own address (a mail loop)" if sender in own else "",
        "no sender address: cannot be answered" if sender == NO_SENDER else "",
    )
    return next((reason for reason in checks if reason), "")[:200]


# --- the message ----------------------------------------------------------------------


def _sender(headers: _Headers, delivery: Delivery) -> tuple[str, str]:
    for name in ("from", "sender"):
        found = headers.addresses(name)
        if found:
            display, addr = found[0]
            return addr.lower(), display
    if delivery.mail_from and "@" in delivery.mail_from:
        return _one_line(delivery.mail_from, 320).lower(), ""
    return NO_SENDER, ""


def _scanned(text: str, limit: int, notes: _Notes) -> str:
    if len(text) <= limit:
        return text
    notes.add(f"a body longer than {limit} characters: only its beginning was read")
    return text[:limit]


def _body_text(tree: _Tree, notes: _Notes) -> str:
    """The bodies' text, read up to a bound so a 10 MB mail costs what a 300 kB one does:
    SCAN_TEXT_CHARS in all, its HTML parts converted under one budget."""
    texts: list[str] = []
    budget = HtmlBudget()
    for part in tree.bodies:
        if sum(map(len, texts)) >= SCAN_TEXT_CHARS:
            notes.add(f"bodies over {SCAN_TEXT_CHARS} characters in all: the rest not read")
            break
        text = _part_text(part, budget, notes)
        if text.strip():
            texts.append(text)
    if budget.spent:
        notes.add("HTML over its conversion budget: the rest of it read with its tags stripped")
    return _scanned("\n\n".join(texts), SCAN_TEXT_CHARS, notes)


def _part_text(part: Message, budget: HtmlBudget, notes: _Notes) -> str:
    payload = _payload(part)
    text = decode_bytes(
        payload[:SCAN_BYTES], part.get_content_charset(), notes, final=len(payload) <= SCAN_BYTES
    )
    if part.get_content_type() == "text/html":
        text = html_to_text(_scanned(text, SCAN_HTML_CHARS, notes), budget)
    elif part.get_content_maintype() == "multipart":  # a multipart without a boundary
        notes.add("broken MIME: a multipart without readable parts, read as plain text")
    return _scanned(text, SCAN_TEXT_CHARS, notes)


def _defects(msg: Message) -> list[str]:
    names = {type(d).__name__ for d in msg.defects}
    for part in msg.walk():
        names.update(type(d).__name__ for d in part.defects)
        if len(names) > 20:
            break
    return sorted(names)[:20]


def _envelope_raw(delivery: Delivery) -> dict[str, Any]:
    raw: dict[str, Any] = {"via": delivery.via}
    if delivery.mail_from is not None:
        raw["mail_from"] = _one_line(delivery.mail_from, 320)
    if delivery.rcpt_to:
        raw["rcpt_to"] = [_one_line(r, 320) for r in delivery.rcpt_to[:20]]
    if delivery.helo:
        raw["helo"] = _one_line(delivery.helo, 255)
    if delivery.peer:
        raw["peer"] = delivery.peer[:100]
    return raw


def _fit_text(text: str, delivery: Delivery, notes: _Notes) -> str:
    if delivery.truncated_from is not None:
        notes.add(
            f"mail of {delivery.truncated_from} bytes is over the size limit: "
            "only its beginning was read"
        )
    if len(text) > MAX_TEXT_CHARS:
        notes.add(f"text of {len(text)} characters cut to {MAX_TEXT_CHARS}")
        return text[:MAX_TEXT_CHARS]
    return text


def _attachments(tree: _Tree, notes: _Notes) -> list[Attachment]:
    found = [_attachment(part) for part in tree.attachments[:MAX_ATTACHMENTS]]
    if len(tree.attachments) > MAX_ATTACHMENTS:
        notes.add(f"{len(tree.attachments)} attachments: only the first {MAX_ATTACHMENTS} listed")
    return found


def parse_mail(
    data: bytes,
    *,
    now: datetime,
    delivery: Delivery | None = None,
    own_addresses: frozenset[str] = frozenset(),
    trusted_authserv: frozenset[str] = frozenset(),
) -> InboundMessage:
    """The InboundMessage of one mail; never raises on any input.

    `trusted_authserv`: the receiving servers whose Authentication-Results are believed
    (channels/mail_auth.py); empty, the sender is not checked.
    """
    delivery = delivery or Delivery()
    try:
        return _parse(data, now, delivery, own_addresses, trusted_authserv)
    except Exception as exc:  # a stdlib parser bug on some input: store what can be read
        log.exception("mail not fully readable", extra={"size": len(data)})
        return _unreadable(data, now, delivery, exc, trusted_authserv)


class MailReader:
    """parse_mail for callers on the event loop, in a worker process.

    Not a thread: parsing is pure Python, and a parsing thread holds the GIL that the loop
    needs each time it wakes (up to 5 ms a wake-up, tens of them in one web request: with
    a 1 MB hostile mail in a thread, /healthz took over 100 ms). One process, started in a
    thread by the first mail (starting takes tenths of a second), parses one mail at a time
    (the others queue), each within the bounds above; `close()` ends it. Should it die or
    fail to start, that mail is parsed in a thread and the next one tries a new process.
    """

    def __init__(self) -> None:
        self._pool: asyncio.Future[ProcessPoolExecutor] | None = None

    async def parse(
        self,
        data: bytes,
        *,
        now: datetime,
        delivery: Delivery | None = None,
        own_addresses: frozenset[str] = frozenset(),
        trusted_authserv: frozenset[str] = frozenset(),
    ) -> InboundMessage:
        parse = functools.partial(
            parse_mail,
            data,
            now=now,
            delivery=delivery,
            own_addresses=own_addresses,
            trusted_authserv=trusted_authserv,
        )
        if self._pool is None:
            self._pool = asyncio.ensure_future(asyncio.to_thread(_started_pool))
        starting = self._pool
        try:
            pool = await asyncio.shield(starting)
            return await asyncio.get_running_loop().run_in_executor(pool, parse)
        except Exception as exc:  # parse_mail never raises: the process died or did not start
            log.error(
                "no mail parsing process: parsing this mail in a thread",
                extra={"size": len(data), "error": f"{type(exc).__name__}: {exc}"},
            )
            if self._pool is starting:
                self._pool = None
            return await asyncio.to_thread(parse)

    async def close(self) -> None:
        """End the process, once the mail it is parsing is done."""
        starting, self._pool = self._pool, None
        if starting is None:
            return
        with contextlib.suppress(Exception):  # a process that did not start needs no end
            pool = await asyncio.shield(starting)
            await asyncio.to_thread(pool.shutdown, cancel_futures=True)


def _started_pool() -> ProcessPoolExecutor:
    """A pool whose process is running: started here, not by the loop's first submit."""
    pool = ProcessPoolExecutor(1, mp_context=_context())
    pool.submit(int).result()
    return pool


def _context() -> BaseContext:
    """Processes forked from a clean server that has this module loaded (a fork of the
    bot itself would copy its threads' locks); spawned where there is no such server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _unreadable(
    data: bytes, now: datetime, delivery: Delivery, exc: Exception, trusted_authserv: frozenset[str]
) -> InboundMessage:
    sender = (delivery.mail_from or "").lower() if "@" in (delivery.mail_from or "") else ""
    body = data.partition(b"\r\n\r\n")[2] or data.partition(b"\n\n")[2]
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id="sha256:" + hashlib.sha256(data).hexdigest(),
        sender=_one_line(sender, 320) or NO_SENDER,
        text=body.decode("utf-8", "replace")[:MAX_TEXT_CHARS],
        received_at=now,
        raw={
            **_envelope_raw(delivery),
            "notes": [f"mail unreadable ({type(exc).__name__}): its raw body is the text"],
        },
        automated="" if sender else "no sender address: cannot be answered",
        sender_unproven="mail unreadable: its sender could not be checked"
        if trusted_authserv
        else "",
    )


def _bounded(data: bytes, notes: _Notes) -> bytes:
    """The start of a mail whose lines or parts would cost the MIME parser seconds."""
    cut = min(_nth(data, b"\n", MAX_LINES), _nth(data, b"\n--", MAX_BOUNDARIES))
    if cut >= len(data):
        return data
    notes.add(
        f"mail over {MAX_LINES} lines or {MAX_BOUNDARIES} part boundaries: read up to byte {cut}"
    )
    return data[:cut]


def _nth(data: bytes, separator: bytes, n: int) -> int:
    """Where the n-th `separator` starts; len(data) when there are fewer."""
    if data.count(separator) < n:
        return len(data)
    return next(islice(re.finditer(re.escape(separator), data), n - 1, None)).start()


def _tree(data: bytes, notes: _Notes) -> tuple[Message, _Tree]:
    tree = _Tree()
    data = _bounded(data, notes)
    try:
        msg = email.message_from_bytes(data, policy=policy.compat32)
    except RecursionError:  # the stdlib parser recurses once per nesting level
        notes.add("MIME tree nested too deep to read: stored without its body")
        return BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True), tree
    try:
        _walk(msg, tree, 0, _Budget(), notes)
    except RecursionError:
        notes.add("MIME tree nested too deep to read: stored without its body")
        tree = _Tree()
    return msg, tree


def _parse(
    data: bytes,
    now: datetime,
    delivery: Delivery,
    own_addresses: frozenset[str],
    trusted_authserv: frozenset[str],
) -> InboundMessage:
    notes = _Notes()
    msg, tree = _tree(data, notes)
    body_charset = next((p.get_content_charset() for p in tree.bodies), None)
    headers = _Headers(msg, body_charset, notes)
    sender, display = _sender(headers, delivery)
    subject = headers.text("subject")
    full = _body_text(tree, notes)
    text, signature = new_text(full)
    raw: dict[str, Any] = {**headers.kept(), **_envelope_raw(delivery)}
    if signature:
        raw["signature"] = signature
    if not full.strip():
        notes.add("no text in the mail" + (" (attachments only)" if tree.attachments else ""))
    elif not text:
        notes.add("nothing new: the mail only quotes earlier ones")
    defects = _defects(msg)
    if defects:
        raw["defects"] = defects
    text = _fit_text(text, delivery, notes)
    received_at = _received_at(headers, now, notes)
    attachments = _attachments(tree, notes)
    if notes.items:
        raw["notes"] = notes.items
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=_external_id(headers, data),
        sender=sender,
        display_name=display,
        subject=subject,
        text=text,
        thread_refs=_thread_refs(headers),
        received_at=received_at,
        attachments=attachments,
        raw=raw,
        automated=automated_reason(msg, headers, sender, subject, delivery, own_addresses),
        sender_unproven=sender_unproven(msg, sender, trusted_authserv),
    )
