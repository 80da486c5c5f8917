"""JSON from outside, with its nesting capped before anything parses it.

json's decoder recurses once per nested array or object, so a small body of
brackets (`[[[[...`) exhausts the stack and raises RecursionError, which is not a
ValueError and escapes every handler as a 500. `loads` counts the nesting first,
in one linear pass that skips strings, and refuses a document deeper than the cap
with `TooDeep`; what it lets through nests too little to hurt json, pydantic or
the database's JSON encoder. Every error it raises is a ValueError.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32

# What is not a bracket of the document: a string literal (escapes included; one left
# unterminated runs to the end of the text), or a run of anything else but a bracket.
# Every alternative starts with a different character, so matching never backtracks.
_NOT_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[^"\[\]{}]+', re.DOTALL)
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_CHUNK = 4096


class TooDeep(ValueError):
    """The document nests arrays and objects deeper than the cap."""


def depth(text: str, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in `text`, outside strings; once it
    passes `stop_above`, a depth past it (counting stops there: a bomb costs little).

    Only as exact as json needs: brackets that do not match make the count wrong, but
    json refuses such a text at the first of them, before nesting any deeper.
    """
    brackets = _NOT_BRACKET.sub("", text)
    current = deepest = 0
    for start in range(0, len(brackets), _CHUNK):  # the loops over brackets run in C
        levels = list(
            accumulate(map(_STEP.__getitem__, brackets[start : start + _CHUNK]), initial=current)
        )
        current, deepest = levels[-1], max(deepest, *levels)
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads, refusing (TooDeep) a document nested deeper than `max_depth` first.

    Bytes are decoded as json.loads decodes them (UTF-8, -16 or -32); bytes that are
    not text raise UnicodeDecodeError, a ValueError too.
    """
    if isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    opening = data.count("[") + data.count("{")  # counted in C: most bodies stop here
    if opening > max_depth and depth(data, stop_above=max_depth) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data)
