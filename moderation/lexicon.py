"""The offline toxicity backend: multilingual word lists, matched after normalization.

It needs nothing but this package, so it is the embedded default whenever
Detoxify or its weights are missing. It must hold what a human moderator would
hold (insults, slurs, threats, blackmail) and let angry-but-civil customers
through, so a hit in the lists is judged by a few rules a moderator can read:

- Kinds of entry (the second column of the data files):
  `person`    names or curses a person by its nature ("idiot", "vaffanculo",
              "ti rovino", slurs): it counts wherever it appears.
  `aimed`     abusive words that people also aim at things ("garbage", "schifo",
              "stupid", "fuck"): they count only when a person is their target:
              a `target` word ("you", "voi", "вы", "jullie", "your technician")
              in the 4 words before the hit or inside it (and, for threats, in
              the 2 words after: "уничтожу вас"). Aimed at nothing or at a thing
              ("this inverter is garbage") they score AMBIENT times their weight,
              which stays under every default threshold.
  `group`     a protected group ("muslims", "ebrei"): scores nothing alone, so
              neutral or kind mentions pass; within the same clause and 60
              characters of a hostile hit (an insult, a threat or a `hostile`
              phrase such as "terrorists", "go back to") it scores
              identity_attack = group weight x hostility. A group is also a
              target for aimed words ("immigrants are garbage").
  `hostile`   dehumanizing phrases that only matter next to a group.
  `condition` "unless", "altrimenti", "иначе": a threat of harm made
              conditional on a demand is blackmail, so when the text threatens
              anything, the condition adds its weight to `threat`.
- Context that suppresses a hit (scores SUPPRESSED times its weight):
  `report`    the customer is quoting an insult to report it ("your technician
              called me an idiot", "mi ha dato dell'idiota"): a report phrase in
              the 6 words before the hit or the 3 after ("genoemd").
  `negation`  "not", "non", "не" in the 4 words before an insult ("I'm not
              calling you idiots"); for a threat only the word right before it
              or inside it, so "if you don't refund me I'll destroy you" still
              counts.
  `self`      the speaker talking about themselves ("I feel like an idiot",
              "mi prendete per un idiota"), 3 words before; insults only.
  Windows never cross a clause boundary (, . ! ? ; or a line break).
- Scores: per label, the direct hits combine as a noisy-or (1 - prod(1 - w),
  each rule counted once), then the strongest ambient or suppressed hit is added
  the same way; `toxicity` is at least the highest other label.

Data files: `moderation/lexicon/<lang>.tsv`, one rule per line,
`pattern<TAB>kind<TAB>label=weight,label=weight`; roles (target, negation,
report, self) take no weights. In a pattern, words are separated by spaces
(any run of spaces or punctuation inside a clause matches), `word*` matches
any ending (Russian and Italian morphology), `..` skips up to three words, and
`@name` expands a macro defined in the same file as `@name = a | b c | d`.
Patterns are folded through `normalize`, like the texts, and each of their
letters matches once or twice (`stuupid` is `stupid`). Alphabetic patterns match
whole words; Chinese patterns match anywhere.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from importlib import resources

from bot.ports import LABELS, Scores
from moderation.normalize import DEFAULT_WINDOW, normalize

AMBIENT = 0.5  # an aimed word with no person to aim at
SUPPRESSED = 0.25  # a reported, negated or self-directed insult
GROUP_REACH = 60  # characters between a group and a hostile hit

_BEFORE_TARGET, _BEFORE_THREAT_TARGET, _AFTER_THREAT_TARGET = 6, 4, 2
_BEFORE_REPORT, _AFTER_REPORT = 6, 3
_BEFORE_NEGATION, _BEFORE_SELF = 4, 3

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_VOWELS = frozenset("aeiouyаеиоуыэюяєіїαεηιουω")
_CLAUSE_END = ",.!?;\n，。！？；…"
_CLAUSE_END_RE = re.compile(f"[{re.escape(_CLAUSE_END)}]")
_TOKEN = re.compile(rf"[{_CJK}]{{1,2}}|[^\W{_CJK}]+(?:'[^\W{_CJK}]+)*")  # CJK: ~a word
_SEP = rf"[^\w{re.escape(_CLAUSE_END)}]+"
_GAP = rf"(?:{_SEP}\w+){{0,3}}?{_SEP}"
_CJK_GAP = rf"[^{re.escape(_CLAUSE_END)}]{{0,6}}?"
_MACRO = re.compile(r"@\w+")
_MACRO_LINE = re.compile(r"@\w+\s*=")


class Kind(Enum):
    PERSON = "person"
    AIMED = "aimed"
    GROUP = "group"
    HOSTILE = "hostile"
    CONDITION = "condition"
    TARGET = "target"
    NEGATION = "negation"
    REPORT = "report"
    SELF = "self"
    LINK = "link"


_ROLES = (Kind.TARGET, Kind.NEGATION, Kind.REPORT, Kind.SELF, Kind.LINK)


class LexiconError(ValueError):
    """A data file line that cannot be read."""


@dataclass(frozen=True, eq=False)
class Entry:
    """One expanded pattern of one line of a data file."""

    lang: str
    source: str  # the line's pattern, before macro expansion
    pattern: str
    kind: Kind
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def rule(self) -> tuple[str, str]:
        return self.lang, self.source

    @property
    def gapped(self) -> bool:
        return ".." in self.pattern.split()

    @property
    def threatens(self) -> bool:
        return self.weights.get("threat", 0.0) > self.weights.get("insult", 0.0)

    @property
    def hostility(self) -> float:
        return max((self.weights.get(k, 0.0) for k in
                    ("insult", "threat", "obscene", "identity_attack")), default=0.0)


@dataclass(frozen=True)
class Hit:
    """A match and how its context judged it: direct, ambient, reported, negated, self, inert."""

    entry: Entry
    start: int
    end: int
    effect: str


# --- data files ---------------------------------------------------------------------------


def parse(lang: str, text: str) -> list[Entry]:
    """Read one data file's text into entries, macros expanded."""
    macros: dict[str, list[str]] = {}
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if _MACRO_LINE.match(line):
                name, _, body = line.partition("=")
                macros[name.strip()] = [alt.strip() for alt in body.split("|") if alt.strip()]
            else:
                entries.extend(_parse_rule(lang, line, macros))
        except (LexiconError, ValueError, KeyError, IndexError) as exc:
            raise LexiconError(f"{lang}.tsv line {number}: {exc}: {raw!r}") from exc
    return entries


def _parse_rule(lang: str, line: str, macros: dict[str, list[str]]) -> list[Entry]:
    fields = line.split()
    has_weights = "=" in fields[-1]
    kind = Kind(fields[-2] if has_weights else fields[-1])
    source = " ".join(fields[:-2] if has_weights else fields[:-1])
    weights = _parse_weights(fields[-1]) if has_weights else {}
    if (kind in _ROLES) != (not weights):
        raise LexiconError("roles take no weights, scoring kinds need them")
    return [Entry(lang, source, pattern, kind, weights) for pattern in _expand(source, macros)]


def _parse_weights(column: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in column.split(","):
        label, _, value = item.partition("=")
        label = label.strip()
        if label not in LABELS or not 0.0 <= float(value) <= 1.0:
            raise LexiconError(f"bad weight {item!r}")
        weights[label] = float(value)
    return weights


def _expand(source: str, macros: dict[str, list[str]]) -> list[str]:
    parts = _MACRO.split(source)
    names = _MACRO.findall(source)
    choices = [macros[name] for name in names]
    out = []
    for combo in itertools.product(*choices):
        pieces = [parts[0]]
        for alt, rest in zip(combo, parts[1:], strict=True):
            pieces += [alt, rest]
        out.append(" ".join("".join(pieces).split()))
    return out


def read_data(langs: Iterable[str] | None = None) -> list[Entry]:
    """Every entry of the packaged data files (all languages unless `langs` is given)."""
    folder = resources.files("moderation") / "lexicon"
    entries: list[Entry] = []
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        lang, dot, ext = item.name.partition(".")
        if dot and ext == "tsv" and (langs is None or lang in langs):
            entries.extend(parse(lang, item.read_text(encoding="utf-8")))
    return entries


# --- compiling: every pattern into one trie-shaped regex -----------------------------------


def _is_word_edge(char: str) -> bool:
    return char.isalnum() and not _CJK_CHAR.match(char)


def _letter_atoms(word: str) -> list[str]:
    """Each letter matches once or twice; a doubled consonant must stay double (ass != as)."""
    atoms = []
    for char, run in itertools.groupby(word):
        count = len(list(run))
        escaped = re.escape(char)
        if char.isalpha() and not _CJK_CHAR.match(char) and (count == 1 or char in _VOWELS):
            atoms.append(f"{escaped}{escaped}?")
        else:
            atoms.append(escaped * count)
    return atoms


def atoms(pattern: str) -> list[str]:
    """A pattern as a list of regex pieces, the unit of the trie."""
    words = pattern.split()
    has_cjk = _CJK_CHAR.search(pattern) is not None
    out: list[str] = []
    previous = ""
    for index, word in enumerate(words):
        if word == "..":
            continue
        stem = word.endswith("*")
        folded = normalize(word.rstrip("*")).text
        if not folded:
            raise LexiconError(f"empty word in {pattern!r}")
        if index and words[index - 1] == "..":
            both_cjk = bool(_CJK_CHAR.match(folded[0]) and _CJK_CHAR.match(previous[-1]))
            out.append(_CJK_GAP if both_cjk else _GAP)
        elif index and not (_CJK_CHAR.match(folded[0]) and _CJK_CHAR.match(previous[-1])):
            out.append(_SEP)
        elif not index and _is_word_edge(folded[0]) and not has_cjk:
            out.append(r"\b")
        out += _letter_atoms(folded)
        if stem:
            out.append(r"\w*")
        previous = folded
    if not previous:
        raise LexiconError(f"empty pattern {pattern!r}")
    if not words[-1].endswith("*") and _is_word_edge(previous[-1]) and not has_cjk:
        out.append(r"\b")
    return out


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    end: bool = False
    group: str | None = None


def _rank(atom: str) -> tuple[int, int, str]:
    order = {_SEP: 1, _GAP: 1, _CJK_GAP: 1, r"\b": 2, r"\w*": 3}
    return order.get(atom, 0), -len(atom.rstrip("?")), atom


def _emit(node: _Node) -> str:
    alternatives = [atom + _emit(node.children[atom]) for atom in sorted(node.children, key=_rank)]
    if node.end:
        alternatives.append(f"(?P<{node.group}>)" if node.group else "")
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


def trie_regex(paths: Iterable[list[str]], groups: Sequence[str] = ()) -> str:
    """One regex for many atom paths; shared prefixes are tried once.

    With `groups`, the end of path i is marked by an empty named group groups[i], so
    `match.lastgroup` names the path that matched.
    """
    root = _Node()
    for index, path in enumerate(paths):
        node = root
        for atom in path:
            node = node.children.setdefault(atom, _Node())
        node.end = True
        node.group = groups[index] if groups else None
    return _emit(root) if root.children else "(?!)"


# --- matching and judging -------------------------------------------------------------------


class Lexicon:
    """Compiled entries: `hits` finds and judges them in a normalized text."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        scoring: dict[str, tuple[list[str], list[Entry]]] = {}
        roles: dict[Kind, dict[str, list[str]]] = {kind: {} for kind in _ROLES}
        for entry in entries:
            path = atoms(entry.pattern)
            key = "\x00".join(path)
            if entry.kind in _ROLES:
                roles[entry.kind][key] = path
            else:
                scoring.setdefault(key, (path, []))[1].append(entry)
        self._entries: dict[str, tuple[Entry, ...]] = {}
        self._buckets: dict[tuple[bool, str], list[tuple[list[str], str]]] = {}
        words, others = [], []
        for number, (path, found) in enumerate(scoring.values()):
            group = f"e{number}"
            self._entries[group] = _merge(found)
            word = path[0] == r"\b"
            (words if word else others).append(path[1:] if word else path)
            first = normalize(found[0].pattern.split()[0].rstrip("*")).text[0]
            self._buckets.setdefault((word, first), []).append((path[1:] if word else path, group))
        # Word patterns: the regex consumes the non-word character before the word (the text is
        # searched with a space in front), so the regex engine skips ahead to the next
        # non-word character instead of trying a word boundary at every position. The scanning
        # regexes have no groups (a match object costs one slot per group); the entry behind a
        # match is named by a small per-first-letter regex, compiled on first use.
        self._words = re.compile(rf"\W(?:{trie_regex(words)})")
        self._others = re.compile(trie_regex(others))
        self._others_ascii = any(path[0].isascii() for path in others)
        self._named: dict[tuple[bool, str], re.Pattern[str]] = {}
        self._roles = {kind: _Role(list(paths.values())) for kind, paths in roles.items()}
        links = trie_regex(roles[Kind.LINK].values())
        self._links = re.compile(rf"(?:\W*(?:{links}))*\W*")

    def hits(self, text: str) -> list[Hit]:
        """Every entry found in `text` (already normalized), with its effect in context."""
        found = self._find(text)
        if not found:
            return []
        groups = [(start, end) for entry, start, end in found if entry.kind is Kind.GROUP]
        clauses = _Clauses(text)
        judged = [Hit(entry, start, end, self._judge(clauses, entry, start, end, groups))
                  for entry, start, end in found]
        return _with_groups(text, judged)

    def _find(self, text: str) -> list[tuple[Entry, int, int]]:
        found: list[tuple[Entry, int, int]] = []
        padded = f" {text}"
        for match in self._words.finditer(padded):  # offsets: +1 padding, -1 separator
            start = match.start()
            found += [(e, start, match.end() - 1) for e in self._name(True, padded, start + 1)]
        if self._others_ascii or not text.isascii():
            for match in self._others.finditer(text):
                found += [(e, match.start(), match.end())
                          for e in self._name(False, text, match.start())]
        return found

    def _name(self, word: bool, text: str, first: int) -> tuple[Entry, ...]:
        """The entries of the pattern the scanning regex matched at `first`."""
        key = (word, text[first])
        named = self._named.get(key)
        if named is None:
            paths, groups = zip(*self._buckets[key], strict=True)
            named = re.compile((r"\W(?:{})" if word else "{}").format(trie_regex(paths, groups)))
            self._named[key] = named
        match = named.match(text, first - 1 if word else first)
        return self._entries[match.lastgroup] if match and match.lastgroup else ()

    def _role(self, kind: Kind, text: str) -> bool:
        return bool(self._roles[kind].ends(text))

    def _judge(self, clauses: _Clauses, entry: Entry, start: int, end: int,
               groups: list[tuple[int, int]]) -> str:
        if entry.kind in (Kind.GROUP, Kind.CONDITION):
            return "inert"  # decided once the whole text is judged
        window = clauses.window(start, end)
        if self._role(Kind.REPORT, window.before(_BEFORE_REPORT) + " " +
                      window.after(_AFTER_REPORT)):
            return "reported"
        if self._negated(window, entry):
            return "negated"
        if not entry.threatens and self._bound(Kind.SELF, window, _BEFORE_SELF, []):
            return "self"
        if entry.kind is Kind.HOSTILE:
            return "inert"
        if entry.kind is Kind.PERSON or self._targeted(window, entry, groups):
            return "direct"
        return "ambient"

    def _negated(self, window: _Window, entry: Entry) -> bool:
        if entry.threatens:
            return self._role(Kind.NEGATION, window.before(1) + " " + window.hit)
        return self._role(Kind.NEGATION, window.before(_BEFORE_NEGATION))

    def _targeted(self, window: _Window, entry: Entry, groups: list[tuple[int, int]]) -> bool:
        """A threat needs a person near it; an insult needs one bound to it by links only."""
        if entry.gapped and self._role(Kind.TARGET, window.hit):
            return True
        if entry.threatens:
            lo, hi = window.span(_BEFORE_THREAT_TARGET, _AFTER_THREAT_TARGET)
            return (self._role(Kind.TARGET, window.text[lo:hi])
                    or any(lo <= g_start and g_end <= hi for g_start, g_end in groups))
        return self._bound(Kind.TARGET, window, _BEFORE_TARGET, groups)

    def _bound(self, kind: Kind, window: _Window, words: int,
               extra: list[tuple[int, int]]) -> bool:
        """A `kind` phrase (or an extra span) before the hit, with only links in between."""
        lo, start = window.span(words, 0)[0], window.start
        ends = [lo + end for end in self._roles[kind].ends(window.text[lo:start])]
        ends += [e_end for e_start, e_end in extra if lo <= e_start and e_end <= start]
        return any(self._links.fullmatch(window.text, end, start) for end in ends)


class _Role:
    """The phrases of one context role, found in a short window of text."""

    def __init__(self, paths: list[list[str]]) -> None:
        words = [path[1:] for path in paths if path[0] == r"\b"]
        others = [path for path in paths if path[0] != r"\b"]
        self._words = re.compile(rf"\W(?:{trie_regex(words)})")  # see Lexicon.__init__
        self._others = re.compile(trie_regex(others)) if others else None

    def ends(self, text: str) -> list[int]:
        """Where each phrase found in `text` ends."""
        ends = [m.end() - 1 for m in self._words.finditer(f" {text}")]
        if self._others is not None and not text.isascii():
            ends += [m.end() for m in self._others.finditer(text)]
        return ends


def _merge(entries: list[Entry]) -> tuple[Entry, ...]:
    """Lists of several languages share words ("idiot"): one entry per kind, strongest weights."""
    by_kind: dict[Kind, Entry] = {}
    for entry in entries:
        seen = by_kind.get(entry.kind)
        if seen is None:
            by_kind[entry.kind] = entry
            continue
        weights = {label: max(seen.weights.get(label, 0.0), entry.weights.get(label, 0.0))
                   for label in {*seen.weights, *entry.weights}}
        by_kind[entry.kind] = Entry(seen.lang, seen.source, seen.pattern, seen.kind, weights)
    return tuple(by_kind.values())


class _Clauses:
    """Token and clause-boundary offsets of one text, computed once for all its hits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.bounds = [m.start() for m in _CLAUSE_END_RE.finditer(text)]
        spans = [m.span() for m in _TOKEN.finditer(text)]
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]

    def window(self, start: int, end: int) -> _Window:
        cut = bisect_left(self.bounds, start)
        clause_lo = self.bounds[cut - 1] + 1 if cut else 0
        cut = bisect_left(self.bounds, end)
        clause_hi = self.bounds[cut] if cut < len(self.bounds) else len(self.text)
        first = bisect_left(self.starts, clause_lo)
        before = bisect_right(self.ends, start)  # tokens [first, before) end before the hit
        after = bisect_left(self.starts, end)
        last = bisect_right(self.ends, clause_hi)  # tokens [after, last) follow it
        return _Window(self, start, end, (first, before), (after, last))


class _Window:
    """The words around a hit, never crossing a clause boundary."""

    def __init__(self, clauses: _Clauses, start: int, end: int,
                 before: tuple[int, int], after: tuple[int, int]) -> None:
        self.text, self.start, self.end = clauses.text, start, end
        self.hit = self.text[start:end]
        self._clauses, self._before, self._after = clauses, before, after

    def _lo(self, words: int) -> int:
        first, stop = self._before
        if not words or stop <= first:
            return self.start
        return self._clauses.starts[max(first, stop - words)]

    def _hi(self, words: int) -> int:
        after, last = self._after
        if not words or last <= after:
            return self.end
        return self._clauses.ends[min(last, after + words) - 1]

    def before(self, words: int) -> str:
        return self.text[self._lo(words):self.start]

    def after(self, words: int) -> str:
        return self.text[self.end:self._hi(words)]

    def span(self, before: int, after: int) -> tuple[int, int]:
        return self._lo(before), self._hi(after)


def _with_groups(text: str, hits: list[Hit]) -> list[Hit]:
    """A group hit becomes direct when a hostile hit stands near it in the same clause."""
    hostile = [h for h in hits if h.entry.kind is not Kind.GROUP and h.entry.hostility > 0
               and h.effect in ("direct", "ambient", "inert")]
    out = []
    for hit in hits:
        if hit.entry.kind is Kind.GROUP and any(_near(text, hit, h) for h in hostile):
            hit = Hit(hit.entry, hit.start, hit.end, "direct")
        out.append(hit)
    return out


def _near(text: str, a: Hit, b: Hit) -> bool:
    first, second = (a, b) if a.start <= b.start else (b, a)
    between = text[first.end:second.start]
    return len(between) <= GROUP_REACH and not _CLAUSE_END_RE.search(between)


def _noisy_or(values: Iterable[float]) -> float:
    miss = 1.0
    for value in values:
        miss *= 1.0 - value
    return 1.0 - miss


def score_hits(text: str, hits: Sequence[Hit]) -> dict[str, float]:
    """Per label: direct rules combine (noisy-or), plus the strongest ambient one."""
    direct: dict[str, dict[object, float]] = {label: {} for label in LABELS}
    ambient = dict.fromkeys(LABELS, 0.0)
    factor = {"ambient": AMBIENT, "reported": SUPPRESSED, "negated": SUPPRESSED,
              "self": SUPPRESSED}
    for hit in hits:
        kind = hit.entry.kind
        if kind in (Kind.GROUP, Kind.HOSTILE, Kind.CONDITION):
            continue
        for label, weight in hit.entry.weights.items():
            if hit.effect == "direct":
                rule = direct[label]
                rule[hit.entry.rule] = max(rule.get(hit.entry.rule, 0.0), weight)
            else:
                ambient[label] = max(ambient[label], weight * factor.get(hit.effect, 0.0))
    _add_identity(text, hits, direct["identity_attack"])
    _add_conditions(hits, direct["threat"])
    values = {label: round(_noisy_or([*direct[label].values(), ambient[label]]), 4)
              for label in LABELS}
    values["toxicity"] = max(values.values())
    return values


def _add_identity(text: str, hits: Sequence[Hit], into: dict[object, float]) -> None:
    groups = [h for h in hits if h.entry.kind is Kind.GROUP and h.effect == "direct"]
    hostile = [h for h in hits if h.entry.kind is not Kind.GROUP and h.entry.hostility > 0
               and h.effect in ("direct", "ambient", "inert")]
    for group in groups:
        for other in hostile:
            if _near(text, group, other):
                weight = group.entry.weights["identity_attack"] * other.entry.hostility
                key = (group.entry.rule, other.entry.rule)
                into[key] = max(into.get(key, 0.0), weight)


def _add_conditions(hits: Sequence[Hit], into: dict[object, float]) -> None:
    if not into:
        return
    for hit in hits:
        if hit.entry.kind is Kind.CONDITION:
            into[hit.entry.rule] = max(into.get(hit.entry.rule, 0.0), hit.entry.weights["threat"])


# --- the backend ----------------------------------------------------------------------------


@cache
def default_lexicon() -> Lexicon:
    """The packaged lists, compiled once per process (about a second)."""
    return Lexicon(read_data())


class LexiconClassifier:
    """The `Classifier` backed by the packaged word lists; see the module docstring."""

    name = "lexicon"

    def __init__(self, reason: str = "built-in word lists",
                 lexicon: Lexicon | None = None, window: int = DEFAULT_WINDOW) -> None:
        self.reason = reason
        self._lexicon = lexicon or default_lexicon()
        self._window = window

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        """The whole batch in one worker thread, so the event loop never waits on regexes."""
        return await asyncio.to_thread(self.score_sync, list(texts))

    def score_sync(self, texts: Sequence[str]) -> list[Scores]:
        return [self._score_one(text) for text in texts]

    def explain(self, text: str) -> list[Hit]:
        """The hits behind a score, for moderators tuning thresholds."""
        return self._lexicon.hits(normalize(text, self._window).text)

    def _score_one(self, text: str) -> Scores:
        folded = normalize(text, self._window)
        hits = self._lexicon.hits(folded.text)
        if not hits:
            return Scores(dict.fromkeys(LABELS, 0.0), folded.truncated)
        return Scores(score_hits(folded.text, hits), folded.truncated)
