"""The words of a mail: HTML turned into text, and what is new in a reply (the quoted
history, attributions and signatures cut off), so the throttle's collapse compares what
the customer just added. Pure text in, text out."""

# Patterns for quotes mix scripts on purpose (Cyrillic, CJK colons).
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser

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
