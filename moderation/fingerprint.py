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
    """None when the text is too short to say anything about repetition.

    Bit `b` of the result is set when more than half of the shingles' 64-bit blake2b
    digests have it set. The votes are counted per byte position rather than per digest
    and bit in Python: byte k of every 8-byte digest is gathered into one integer, and
    `ones` has the lowest bit of each of its bytes set, so `(column & ones << b)` keeps
    bit b of byte k of every digest. Counted from the top bit down, the votes spell the
    result (the digests are big-endian).
    """
    norm = normalize(text)
    if len(norm) < _MIN_CHARS:
        return None
    shingles = _shingles(norm)
    votes = len(shingles)
    known = _DIGESTS
    digests = b"".join([known.get(s) or _digest(s) for s in shingles])
    ones = int.from_bytes(b"\x01" * votes, "big")
    masks = [ones << b for b in range(7, -1, -1)]
    columns = [int.from_bytes(digests[k::8], "big") for k in range(8)]
    return int("".join(["1" if 2 * (column & mask).bit_count() > votes else "0"
                        for column in columns for mask in masks]), 2)


# Common shingles repeat from message to message, so their digests are kept: a plain
# dict read inline costs less than a cached function call, and is emptied when full.
_DIGESTS: dict[str, bytes] = {}
_MAX_DIGESTS = 1 << 16


def _digest(shingle: str) -> bytes:
    if len(_DIGESTS) >= _MAX_DIGESTS:
        _DIGESTS.clear()
    digest = _DIGESTS[shingle] = hashlib.blake2b(shingle.encode(), digest_size=8).digest()
    return digest


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()
