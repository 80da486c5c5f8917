"""Profanity from a maintained dictionary (glin-profanity, MIT), read into the lexicon.

Our own rule files carry what only rules can say (threats, blackmail, hate, who is the
target); the bare vocabulary of swearing changes faster than we would keep it up, so
it comes from glin-profanity's per-language dictionaries, pinned in pyproject.toml.

Those lists are written for chat filters, not for complaints: they hold words that
are profane only in some senses ("balle", "cappella", Chinese 奶 "milk"), short
words that collide with other languages ("con", "del", "gat"), and spellings that
our normalizer already derives ("a$$"). So an entry joins the lexicon only if
  - it is at least MIN_LETTERS letters long, doubled letters read once (two for
    Chinese, whose patterns match inside words), with no digits or symbols, and
    for Russian in Cyrillic (the list also transliterates), and
  - it is not on the exclusion list (moderation/lexicon/maintained_exclude.txt: the
    entries a reader found ambiguous, and those that fired on civil complaints in
    tests/moderation/test_wordlists.py),
and it joins as `aimed` (AIMED_WEIGHT): it counts only when a person is its target,
as our own words that people also say of things; aimed at nothing it scores
ambient, under every default threshold. An entry that holds its own "you" ("nique
ta mère", 你妈的) joins as `person`: its target is inside it. A word our own files
already list is left out: our rule for it stands, counted once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

SOURCE = "glin-profanity"
AIMED_WEIGHT = 0.8  # held (insult >= 0.7) when aimed at a person, ambient 0.4 otherwise
MIN_LETTERS = 4
MIN_CJK = 2
DICTIONARIES = {
    "en": "english",
    "it": "italian",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "nl": "dutch",
    "ru": "russian",
    "zh": "chinese",
}
_ALPHABETIC = re.compile(r"[^\W\d_]+(?:[ '\-][^\W\d_]+){0,3}")
_CJK = re.compile(r"[\u4e00-\u9fff]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff \-]+")
_DOUBLED = re.compile(r"(.)\1")
_ADDRESSED = {
    "en": re.compile(r"\b(?:you|your|my)\b"),
    "it": re.compile(r"\b(?:ti|tua|tuo|tu)\b|ami\b"),
    "de": re.compile(r"\b(?:du|dein|deine|dich)\b"),
    "fr": re.compile(r"\b(?:ta|ton|tes|toi|te)\b"),
    "es": re.compile(r"\b(?:tu|te|vete)\b"),
    "nl": re.compile(r"\b(?:je|jouw|jij|mijn)\b"),
    "ru": re.compile(r"\b(?:твою|тебя|твой|мою)\b"),
    "zh": re.compile(r"^(?:你|妳|您|干你|操你|日你|插你|射你|干死你|插死你|奸你|强奸你|想上你)"),
}


@cache
def excluded() -> frozenset[str]:
    """The entries we refuse, one per line, `#` comments."""
    text = (resources.files("moderation") / "lexicon" / "maintained_exclude.txt").read_text(
        encoding="utf-8"
    )
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line)


def words(lang: str) -> list[str]:
    """The dictionary's entries for one of our languages, as it ships them."""
    name = DICTIONARIES[lang]
    data = resources.files("glin_profanity") / "data" / "dictionaries" / f"{name}.json"
    listed: list[str] = json.loads(data.read_text(encoding="utf-8"))["words"]
    return listed


def usable(lang: str, word: str) -> bool:
    """Whether an entry is specific enough to stand in the lexicon (module docstring)."""
    if word in excluded():
        return False
    if lang == "zh":
        return _CJK.fullmatch(word) is not None and len(word) >= MIN_CJK
    if lang == "ru" and not _CYRILLIC.fullmatch(word):
        return False  # its Latin transliterations: texts arrive in Cyrillic
    # The lexicon matches each letter once or twice, so "coon" is also "con": count
    # the letters left when doubles are read once.
    letters = sum(char.isalpha() for char in _DOUBLED.sub(r"\1", word))
    return _ALPHABETIC.fullmatch(word) is not None and letters >= MIN_LETTERS


def maintained(langs: Iterable[str] = DICTIONARIES) -> list[tuple[str, str]]:
    """(language, word) for every usable entry; moderation.lexicon makes them rules."""
    found: list[tuple[str, str]] = []
    for lang in langs:
        for raw in words(lang):
            word = " ".join(raw.lower().split())
            if usable(lang, word):
                found.append((lang, word))
    return found


def addressed(lang: str, word: str) -> bool:
    """Whether the entry names its own target ("nique ta mère", 你妈的): such an entry
    is a `person` rule, since no "you" is left outside it to aim it."""
    return _ADDRESSED[lang].search(word) is not None
