"""A 64-bit SimHash of a message's words, so near-identical texts land a few bits apart.

Collapse must see "Where is my refund??" and "where is my refund!!! 😡" as the same
message even when they come from different channels, without keeping the texts
themselves in Redis.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_CHARS = 3
_SHINGLE = 3


def normalize(text: str) -> str:
    """Case, width and punctuation do not make a message new."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def _shingles(text: str) -> list[str]:
    if len(text) <= _SHINGLE:
        return [text]
    return [text[i : i + _SHINGLE] for i in range(len(text) - _SHINGLE + 1)]


def simhash(text: str) -> int | None:
    """None when the text is too short to say anything about repetition."""
    norm = normalize(text)
    if len(norm) < _MIN_CHARS:
        return None
    weights = [0] * 64
    for shingle in _shingles(norm):
        digest = int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if digest >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()
