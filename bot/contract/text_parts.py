"""A reply cut into parts that each fit a provider's message-size limit.

Providers count a message's size their own way: Telegram in UTF-16 code units, Instagram
in bytes of UTF-8, Messenger and WhatsApp in characters. `size` measures a piece of text
that way; it must add up (the size of a text is the sum of its characters' sizes), as all
of these do.
"""

from __future__ import annotations

from collections.abc import Callable

Size = Callable[[str], int]


def utf16_units(text: str) -> int:
    """Telegram's measure: a character outside the BMP (an emoji) takes two units."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def utf8_bytes(text: str) -> int:
    return len(text.encode())


def split_text(text: str, limit: int, size: Size = len) -> list[str]:
    """Parts of at most `limit` (by `size`), cut at a paragraph, else a line, else a word,
    else wherever the limit falls (never inside a character). Blank text has no parts."""
    parts: list[str] = []
    rest = text.strip()
    while (fits := _fitting(rest, limit, size)) < len(rest):
        end, skip = _cut(rest[:fits])
        parts.append(rest[:end].rstrip())
        rest = rest[end + skip :].lstrip("\n")
    if rest:
        parts.append(rest)
    return parts


def _fitting(text: str, limit: int, size: Size) -> int:
    """How many characters of `text` fit in `limit` (at least one, so a cut moves on)."""
    used = 0
    for index, char in enumerate(text):
        used += size(char)
        if used > limit:
            return max(index, 1)
    return len(text)


def _cut(window: str) -> tuple[int, int]:
    """Where to end a part inside `window`, and how many separator characters to drop."""
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= len(window) // 2:  # never a part much shorter than it needs to be
            return at, len(separator)
    return len(window), 0
