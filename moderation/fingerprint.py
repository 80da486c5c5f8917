"""A 64-bit SimHash of a message's words, so near-identical texts land a few bits apart.

Collapse must see "Where is my refund??" and "where is my refund!!! 😡" as the same
message even when they come from different channels, without keeping the texts
themselves in Redis.

The features are the character trigrams of each word padded with a space on both
sides (" refund " gives " re", "ref", ..., "nd "): trigrams forgive a typo or a
missing accent, and keeping them inside words lets a word's whole contribution be
cached, so a message costs one dictionary read per word. Word order does not count:
the same words shuffled are the same complaint.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
_ACCENTS = re.compile("[\u0300-\u036f]")  # combining diacritics, split off by NFKD
_MIN_CHARS = 3  # fewer letters than this say nothing about repetition
_BITS = 64

# Votes are counted in one big integer with a 16-bit lane per bit of the hash: adding
# two features' lane integers adds their votes lane by lane. A lane never carries into
# the next while it holds less than 2**15, so only the first 8 K characters are read.
_LANE = 16
_MAX_CHARS = 1 << 13
_ONES = sum(1 << (_LANE * i) for i in range(_BITS))
_TOPS = _ONES << (_LANE - 1)
_TO_LANES = str.maketrans("01", "\x00\x01")
_TO_BITS = bytes.maketrans(b"\x00\x80", b"01")
_MAX_CACHED_WORDS = 1 << 15


def words(text: str) -> list[str]:
    """Case, width, accents and punctuation do not make a message new."""
    folded = _ACCENTS.sub("", unicodedata.normalize("NFKD", text).casefold())
    return _WORD.findall(folded[:_MAX_CHARS])


def simhash(text: str) -> int | None:
    """None when the text is too short to say anything about repetition.

    Bit b of the result is set when more than half of the trigrams' 64-bit blake2b
    digests have bit b set. Adding `2**15 - 1 - votes // 2` to every lane lifts a lane
    to its top bit exactly when its count passes half the votes; the top bits, read
    from the highest lane down, spell the result.
    """
    found = words(text)
    votes = sum(map(len, found))  # a word of n letters has n padded trigrams
    if votes < _MIN_CHARS:
        return None
    total = sum(map(_WORD_LANES.__getitem__, found))
    biased = total + ((1 << (_LANE - 1)) - 1 - votes // 2) * _ONES
    tops = (biased & _TOPS).to_bytes(_BITS * _LANE // 8, "big")[::2]
    return int(tops.translate(_TO_BITS), 2)


def _lanes(trigram: str) -> int:
    """One vote per set bit of the trigram's digest, each in its own lane."""
    digest = hashlib.blake2b(trigram.encode(), digest_size=8).digest()
    bits = format(int.from_bytes(digest, "big"), f"0{_BITS}b")
    return int.from_bytes(
        ("\x00" + "\x00".join(bits)).translate(_TO_LANES).encode("latin-1"), "big"
    )


class _WordLanes(dict[str, int]):
    """A word's summed trigram lanes, computed on first sight and emptied when full."""

    def __missing__(self, word: str) -> int:
        if len(self) >= _MAX_CACHED_WORDS:
            self.clear()
        padded = f" {word} "
        lanes = self[word] = sum(_lanes(padded[i : i + 3]) for i in range(len(word)))
        return lanes


_WORD_LANES = _WordLanes()
