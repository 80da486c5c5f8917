"""The words of a mail: HTML turned into text, and what is new in a reply (the quoted
history, attributions and signatures cut off), so the throttle's collapse compares what
the customer just added. Pure text in, text out.

Mail is hostile input, so every step costs time linear in its input: no pattern here lets
the regex engine try many ways to split one run of characters, and the HTML converter
works under a budget (tags, unparsed markup held, seconds) shared by a mail's HTML parts;
past it the rest is tag-stripped crudely, so the text is kept, never lost.
"""

# Patterns for quotes mix scripts on purpose (Cyrillic, CJK colons).
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser

# --- HTML to text ---------------------------------------------------------------------

_SKIPPED = frozenset(
    {"script", "style", "head", "title", "noscript", "template", "svg", "object", "iframe"}
)
_BLOCKS = frozenset(
    {
        "div",
        "br",
        "tr",
        "li",
        "dt",
        "dd",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "center",
        "form",
    }
)
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "table", "ul", "ol", "dl", "blockquote"}
)
_TAG = re.compile(r"<[^<>]*>")  # the crude strip: one pass, each character read once or twice
# Where a long run of text may be cut: before spaces, after a character that no entity ends
# in (the parser holds back an entity cut short; "&nbsp;" is a space once decoded).
_WORD_END = re.compile(r"(?<=[^\s;])\s")
MAX_QUOTE_DEPTH = 20  # '> ' marks per line: nested blockquotes beyond it add no more
MAX_TAGS = 50_000  # tags converted per mail (a 1 MB newsletter has some tens of thousands)
MAX_PENDING = 256 * 1024  # markup held unparsed (an unclosed tag, comment or <style>)
CLOSE_PENDING = 4 * 1024  # held markup that `close()` may read: its cost grows as the square
HTML_SECONDS = 1.0  # per mail: a net under the caps above, which bound the cost already
CRUDE_CHARS = 256 * 1024  # what the crude strip reads once the budget is spent
# The budget is checked between chunks fed to the parser. Each C call (a regex, a split)
# also holds the GIL, which the event loop waits for, so none reads more than a chunk or so.
_CHUNK = 16 * 1024


@dataclass
class HtmlBudget:
    """What converting HTML may cost; one is shared by all the HTML parts of a mail."""

    tags: int = MAX_TAGS
    deadline: float = field(default_factory=lambda: time.monotonic() + HTML_SECONDS)
    spent: bool = False  # it ran out: some of the HTML was only tag-stripped

    def left(self, tags: int, pending: int) -> bool:
        """Whether a parser that has read `tags` tags and holds `pending` may go on."""
        return tags <= self.tags and pending <= MAX_PENDING and time.monotonic() < self.deadline


class _HtmlText(HTMLParser):
    """Text of an HTML mail: blocks become lines, blockquotes become '>' lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.tags = 0
        self._line: list[str] = []
        self._skip = 0
        self._quote = 0
        self._pre = 0

    def flush(self, paragraph: bool = False) -> None:
        text = "".join(self._line) if self._pre else "".join(self._line).strip()
        self._line = []
        if text or self._pre:
            self.lines.append(("> " * min(self._quote, MAX_QUOTE_DEPTH)) + text)
        if paragraph and self.lines and self.lines[-1]:
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
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
        self.tags += 1
        if tag in _BLOCKS or tag in _PARAGRAPHS:
            self.flush(tag in _PARAGRAPHS)

    def handle_endtag(self, tag: str) -> None:
        self.tags += 1
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
            self._line.append(_collapsed(data))
            return
        for n, piece in enumerate(data.split("\n")):
            if n:
                self.flush()
            self._line.append(piece)


def _collapsed(data: str) -> str:
    r"""Each run of whitespace one space, as `re.sub(r"\s+", " ", data)` but in str methods:
    over a long run of words they hold the GIL a tenth as long."""
    words = data.split()
    if not words:
        return " " if data else ""
    return (" " * data[0].isspace()) + " ".join(words) + (" " * data[-1].isspace())


def html_to_text(html: str, budget: HtmlBudget | None = None) -> str:
    """The text of `html`; what is left when `budget` runs out is tag-stripped crudely."""
    budget = budget or HtmlBudget()
    parser = _HtmlText()
    fed = _feed(parser, html, budget)
    rest = html[fed:]
    if rest or not (parser.cdata_elem or len(parser.rawdata) <= CLOSE_PENDING):
        rest = parser.rawdata + rest  # held markup too long for close(): crude strip it
        budget.spent = True
    else:
        parser.close()  # what it still holds is short, or an unclosed <style> it drops
    parser.flush()
    return "\n".join([*parser.lines, _crude_text(rest[:CRUDE_CHARS])]).strip()


def _feed(parser: _HtmlText, html: str, budget: HtmlBudget) -> int:
    """Feed `html` in chunks while the budget lasts; how many characters were fed.

    Each chunk ends before a '<', so a run of text reaches the parser whole, as if the
    HTML came in one piece (its spaces are collapsed the same way)."""
    fed = 0
    while fed < len(html) and budget.left(parser.tags, _held(parser)):
        end = _chunk_end(html, fed + _CHUNK)
        parser.feed(html[fed:end])
        fed = end
    budget.tags -= parser.tags
    return fed


def _chunk_end(html: str, start: int) -> int:
    """Where a chunk ends: at the first '<' from `start` or, in a longer run of text, before
    its next spaces; either way its text collapses to what it would in one piece."""
    end = html.find("<", start, start + _CHUNK)
    if end < 0:
        space = _WORD_END.search(html, start)
        end = space.start() if space else len(html)
    return end


def _held(parser: _HtmlText) -> int:
    """The markup the parser holds that each feed reads again: an unclosed <style> is read
    with one search per feed (and dropped at the end), so only other markup counts."""
    return 0 if parser.cdata_elem else len(parser.rawdata)


def _crude_text(html: str) -> str:
    """Tags dropped, entities decoded, blank lines gone: HTML read without a parser.

    In pieces cut as the parser's chunks are, before a '<' (a tag longer than a chunk may
    be cut and stay), so that no single call holds the GIL long."""
    pieces, start = [], 0
    while start < len(html):
        end = _chunk_end(html, start + _CHUNK)
        pieces.append(_TAG.sub(" ", html[start:end]))
        start = end
    lines = (" ".join(unescape(line).split()) for line in "".join(pieces).split("\n"))
    return "\n".join(line for line in lines if line)


# --- what is new: quotes, attributions, signatures ------------------------------------

_VERB = (
    r"(?:wrote|writes|ha scritto|scrive|schreef|geschreven|написал\(а\)|написала|"
    r"написал|пишет|schrieb|a écrit|escribió|写道|寫道)"
)
# "On Mon, 2 Nov 2026 at 09:00, Anna <a@b> wrote:" and its kin in the eight languages; a
# digit is required so "My colleague wrote:" in a customer's own text is not cut. Both end
# at the colon: they are matched on a line without its trailing spaces (_is_attribution),
# as a `\s*$` there would scan the spaces after every colon the repetitions can reach.
_ATTRIBUTION = re.compile(rf"^(?=[^\n]*\d)[^\n]{{0,300}}{_VERB}[^\n]{{0,80}}[:：]$", re.IGNORECASE)
# Gmail in Russian writes no verb: "пн, 2 нояб. 2026 г. в 09:00, Anna <a@b>:"
_ATTRIBUTION_RU = re.compile(r"^[^\n]{0,40}\d{4}\s*г\.,?\s*в\s*\d{1,2}:\d{2},?\s[^\n]{0,200}:$")
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:original message|messaggio originale|oorspronkelijk bericht|"
    r"origineel bericht|исходное сообщение|ursprüngliche nachricht|original-nachricht|"
    r"message d'origine|mensaje original|原始邮件|原始郵件)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# A forwarded mail is what the customer sends us, not history: nothing after it is cut.
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message follows|messaggio inoltrato|"
    r"doorgestuurd bericht|пересылаемое сообщение|weitergeleitete nachricht|"
    r"message transféré|mensaje reenviado|转发的邮件|轉寄的郵件)\s*-{2,}|begin forwarded message:|"
    r"inizio messaggio inoltrato:|début du message réexpédié :?)\s*$",
    re.IGNORECASE,
)
# "**From:** x", "From :" - spaces, bold stars, spaces: written `\s*(?:\*+\s*)?`, one way to
# read a run of spaces (`\s*\**\s*` has n ways, and a line of spaces took minutes).
_FROM_LINE = re.compile(
    r"^\s*\**(?:from|da|van|от|von|de|发件人|寄件者)\s*(?:\*+\s*)?[:：]", re.IGNORECASE
)
_SENT_LINE = re.compile(
    r"^\s*\**(?:sent|date|inviato|data|verzonden|verstuurd|datum|отправлено|дата|gesendet|"
    r"envoyé|fecha|enviado|发送时间|日期|寄件日期)\s*(?:\*+\s*)?[:：]",
    re.IGNORECASE,
)
# A device name ending the line is possessive (`{1,40}+`): it takes its 40 characters once,
# where `[^\n]{1,40}\s*$` tried each of 40 lengths against the spaces after it.
_MOBILE = re.compile(
    r"^\s*(?:sent from my [^\n]{1,40}+|get outlook for (?:ios|android)|"
    r"inviato da(?:l mio)? [^\n]{1,40}+|verzonden (?:met|vanaf) mijn [^\n]{1,40}+|"
    r"verstuurd vanaf mijn [^\n]{1,40}+|отправлено с [^\n]{1,40}+|"
    r"von meinem [^\n]{1,40} gesendet|envoyé de mon [^\n]{1,40}+|"
    r"enviado desde mi [^\n]{1,40}+|发自我的[^\n]{1,40}+|從我的[^\n]{1,40}傳送)\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*[_\-=*]{5,}\s*$")


def _is_attribution(line: str) -> bool:
    line = line.rstrip()  # the patterns end at the colon: see _ATTRIBUTION
    return line.endswith((":", "：")) and bool(
        _ATTRIBUTION.match(line) or _ATTRIBUTION_RU.match(line)
    )


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
    following = next((lines[j] for j in range(start, len(lines)) if lines[j].strip()), "")
    return following.startswith(">")


def _header_block(lines: Sequence[str], i: int) -> bool:
    """Outlook's "From: ... Sent: ..." block that starts a quoted message."""
    return bool(_FROM_LINE.match(lines[i])) and any(
        _SENT_LINE.match(line) for line in lines[i + 1 : i + 5]
    )


def _cut(lines: Sequence[str]) -> tuple[int, bool, set[int]]:
    """(where the history or signature starts, whether it is a signature, attribution lines
    to drop because their quote follows as '>' lines)."""
    dropped: set[int] = set()
    for i, line in enumerate(lines):
        if line.startswith(">") or i in dropped or not line.strip():  # nothing to find in blanks
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
    """The lines without trailing spaces, at most one blank line in a row, none around them,
    nor Outlook's rule above its block at the end."""
    kept: list[str] = []
    for line in (line.rstrip() for line in lines):
        if line or (kept and kept[-1]):
            kept.append(line)
    while kept and (not kept[-1] or _RULE.match(kept[-1])):
        kept.pop()
    if kept:
        kept[0] = kept[0].lstrip()
    return "\n".join(kept)


def new_text(text: str) -> tuple[str, str]:
    """(what is new in a mail body, its signature): quoted history and attributions go."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut, signature, dropped = _cut(lines)
    kept = [
        line for i, line in enumerate(lines[:cut]) if i not in dropped and not line.startswith(">")
    ]
    tail = _signature(lines[cut : cut + 12]) if signature else []
    return _tidy(kept), _tidy(tail)[:1000]


def _signature(lines: Sequence[str]) -> list[str]:
    """The signature's own lines: up to the history that often follows it."""
    for i in range(1, len(lines)):
        line = lines[i]
        if (
            line.startswith(">")
            or _RULE.match(line)
            or _ORIGINAL.match(line)
            or _header_block(lines, i)
            or _attribution_at(lines, i)
        ):
            return list(lines[:i])
    return list(lines)
