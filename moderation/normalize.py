"""Text normalization before toxicity scoring: the one place where evasion tricks are undone.

Abusive customers dodge word lists with look-alike letters, leetspeak, spaced-out
letters and stretched words. Every classifier backend reads text through
`normalize`, and the lexicon folds its own patterns through it too, so a trick
undone here is undone for every word list at once. The output is for matching
only: what the customer wrote is stored untouched.

The steps, in order (each is cheap and precompiled; most are skipped when the
text cannot need them, e.g. pure ASCII skips the Unicode steps):

1. Bounded window: a text longer than `window` characters is read as its first
   three quarters of the window plus its last quarter (abuse sits in the greeting
   or in the sign-off of a long rant as often as anywhere), and `truncated` says so.
2. Lone surrogates (from broken JSON or email decoding) become U+FFFD; a valid
   surrogate pair is joined into its character.
3. Unicode NFKC (full-width, circled and mathematical letters -> plain ones),
   then case folding.
4. One `str.translate` table: control, format, zero-width and bidi characters
   deleted (a right-to-left override cannot reorder or hide a word), combining
   marks deleted (zalgo text), accents stripped from Latin letters (`ïdïöt`),
   except `ñ`, so Spanish `año` never becomes another word;
   Cyrillic `ё`->`е` and `й`->`и`; typographic apostrophes -> `'`; tabs and
   carriage returns -> space. Zero-width joiners and variation selectors are
   only removed next to letters, so emoji sequences survive.
5. Confusables: inside a word that mixes scripts, Cyrillic/Greek look-alikes
   become Latin when every foreign letter has a Latin twin (`іdіоt`), otherwise
   Latin look-alikes become Cyrillic (`идиoт`, `xyй`). A word written only in
   look-alikes of the other script is folded to the text's majority script.
6. Letters split by spaces, dots, dashes or underscores are joined
   (`i d i o t`, `s.t.u.p.i.d`, `i-d-i-o-t`); Chinese characters lose the
   spaces or dots between them (Chinese is written without spaces).
7. Leetspeak inside words (`1d10t`, `@ss`, `$tupid`, `5hit`, `b!tch`, `п1д0р`).
   Real numbers are left alone: tokens without letters, number+unit (`5kw`,
   `230v`, `3rd`), codes with a run of three digits or a digit that leetspeak does
   not use (`sun2000`, `a1b2c3`), and email addresses.
8. Runs of three or more of the same letter: a vowel run becomes one letter,
   a consonant run two (`stuuupid` -> `stupid`, `idiooots` -> `idiots`,
   `asssss` -> `ass`, `killlll` -> `kill`). The lexicon lets each letter of a
   pattern match once or twice, so `stuupid` matches too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_WINDOW = 4000

_VOWELS = frozenset("aeiouyаеиоуыэюяєіїαεηιουω")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CYR_GR = "\u0370-\u03ff\u0400-\u052f"


@dataclass(frozen=True)
class Normalized:
    """The text to match against, and whether only a bounded window of it was read."""

    text: str
    truncated: bool


def _ranges(*spans: tuple[int, int]) -> Iterator[int]:
    for lo, hi in spans:
        yield from range(lo, hi + 1)


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in _ranges((0x00, 0x1F), (0x7F, 0x9F)):  # C0/C1 controls
        table[cp] = None
    for ch in "\t\r\x0b\x0c\x1c\x1d\x1e\x1f\x85":
        table[ord(ch)] = " "
    del table[ord("\n")]  # a line break ends a clause; keep it
    for cp in _ranges((0x2028, 0x2029)):
        table[cp] = " "
    # Format characters: soft hyphen, zero-width and bidi marks/overrides/isolates, BOM, tags.
    for cp in _ranges((0xAD, 0xAD), (0x61C, 0x61C), (0x180E, 0x180E), (0x200B, 0x200C),
                      (0x200E, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
                      (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
                      (0x1D173, 0x1D17A), (0xE0000, 0xE007F)):
        table[cp] = None
    # Combining marks (zalgo, stacked accents); variation selectors are handled beside letters.
    for cp in _ranges((0x300, 0x36F), (0x483, 0x489), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF),
                      (0x20D0, 0x20FF), (0xFE20, 0xFE2F)):
        table[cp] = None
    for cp in _ranges((0xC0, 0x24F), (0x1E00, 0x1EFF)):
        base = unicodedata.normalize("NFD", chr(cp))[0]
        if base.isascii() and base.isalpha() and base != chr(cp):
            table[cp] = base.lower()
    for ch in "ñÑ":
        table.pop(ord(ch), None)
    table.update({ord(k): v for k, v in {
        "ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "œ": "oe", "æ": "ae", "ð": "d",
        "ё": "е", "й": "и", "’": "'", "‘": "'", "‛": "'", "ʼ": "'", "`": "'", "´": "'",
        "′": "'", "＇": "'"}.items()})
    return table


_TABLE = _build_table()
_NEEDS_TABLE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_TABLE)) + "]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JOINER_BESIDE_LETTER = re.compile(r"(?<=\w)[\u200d\ufe00-\ufe0f]+|[\u200d\ufe00-\ufe0f]+(?=\w)")

_TO_LATIN = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ӏ": "l",
    "ԛ": "q", "ԝ": "w", "ү": "y", "һ": "h", "ь": "b", "п": "n", "α": "a", "β": "b", "ε": "e",
    "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "γ": "y", "ς": "s", "ω": "w"})
_TO_CYRILLIC = str.maketrans({
    "a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "i": "и", "k": "к", "m": "м", "n": "п",
    "o": "о", "p": "р", "r": "г", "t": "т", "u": "и", "x": "х", "y": "у", "і": "и", "ї": "и"})
_LATIN_LETTER = re.compile("[a-z]")
_CYR_GR_LETTER = re.compile(f"[{_CYR_GR}]")
_NON_CYRILLIC_LETTER = re.compile("[a-z\u0370-\u03ff]")
_MIXED_WORD = re.compile(rf"(?<!\w)(?=\w*?[a-z])(?=\w*?[{_CYR_GR}])\w+")
_LOOKALIKE_CYR_GR_WORD = re.compile(
    "(?<!\\w)[" + "".join(chr(k) for k in _TO_LATIN) + "]+(?!\\w)")
_LOOKALIKE_LATIN_WORD = re.compile(
    "(?<!\\w)[" + "".join(chr(k) for k in _TO_CYRILLIC if chr(k).isascii()) + "]+(?!\\w)")

_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[\s._\-*·・]+(?=[{_CJK}])")
_UNIT_CHAR = r"(?:[^\W_]|[@$])"
_SPLIT_LETTERS = re.compile(
    rf"(?<![\w@$]){_UNIT_CHAR}(?P<sep>[ ]*[._\-][ ]*|[ ]+){_UNIT_CHAR}"
    rf"(?:(?P=sep){_UNIT_CHAR})+(?![\w@$])")

_LEET_TOKEN = re.compile(r"(?<![\w@$!|])(?=[\w@$!|]*?[0-9@$!|])[\w@$!|]+")
_LEET_LATIN = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                             "9": "g", "@": "a", "$": "s", "!": "i", "|": "i"})
_LEET_CYRILLIC = str.maketrans({"0": "о", "1": "и", "3": "з", "4": "ч", "6": "б", "9": "я",
                                "@": "а", "$": "с", "!": "и", "|": "и"})
_NOT_LEET_LATIN = re.compile(r"\d{3}|[268]")
_NOT_LEET_CYRILLIC = re.compile(r"\d{3}|[2578]")
_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC_LETTER = re.compile("[\u0400-\u052f]")
_NUMBER_WITH_UNIT = re.compile(
    r"\d+(?:k|kw|kwh|kwp|kva|kvar|w|wh|wp|mw|mwh|gw|gwh|v|kv|mv|a|ah|mah|ma|hz|khz|mhz|ghz"
    r"|km|m|m2|cm|mm|kg|g|mg|t|l|ml|h|hr|hrs|min|s|ms|d|st|nd|rd|th|x|pcs|gb|mb|tb|kb|eur"
    r"|usd|gbp|chf|rub|am|pm|y|yr|yrs|mo|c|f|gg|квт|вт|кв|км|кг|м|ч|мин|шт|руб|р|г|й|я|е)")
_CODE_NEIGHBOUR_BEFORE = re.compile(r"\d\w*[-/]$")
_CODE_NEIGHBOUR_AFTER = re.compile(r"[-/]\w*\d")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")


def normalize(text: str, window: int = DEFAULT_WINDOW) -> Normalized:
    """Fold `text` for matching; see the module docstring for each step and why."""
    truncated = len(text) > window
    if truncated:
        head = window - window // 4
        text = f"{text[:head]}\n{text[len(text) - window // 4:]}"
    if text.isascii():
        text = text.lower()
        if _NEEDS_TABLE.search(text):
            text = text.translate(_TABLE)
    else:
        text = _fold_unicode(text)
    return Normalized(_fold_tricks(text), truncated)


def _fold_unicode(text: str) -> str:
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = unicodedata.normalize("NFKC", text).casefold()
    if _NEEDS_TABLE.search(text):
        text = text.translate(_TABLE)
    if "\u200d" in text or "\ufe0f" in text:
        text = _JOINER_BESIDE_LETTER.sub("", text)
    if _CYR_GR_LETTER.search(text) and _LATIN_LETTER.search(text):
        text = _fold_confusables(text)
    if _CJK_CHAR.search(text):
        text = _CJK_GAP.sub("", text)
    return text


def _fold_tricks(text: str) -> str:
    text = _SPLIT_LETTERS.sub(_join_letters, text)
    text = _LEET_TOKEN.sub(_fold_leet, text)
    return _REPEATS.sub(_collapse, text)


def _fold_confusables(text: str) -> str:
    text = _MIXED_WORD.sub(_fold_mixed_word, text)
    latin = len(_LATIN_LETTER.findall(text))
    foreign = len(_CYR_GR_LETTER.findall(text))
    if latin > foreign:
        return _LOOKALIKE_CYR_GR_WORD.sub(lambda m: m.group().translate(_TO_LATIN), text)
    return _LOOKALIKE_LATIN_WORD.sub(lambda m: m.group().translate(_TO_CYRILLIC), text)


def _fold_mixed_word(match: re.Match[str]) -> str:
    """Fold a word that mixes scripts into the one script all its letters can be read in."""
    word = match.group()
    as_latin = word.translate(_TO_LATIN)
    latin_ok = not _CYR_GR_LETTER.search(as_latin)
    as_cyrillic = word.translate(_TO_CYRILLIC)
    cyrillic_ok = not _NON_CYRILLIC_LETTER.search(as_cyrillic)
    if latin_ok and cyrillic_ok:  # every letter has a twin: the majority decides
        latin_count = len(_LATIN_LETTER.findall(word))
        return as_latin if latin_count * 2 >= len(_LETTER.findall(word)) else as_cyrillic
    if latin_ok:
        return as_latin
    return as_cyrillic if cyrillic_ok else word


def _join_letters(match: re.Match[str]) -> str:
    joined = match.group().replace(match.group("sep"), "")
    return joined if len(_LETTER.findall(joined)) >= 2 else match.group()


def _fold_leet(match: re.Match[str]) -> str:
    token = match.group()
    core = token.rstrip("!|")
    if not _LETTER.search(core) or _NUMBER_WITH_UNIT.fullmatch(core):
        return token
    if "@" in core and match.string.startswith(".", match.end()):
        return token  # an email address
    if _is_code_part(match.string, match.start(), match.end()):
        return token  # one part of a hyphenated model code: sun2000-5ktl
    cyrillic = _CYRILLIC_LETTER.search(core) is not None
    if (_NOT_LEET_CYRILLIC if cyrillic else _NOT_LEET_LATIN).search(core):
        return token  # a serial, model or order code
    return core.translate(_LEET_CYRILLIC if cyrillic else _LEET_LATIN) + token[len(core):]


def _is_code_part(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 8):start]
    after = text[end:end + 8]
    return bool(_CODE_NEIGHBOUR_BEFORE.search(before) or _CODE_NEIGHBOUR_AFTER.match(after))


def _collapse(match: re.Match[str]) -> str:
    letter = match.group(1)
    return letter if letter in _VOWELS else letter * 2
