# ruff: noqa: RUF001, RUF002 -- look-alike letters are this module's subject
"""Text normalization before toxicity scoring: the one place where evasion tricks are undone.

Abusive customers dodge word lists with look-alike letters, leetspeak, spaced-out
letters and stretched words. Every classifier backend reads text through
`normalize`, and the lexicon folds its own patterns through it too, so a trick
undone here is undone for every word list at once. The output is for matching
only: what the customer wrote is stored untouched.

The steps, in order. Each is one precompiled regex or str method, and most run
only when a cheap check says the text needs them (pure ASCII skips the Unicode
steps; a text with no digit beside a letter skips leetspeak): together they cost
a few tens of microseconds on a typical complaint.

1. Bounded window: a text longer than `window` characters (default 4000, far
   more than any real complaint) is read as the first three quarters of the
   window plus the last quarter, joined by a line break: abuse sits in the
   greeting or in the sign-off of a long rant as often as anywhere, and the cost
   of a 1 MB paste stays that of 4000 characters. `truncated` says so.
2. Lone surrogates (broken JSON or email decoding) become U+FFFD; a valid
   surrogate pair becomes its character.
3. Unicode compatibility decomposition (NFKD: all that NFKC folds, so full-width,
   circled and mathematical letters become plain ones, and accents come apart
   from their letters), case folding, then one regex deletes combining marks
   (`ïdïöt`, zalgo text; Cyrillic `й`->`и`, `ё`->`е`; Spanish `ñ`->`n`, like every
   accent), control characters and format characters: zero-width characters,
   soft hyphens, bidi marks, overrides and isolates, so a right-to-left override
   can neither hide nor reorder a word. Tabs and carriage returns become spaces,
   line breaks stay (they end a clause), typographic apostrophes become `'`.
   Zero-width joiners and variation selectors go only next to letters, so emoji
   sequences survive whole.
4. Confusables: inside a word that mixes scripts, every letter is read in the
   text's own script when it can be (`іdіоt` in English, `идиoт` in Russian),
   else in the other one (`xyй`). The text's script is the one with more letters
   that have no look-alike; a word written only in look-alikes of the other
   script (`cyka` in a Russian text) is folded into it too.
5. Chinese characters lose the spaces or dots between them (Chinese is written
   without spaces, so `傻 逼` can only be evasion).
6. Letters split by spaces, dots, dashes or underscores are joined when at least
   three single letters are split the same way (`i d i o t`, `s.t.u.p.i.d`,
   `i-d-i-o-t`); spaced digits alone (`3 4 5 6`) stay apart. Before that, chunks of
   one to three letters split by dots, underscores or stars are joined when most of
   them are single letters (`st_u_p_i_d`, `id.i.o.t`, `s*c*a*m`), and a dot after the
   last letter goes with them when a space follows (`S.T.U.P.I.D. people` ->
   `stupid people`: that dot spells, it does not end a sentence): abbreviations
   (`e.g.`, `S.p.A.` -> `spa`), domains, decimals and `snake_case` stay apart.
7. Leetspeak inside words (`1d10t`, `@ss`, `$tupid`, `5hit`, `b!tch`, `п1д0р`).
   Real numbers are left alone: tokens without letters, number+unit (`5kw`,
   `230v`, `3rd`), codes with a run of three digits or a digit that leetspeak does
   not use (`sun2000`, `a1b2c3`), parts of hyphenated codes (`sun2000-5ktl`) and
   email addresses.
8. Runs of three or more of the same letter: a vowel run becomes one letter,
   a consonant run two (`stuuupid` -> `stupid`, `idiooots` -> `idiots`,
   `asssss` -> `ass`, `killlll` -> `kill`). The lexicon lets each letter of a
   pattern match once or twice, so `stuupid` matches too.

A letter replaced by a symbol (`f*ck`, `a**hole`, `sh_t`) cannot be guessed by a
rewrite: `Unmasker` undoes it against a word list (the lexicon passes its own), after
`fold`, and only in texts with a symbol inside a word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

DEFAULT_WINDOW = 4000

_VOWELS = frozenset("aeiouyаеиоуыэюяєіїαεηιουω")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CYR_GR = "\u0370-\u03ff\u0400-\u052f"


@dataclass(frozen=True)
class Normalized:
    """The text to match against, and whether only a bounded window of it was read."""

    text: str
    truncated: bool


# Controls, format characters (zero-width, bidi marks, overrides and isolates, BOM) and
# combining marks; all in the BMP so the class compiles to a bitmap. Tabs and carriage
# returns become spaces first; a line break is kept (it ends a clause).
_DROP = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200c\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
_ASCII_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_LETTER_FOLDS = {
    "ø": "o",
    "đ": "d",
    "ł": "l",
    "ħ": "h",
    "ı": "i",
    "œ": "oe",
    "æ": "ae",
    "ð": "d",
    "’": "'",
    "‘": "'",
    "‛": "'",
    "ʼ": "'",
    "´": "'",
    "′": "'",
    "＇": "'",
    "`": "'",
    "\u2028": "\n",
    "\u2029": "\n",
}
_NEEDS_FOLD = re.compile("[" + "".join(_LETTER_FOLDS) + "]")
_JOINER_BESIDE_LETTER = re.compile(r"(?<=\w)[\u200d\ufe00-\ufe0f]+|[\u200d\ufe00-\ufe0f]+(?=\w)")

_TO_LATIN = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "ӏ": "l",
        "ԛ": "q",
        "ԝ": "w",
        "ү": "y",
        "һ": "h",
        "ь": "b",
        "п": "n",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "γ": "y",
        "ς": "s",
        "ω": "w",
    }
)
_TO_CYRILLIC = str.maketrans(
    {
        "a": "а",
        "b": "в",
        "c": "с",
        "e": "е",
        "h": "н",
        "i": "и",
        "k": "к",
        "m": "м",
        "n": "п",
        "o": "о",
        "p": "р",
        "r": "г",
        "t": "т",
        "u": "и",
        "x": "х",
        "y": "у",
        "і": "и",
        "ї": "и",
    }
)
_LATIN_LETTER = re.compile("[a-z]")
_CYR_GR_LETTER = re.compile(f"[{_CYR_GR}]")
_NON_CYRILLIC_LETTER = re.compile("[a-z\u0370-\u03ff]")
# Letters with no look-alike in the other script tell which script a text is written in.
_PLAIN_LATIN = re.compile("[dfgjlqsvwz]")
_PLAIN_CYR_GR = re.compile("[бгджзилфцчшщъыэюяδζθλξπσφψ]")
_MIXED_PAIR = re.compile(f"[a-z][{_CYR_GR}]|[{_CYR_GR}][a-z]")
_MIXED_WORD = re.compile(rf"(?<!\w)(?=\w*?[a-z])(?=\w*?[{_CYR_GR}])\w+")
_LOOKALIKE_CYR_GR_WORD = re.compile("(?<!\\w)[" + "".join(chr(k) for k in _TO_LATIN) + "]+(?!\\w)")
_LOOKALIKE_LATIN_WORD = re.compile(
    "(?<!\\w)[" + "".join(chr(k) for k in _TO_CYRILLIC if chr(k).isascii()) + "]+(?!\\w)"
)

_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[\s._\-*·・]+(?=[{_CJK}])")
_UNIT_CHAR = r"(?:[^\W_]|[@$])"
_MAYBE_SPLIT = re.compile(r"[ ._\-]\w[ ._\-]+\w[ ._\-]+\w(?!\w)")
_SPLIT_LETTERS = re.compile(
    rf"(?<![\w@$]){_UNIT_CHAR}(?P<sep>[ ]*[._\-][ ]*|[ ]+){_UNIT_CHAR}"
    rf"(?:(?P=sep){_UNIT_CHAR})+(?![\w@$])"
)

# Short chunks of letters split by dots, underscores or stars: `st_u_p_i_d`, `id.i.o.t`.
_UNIT = r"(?:[^\W_]|[@$])"
_MASKED_SPLIT = re.compile(
    rf"(?<![\w@$.*]){_UNIT}{{1,3}}(?:[._*]+{_UNIT}{{1,3}}){{2,}}(?:\.(?=\s))?(?![\w@$*])"
)
_MASKED_SEP = re.compile(r"[._*]+")
# Cheap first: a charset-led regex is scanned fast, the full one only runs on a hit.
_MAYBE_MASKED_SPLIT = re.compile(rf"[._*]{_UNIT}{{1,3}}[._*]")
# A letter hidden behind a symbol inside a word: `f*ck`, `a**hole`, `sh_t`, `c#nt`.
_MASK_IN_WORD = re.compile(r"[*#_](?:(?<=[^\W_].)|(?=[^\W_]))")
_MASKED_WORD = re.compile(r"(?<![\w*#])[\w*#]*[*#_][\w*#]*")
_MASK_RUN = re.compile(r"[*#_]+")
_MIN_MASKED_WORD = 4  # shorter list words are too easy to hit by accident (`f**`)

_LEET_CHAR = "01345679@$!|"
# A leetspeak character touching a letter, and not inside a run of three digits (a code).
_MAYBE_LEET = re.compile(rf"[{_LEET_CHAR}](?<!\d\d.)(?!\d\d)(?:(?<=[^\W\d_].)|(?=[^\W\d_]))")
_HAS_LEET = re.compile(f"[{_LEET_CHAR}]")
_TOKEN_REST = re.compile(r"[\w@$!|]*")
_LEET_LATIN = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "i",
    }
)
_LEET_CYRILLIC = str.maketrans(
    {
        "0": "о",
        "1": "и",
        "3": "з",
        "4": "ч",
        "6": "б",
        "9": "я",
        "@": "а",
        "$": "с",
        "!": "и",
        "|": "и",
    }
)
_NOT_LEET_LATIN = re.compile(r"\d{3}|[268]")
_NOT_LEET_CYRILLIC = re.compile(r"\d{3}|[2578]")
_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC_LETTER = re.compile("[\u0400-\u052f]")
_NUMBER_WITH_UNIT = re.compile(
    r"\d+(?:k|kw|kwh|kwp|kva|kvar|w|wh|wp|mw|mwh|gw|gwh|v|kv|mv|a|ah|mah|ma|hz|khz|mhz|ghz"
    r"|km|m|m2|cm|mm|kg|g|mg|t|l|ml|h|hr|hrs|min|s|ms|d|st|nd|rd|th|x|pcs|gb|mb|tb|kb|eur"
    r"|usd|gbp|chf|rub|am|pm|y|yr|yrs|mo|c|f|gg|квт|вт|кв|км|кг|м|ч|мин|шт|руб|р|г|й|я|е)"
)
_CODE_NEIGHBOUR_BEFORE = re.compile(r"\d\w*[-/]$")
_CODE_NEIGHBOUR_AFTER = re.compile(r"[-/]\w*\d")
_MAYBE_REPEATS = re.compile(r"(.)\1\1", re.DOTALL)
_REPEATS = re.compile(r"(\w)\1\1+")


def normalize(text: str, window: int = DEFAULT_WINDOW) -> Normalized:
    """Fold `text` for matching; see the module docstring for each step and why."""
    return Normalized(*fold(text, window))


def fold(text: str, window: int = DEFAULT_WINDOW) -> tuple[str, bool]:
    """`normalize` as a plain (text, truncated) pair, for the classifier's hot loop."""
    truncated = len(text) > window
    if truncated:
        head = window - window // 4
        text = f"{text[:head]}\n{text[len(text) - window // 4 :]}"
    for space in "\t\r":
        if space in text:
            text = text.replace(space, " ")
    if text.isascii():
        text = text.lower().replace("`", "'")
        if not text.isprintable() and not text.replace("\n", " ").isprintable():
            text = _ASCII_DROP.sub("", text)
    else:
        text = _fold_unicode(text)
    return _fold_tricks(text), truncated


def _fold_unicode(text: str) -> str:
    try:
        wide = len(text.encode("utf-16-le")) > 2 * len(text)  # characters beyond the BMP
    except UnicodeEncodeError:  # lone surrogates; a valid pair becomes its character
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        wide = True
    if "№" in text:
        text = text.replace("№", "#")
    if not unicodedata.is_normalized("NFKD", text):
        text = unicodedata.normalize("NFKD", text)
    text = text.casefold()
    if _NEEDS_FOLD.search(text):
        text = _NEEDS_FOLD.sub(lambda m: _LETTER_FOLDS[m.group()], text)
    if "\u200d" in text or "\ufe0f" in text:
        text = _JOINER_BESIDE_LETTER.sub("", text)
    if _DROP.search(text):
        text = _DROP.sub("", text)
    if wide:
        text = _TAGS.sub("", text)
    if _CYR_GR_LETTER.search(text) and _LATIN_LETTER.search(text):
        text = _fold_confusables(text)
    if _CJK_CHAR.search(text):
        text = _CJK_GAP.sub("", text)
    return text


def _fold_tricks(text: str) -> str:
    if _MAYBE_MASKED_SPLIT.search(text):
        text = _MASKED_SPLIT.sub(_join_chunks, text)
    if _MAYBE_SPLIT.search(f" {text}"):
        text = _SPLIT_LETTERS.sub(_join_letters, text)
    if _MAYBE_LEET.search(text):
        text = _fold_leet(text)
    if _MAYBE_REPEATS.search(text) and any(
        m.group(1).isalpha() for m in _MAYBE_REPEATS.finditer(text)
    ):
        text = _REPEATS.sub(_collapse, text)
    return text


def _fold_confusables(text: str) -> str:
    """Fold look-alikes into the text's script: the one with more letters that have no twin."""
    latin_text = len(_PLAIN_LATIN.findall(text)) >= len(_PLAIN_CYR_GR.findall(text))
    if _MIXED_PAIR.search(text):
        text = _MIXED_WORD.sub(partial(_fold_mixed_word, latin_text=latin_text), text)
    if latin_text:
        return _LOOKALIKE_CYR_GR_WORD.sub(lambda m: m.group().translate(_TO_LATIN), text)
    return _LOOKALIKE_LATIN_WORD.sub(lambda m: m.group().translate(_TO_CYRILLIC), text)


def _fold_mixed_word(match: re.Match[str], latin_text: bool) -> str:
    """Fold a word that mixes scripts into a script all its letters can be read in."""
    word = match.group()
    as_latin = word.translate(_TO_LATIN)
    latin_ok = not _CYR_GR_LETTER.search(as_latin)
    as_cyrillic = word.translate(_TO_CYRILLIC)
    cyrillic_ok = not _NON_CYRILLIC_LETTER.search(as_cyrillic)
    if latin_ok and (latin_text or not cyrillic_ok):
        return as_latin
    return as_cyrillic if cyrillic_ok else word


def _join_letters(match: re.Match[str]) -> str:
    joined = match.group().replace(match.group("sep"), "")
    return joined if len(_LETTER.findall(joined)) >= 2 else match.group()


def _join_chunks(match: re.Match[str]) -> str:
    """Joined only when most chunks are single letters: `no.of.pcs` or a domain stays."""
    chunks = _MASKED_SEP.split(match.group())
    if not chunks[-1]:  # the dot after the last letter of `S.T.U.P.I.D.` spells, ends nothing
        chunks.pop()
    singles = sum(len(chunk) == 1 for chunk in chunks)
    joined = "".join(chunks)
    if singles * 2 < len(chunks) or singles < 2 or len(_LETTER.findall(joined)) < 2:
        return match.group()
    return joined


class Unmasker:
    """Reads a word with letters hidden behind symbols as the word of a list it can only be.

    `f*ck` or `a**hole` cannot be undone by rewriting characters: the hidden letters are
    unknown. A word list can undo it: each run of k symbols stands for up to k + 1 letters
    (`f*tre` is `foutre`; none when a symbol is pushed between letters: `id*iot`), and the
    masked word becomes the list word it matches. Words the list does not know stay as written, so
    `order_id`, `*great*` and `5*3` are untouched. Only texts with a symbol inside a word
    pay for it.
    """

    def __init__(self, words: Iterable[str]) -> None:
        """`words` in order of preference: a masked word that fits several (`f*ck`: fuck,
        fick) becomes the first. `word*` stands for every word it starts."""
        closed: dict[str, None] = {}
        stems: dict[str, None] = {}
        for word in words:
            core = word.rstrip("*")
            if len(core) >= _MIN_MASKED_WORD and core.isalpha():
                (stems if word.endswith("*") else closed)[core] = None
        self._closed = "\n".join(closed)
        self._stems = "\n".join(stems)

    def __call__(self, text: str) -> str:
        if not ("*" in text or "#" in text or "_" in text) or not _MASK_IN_WORD.search(text):
            return text
        return _MASKED_WORD.sub(self._resolve, text)

    def _resolve(self, match: re.Match[str]) -> str:
        token = match.group()
        core = token.strip("*#_")
        letters = len(_LETTER.findall(core))
        if letters < 2 or not _MASK_RUN.search(core):
            return token
        found = re.search(f"^{_masked_regex(core)}$", self._closed, re.MULTILINE)
        if found:
            return found.group()
        last = max(m.end() for m in _MASK_RUN.finditer(core))
        for cut in range(len(core), last - 1, -1):
            found = re.search(f"^{_masked_regex(core[:cut])}$", self._stems, re.MULTILINE)
            if found:
                return found.group() + core[cut:]
        return token


def _masked_regex(token: str) -> str:
    pieces = []
    for part in re.split(r"([*#_]+)", token):
        if not part:
            continue
        if _MASK_RUN.fullmatch(part):
            pieces.append(rf"\w{{0,{len(part) + 1}}}")
        else:
            pieces.append(re.escape(part))
    return "".join(pieces)


def _fold_leet(text: str) -> str:
    """Rewrite only the tokens where a leetspeak character touches a letter."""
    pieces: list[str] = []
    done = 0
    for match in _MAYBE_LEET.finditer(text):
        if match.start() < done:
            continue  # a later character of a token already rewritten
        start = match.start()
        while start > done and (text[start - 1].isalnum() or text[start - 1] in "_@$!|"):
            start -= 1
        rest = _TOKEN_REST.match(text, match.start())
        end = rest.end() if rest else match.end()
        pieces += [text[done:start], _fold_leet_token(text, start, end)]
        done = end
    return "".join(pieces) + text[done:] if pieces else text


def _fold_leet_token(text: str, start: int, end: int) -> str:
    token = text[start:end]
    core = token.rstrip("!|")
    if not _HAS_LEET.search(core):
        return token  # "grazie!"
    cyrillic = _CYRILLIC_LETTER.search(core) is not None
    if (_NOT_LEET_CYRILLIC if cyrillic else _NOT_LEET_LATIN).search(core):
        return token  # a serial, model or order code
    if _NUMBER_WITH_UNIT.fullmatch(core) or not _LETTER.search(core):
        return token
    if "@" in core and text.startswith(".", end):
        return token  # an email address
    if _is_code_part(text, start, end):
        return token  # one part of a hyphenated model code: sun2000-5ktl
    return core.translate(_LEET_CYRILLIC if cyrillic else _LEET_LATIN) + token[len(core) :]


def _is_code_part(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 8) : start]
    after = text[end : end + 8]
    return bool(_CODE_NEIGHBOUR_BEFORE.search(before) or _CODE_NEIGHBOUR_AFTER.match(after))


def _collapse(match: re.Match[str]) -> str:
    letter = match.group(1)
    if not letter.isalpha():
        return match.group()  # digits: 10000 stays 10000
    return letter if letter in _VOWELS else letter * 2
