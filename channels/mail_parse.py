"""One received mail (bytes) -> one InboundMessage: pure, so every oddity is unit-testable.

Mail is the channel with the most broken input: 8-bit headers in no declared
charset, charsets Python does not know, multiparts without a boundary, HTML-only
bodies, whole quoted threads under one new line. Every step here degrades to a
best effort and notes what it could not read in `raw["notes"]`; nothing raises.
The text kept is what is *new* in the mail (quotes and signatures stripped), so
the throttle's collapse compares what the customer just added.
"""

# Patterns for quotes and auto-replies mix scripts on purpose (Cyrillic, CJK colons).
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import codecs
import contextlib
import email
import functools
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from bot.domain import MAX_TEXT_CHARS, Attachment, Channel, InboundMessage

log = logging.getLogger(__name__)

MAX_PARTS = 200  # MIME leaves looked at; the rest of a pathological tree is ignored
MAX_DEPTH = 20  # multipart nesting followed
MAX_ATTACHMENTS = 50  # InboundMessage's own limit
MAX_REFS = 100
# What is read of a body: enough for the kept text after quotes are stripped, bounded so a
# 10 MB mail costs what a few hundred kB do (the mail's size limit bounds the rest).
SCAN_TEXT_CHARS = 4 * MAX_TEXT_CHARS
SCAN_HTML_CHARS = 16 * MAX_TEXT_CHARS
SCAN_BYTES = 4 * SCAN_HTML_CHARS  # raw bytes decoded per body part (UTF-8: up to 4 a char)
THREAD_ABOVE = 256 * 1024  # callers parse larger mails off the event loop (tenths of a second)
MAX_HEADER_CHARS = 998
DATE_PAST = timedelta(days=30)  # a Date header older than this is not believed
DATE_FUTURE = timedelta(minutes=15)  # nor one further ahead than a clock's skew
NO_SENDER = "unknown-sender@invalid"
# Headers kept in `raw` (lowercase name -> raw key): enough for staff and threading, not the mail.
KEPT_HEADERS = {
    "message-id": "message_id", "in-reply-to": "in_reply_to", "references": "references",
    "from": "from", "sender": "sender", "reply-to": "reply_to", "to": "to", "cc": "cc",
    "date": "date", "return-path": "return_path", "auto-submitted": "auto_submitted",
    "precedence": "precedence", "list-id": "list_id", "x-autoreply": "x_autoreply",
    "x-autorespond": "x_autorespond", "content-type": "content_type",
    "content-language": "content_language", "x-mailer": "x_mailer", "user-agent": "user_agent",
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
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874", "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7", "x-unknown": "", "unknown-8bit": "", "x-user-defined": "",
    "us-ascii": "", "ascii": "", "default": "",
}
# Codecs Python has that are not mail charsets (decoding with them would rewrite the text).
_NOT_CHARSETS = frozenset({"undefined", "unicode-escape", "raw-unicode-escape", "idna",
                           "punycode", "charmap"})


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


@functools.cache
def _header_class(name: str) -> type[BaseHeader]:
    """The registry's header class for a name (the registry builds a new class per lookup)."""
    return _REGISTRY[name]


class _Headers:
    """Decoded header values: raw 8-bit bytes read as UTF-8 or the body's charset."""

    def __init__(self, msg: Message, fallback_charset: str | None, notes: _Notes) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            unfolded = "".join(str(value).splitlines())
            if any("\udc80" <= ch <= "\udcff" for ch in unfolded):
                notes.add(f"8-bit bytes in the {name} header without an encoding")
                unfolded = decode_bytes(unfolded.encode("utf-8", "surrogateescape"),
                                        fallback_charset, _Notes())
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
        return {key: _one_line(self.raw(name)) for name, key in KEPT_HEADERS.items()
                if self.has(name)}


def msg_ids(value: str) -> list[str]:
    """The <id@host> tokens of a Message-ID / In-Reply-To / References header, in order."""
    found = [f"<{m}>" for m in _MSG_ID.findall(value)]
    bare = value.strip()
    if not found and bare and "@" in bare and not any(c in bare for c in " <>\t") \
            and not _CONTROL.search(bare):
        found = [f"<{bare[:250]}>"]  # a mailer that forgot the angle brackets
    return found


def _thread_refs(headers: _Headers) -> list[str]:
    """In-Reply-To first, then References: the root and the most recent, when there are many."""
    in_reply_to = msg_ids(headers.raw("in-reply-to"))
    references = msg_ids(headers.raw("references"))
    if len(references) > MAX_REFS - len(in_reply_to):
        references = [references[0], *references[-(MAX_REFS - len(in_reply_to) - 1):]]
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
    return disposition == "attachment" or bool(part.get_filename()) or (
        part.get_content_type() not in {"text/plain", "text/html"})


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
    plain = [o for o in with_body
             if all(b.get_content_type() == "text/plain" for b in o.bodies)
             and any(_payload(b).strip() for b in o.bodies)]
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
    return Attachment(filename=_filename(part), content_type=part.get_content_type()[:255],
                      size=size)


# --- HTML to text ---------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "head", "title", "noscript", "template", "svg",
                      "object", "iframe"})
_BLOCKS = frozenset({"div", "br", "tr", "li", "dt", "dd", "section", "article", "header",
                     "footer", "address", "center", "form"})
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "table", "ul",
                         "ol", "dl", "blockquote"})
_SPACE = re.compile(r"\s+")


class _HtmlText(HTMLParser):
    """Text of an HTML mail: blocks become lines, blockquotes become '>' lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._quote = 0
        self._pre = 0

    def flush(self, paragraph: bool = False) -> None:
        text = "".join(self._line) if self._pre else "".join(self._line).strip()
        self._line = []
        if text or self._pre:
            self.lines.append(("> " * self._quote) + text)
        if paragraph and self.lines and self.lines[-1]:
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skip = 0  # a <head> or <title> some mailers never close
        elif tag in _SKIPPED:
            self._skip += 1
        elif tag in _BLOCKS or tag in _PARAGRAPHS:
            self.flush(tag in _PARAGRAPHS)
            self._quote += tag == "blockquote"
            self._pre += tag == "pre"
            if tag == "li":
                self._line.append("- ")
        elif tag in {"td", "th"} and self._line:
            self._line.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS or tag in _PARAGRAPHS:
            self.flush(tag in _PARAGRAPHS)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS or tag in _PARAGRAPHS:
            self.flush(tag in _PARAGRAPHS)
            if tag == "blockquote":
                self._quote = max(0, self._quote - 1)
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self._pre:
            self._line.append(_SPACE.sub(" ", data))
            return
        for n, piece in enumerate(data.split("\n")):
            if n:
                self.flush()
            self._line.append(piece)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    parser.flush()
    return "\n".join(parser.lines).strip()


# --- what is new: quotes, attributions, signatures ------------------------------------

_VERB = (r"(?:wrote|writes|ha scritto|scrive|schreef|geschreven|написал\(а\)|написала|"
         r"написал|пишет|schrieb|a écrit|escribió|写道|寫道)")
# "On Mon, 2 Nov 2026 at 09:00, Anna <a@b> wrote:" and its kin in the eight languages; a
# digit is required so "My colleague wrote:" in a customer's own text is not cut.
_ATTRIBUTION = re.compile(rf"^(?=[^\n]*\d)[^\n]{{0,300}}{_VERB}[^\n]{{0,80}}[:：]\s*$",
                          re.IGNORECASE)
# Gmail in Russian writes no verb: "пн, 2 нояб. 2026 г. в 09:00, Anna <a@b>:"
_ATTRIBUTION_RU = re.compile(r"^[^\n]{0,40}\d{4}\s*г\.,?\s*в\s*\d{1,2}:\d{2},?\s[^\n]{0,200}:\s*$")
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:original message|messaggio originale|oorspronkelijk bericht|"
    r"origineel bericht|исходное сообщение|ursprüngliche nachricht|original-nachricht|"
    r"message d'origine|mensaje original|原始邮件|原始郵件)\s*-{2,}\s*$", re.IGNORECASE)
# A forwarded mail is what the customer sends us, not history: nothing after it is cut.
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message follows|messaggio inoltrato|"
    r"doorgestuurd bericht|пересылаемое сообщение|weitergeleitete nachricht|"
    r"message transféré|mensaje reenviado|转发的邮件|轉寄的郵件)\s*-{2,}|begin forwarded message:|"
    r"inizio messaggio inoltrato:|début du message réexpédié :?)\s*$", re.IGNORECASE)
_FROM_LINE = re.compile(r"^\s*\**(?:from|da|van|от|von|de|发件人|寄件者)\s*\**\s*[:：]",
                        re.IGNORECASE)
_SENT_LINE = re.compile(
    r"^\s*\**(?:sent|date|inviato|data|verzonden|verstuurd|datum|отправлено|дата|gesendet|"
    r"envoyé|fecha|enviado|发送时间|日期|寄件日期)\s*\**\s*[:：]", re.IGNORECASE)
_MOBILE = re.compile(
    r"^\s*(?:sent from my [^\n]{1,40}|get outlook for (?:ios|android)|"
    r"inviato da(?:l mio)? [^\n]{1,40}|verzonden (?:met|vanaf) mijn [^\n]{1,40}|"
    r"verstuurd vanaf mijn [^\n]{1,40}|отправлено с [^\n]{1,40}|"
    r"von meinem [^\n]{1,40} gesendet|envoyé de mon [^\n]{1,40}|"
    r"enviado desde mi [^\n]{1,40}|发自我的[^\n]{1,40}|從我的[^\n]{1,40}傳送)\s*$", re.IGNORECASE)
_RULE = re.compile(r"^\s*[_\-=*]{5,}\s*$")


def _is_attribution(line: str) -> bool:
    return bool(_ATTRIBUTION.match(line) or _ATTRIBUTION_RU.match(line))


def _attribution_at(lines: Sequence[str], i: int) -> int:
    """How many lines (1 or 2: clients wrap long ones) the attribution at i spans; 0 if none."""
    if len(lines[i]) > 400 or not lines[i].strip():
        return 0
    if _is_attribution(lines[i]):
        return 1
    if i + 1 < len(lines) and _is_attribution(f"{lines[i].rstrip()} {lines[i + 1].strip()}"):
        return 2
    return 0


def _quote_follows(lines: Sequence[str], start: int) -> bool:
    following = next((line for line in lines[start:] if line.strip()), "")
    return following.startswith(">")


def _header_block(lines: Sequence[str], i: int) -> bool:
    """Outlook's "From: ... Sent: ..." block that starts a quoted message."""
    return bool(_FROM_LINE.match(lines[i])) and any(
        _SENT_LINE.match(line) for line in lines[i + 1:i + 5])


def _cut(lines: Sequence[str]) -> tuple[int, bool, set[int]]:
    """(where the history or signature starts, whether it is a signature, attribution lines
    to drop because their quote follows as '>' lines)."""
    dropped: set[int] = set()
    for i, line in enumerate(lines):
        if line.startswith(">") or i in dropped:
            continue
        if _FORWARD.match(line):
            break
        if line.rstrip() == "--" or _MOBILE.match(line):
            return i, True, dropped
        if _ORIGINAL.match(line) or _header_block(lines, i):
            return i, False, dropped
        span = _attribution_at(lines, i)
        if span and not _quote_follows(lines, i + span):
            return i, False, dropped
        dropped.update(range(i, i + span))
    return len(lines), False, dropped


def _tidy(lines: Sequence[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    while text and _RULE.match(text.rsplit("\n", 1)[-1]):  # Outlook's rule above its block
        text = text.rsplit("\n", 1)[0].rstrip() if "\n" in text else ""
    return text


def new_text(text: str) -> tuple[str, str]:
    """(what is new in a mail body, its signature): quoted history and attributions go."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut, signature, dropped = _cut(lines)
    kept = [line for i, line in enumerate(lines[:cut])
            if i not in dropped and not line.startswith(">")]
    tail = _signature(lines[cut:cut + 12]) if signature else []
    return _tidy(kept), _tidy(tail)[:1000]


def _signature(lines: Sequence[str]) -> list[str]:
    """The signature's own lines: up to the history that often follows it."""
    for i in range(1, len(lines)):
        line = lines[i]
        if (line.startswith(">") or _RULE.match(line) or _ORIGINAL.match(line)
                or _header_block(lines, i) or _attribution_at(lines, i)):
            return list(lines[:i])
    return list(lines)


# --- automated mail ---------------------------------------------------------------------

_OUT_OF_OFFICE = re.compile(
    r"^\s*(?:out of (?:the )?office|auto(?:matic|matische)?[- ]?(?:reply|response|antwort|"
    r"antwoord)|autoreply|abwesenheitsnotiz|risposta automatica|fuori sede|fuori ufficio|"
    r"automatisch antwoord|afwezig|niet aanwezig|réponse automatique|absence du bureau|"
    r"absent du bureau|respuesta automática|fuera de la oficina|автоответ|"
    r"автоматический ответ|нет на месте|自动回复|自動回覆|自動回复|vacation reply|on vacation)",
    re.IGNORECASE)
_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BULK = frozenset({"bulk", "junk", "list", "auto_reply"})


def _header_reason(headers: _Headers) -> str:
    auto = headers.raw("auto-submitted").strip()
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {_one_line(auto, 80)}"
    precedence = headers.raw("precedence").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe", "x-autoreply", "x-autorespond",
                 "x-autoresponder"):
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


def automated_reason(msg: Message, headers: _Headers, sender: str, subject: str,
                     delivery: Delivery, own: frozenset[str]) -> str:
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
    """The bodies' text, read up to a bound so a 10 MB mail costs what a 300 kB one does."""
    texts = []
    for part in tree.bodies:
        payload = _payload(part)
        text = decode_bytes(payload[:SCAN_BYTES], part.get_content_charset(), notes,
                            final=len(payload) <= SCAN_BYTES)
        if part.get_content_type() == "text/html":
            text = html_to_text(_scanned(text, SCAN_HTML_CHARS, notes))
        elif part.get_content_maintype() == "multipart":  # a multipart without a boundary
            notes.add("broken MIME: a multipart without readable parts, read as plain text")
        texts.append(_scanned(text, SCAN_TEXT_CHARS, notes))
    return "\n\n".join(t for t in texts if t.strip())


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
        notes.add(f"mail of {delivery.truncated_from} bytes is over the size limit: "
                  "only its beginning was read")
    if len(text) > MAX_TEXT_CHARS:
        notes.add(f"text of {len(text)} characters cut to {MAX_TEXT_CHARS}")
        return text[:MAX_TEXT_CHARS]
    return text


def _attachments(tree: _Tree, notes: _Notes) -> list[Attachment]:
    found = [_attachment(part) for part in tree.attachments[:MAX_ATTACHMENTS]]
    if len(tree.attachments) > MAX_ATTACHMENTS:
        notes.add(f"{len(tree.attachments)} attachments: only the first "
                  f"{MAX_ATTACHMENTS} listed")
    return found


def parse_mail(data: bytes, *, now: datetime, delivery: Delivery | None = None,
               own_addresses: frozenset[str] = frozenset()) -> InboundMessage:
    """The InboundMessage of one mail; never raises on any input."""
    delivery = delivery or Delivery()
    try:
        return _parse(data, now, delivery, own_addresses)
    except Exception as exc:  # a stdlib parser bug on some input: store what can be read
        log.exception("mail not fully readable", extra={"size": len(data)})
        return _unreadable(data, now, delivery, exc)


def _unreadable(data: bytes, now: datetime, delivery: Delivery,
                exc: Exception) -> InboundMessage:
    sender = (delivery.mail_from or "").lower() if "@" in (delivery.mail_from or "") else ""
    body = data.partition(b"\r\n\r\n")[2] or data.partition(b"\n\n")[2]
    return InboundMessage(
        channel=Channel.EMAIL, external_id="sha256:" + hashlib.sha256(data).hexdigest(),
        sender=_one_line(sender, 320) or NO_SENDER,
        text=body.decode("utf-8", "replace")[:MAX_TEXT_CHARS], received_at=now,
        raw={**_envelope_raw(delivery),
             "notes": [f"mail unreadable ({type(exc).__name__}): its raw body is the text"]},
        automated="" if sender else "no sender address: cannot be answered")


def _tree(data: bytes, notes: _Notes) -> tuple[Message, _Tree]:
    tree = _Tree()
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


def _parse(data: bytes, now: datetime, delivery: Delivery,
           own_addresses: frozenset[str]) -> InboundMessage:
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
        channel=Channel.EMAIL, external_id=_external_id(headers, data), sender=sender,
        display_name=display, subject=subject, text=text, thread_refs=_thread_refs(headers),
        received_at=received_at, attachments=attachments, raw=raw,
        automated=automated_reason(msg, headers, sender, subject, delivery, own_addresses))

