# ruff: noqa: RUF001 -- the word lists' own Cyrillic and Greek letters are meant
"""The offline toxicity backend: multilingual word lists, matched after normalization.

It needs nothing but this package, so it is the embedded default whenever
Detoxify or its weights are missing. It must hold what a human moderator would
hold (insults, slurs, threats, blackmail, hate against protected groups) and let
angry-but-civil customers through. So a word found in the lists is not a
verdict: each hit is judged by a few rules a moderator can read and predict.

Kinds of rule (data files, below):
  person     names or curses a person by its nature ("idiot", "vaffanculo",
             "ti rovino", slurs): it counts wherever it stands, unless its
             context suppresses it.
  aimed      abuse people also aim at things ("garbage", "schifo", "stupid",
             "fuck", "уничтожу"): it counts only when a person is its target.
             Aimed at a thing or at nothing ("this inverter is garbage") it scores
             AMBIENT (0.5) times its weight, under every default threshold.
             Threats that are no insult are rules of their own, label `threat`:
             coming over ("i know where you live", "wait for you outside"),
             publishing personal data ("i'll publish your home address"), vague and
             long-distance harm ("someone will get hurt", "you'll regret it").
             Lawful recourse (a lawyer, a review, the press) weighs LAWFUL (0.4)
             or less: it passes alone and under a condition ("refund me or i'll
             sue", "...or i'll write a bad review"). Blackmail harms that are no
             classic threat (leaking internal emails, sending photos to a
             spouse or boss, "your shop might have a little accident") weigh
             0.45-0.65: most pass alone, all are held under a condition.
  group      a protected group ("muslims", "ebrei"): alone it scores nothing, so
             neutral and kind mentions pass. Within one clause and GROUP_REACH
             characters of a hostile hit (a direct insult or threat, or a
             `hostile` phrase) it scores identity_attack = group weight x the
             hit's hostility. A group is also a target ("immigrants are garbage"),
             and a threat next to a group counts even with no person near it
             ("i'll kill all the immigrants").
  hostile    derogation, dehumanization and exclusion ("terrorists", "a disease",
             "should not be allowed", "send them back", "паразиты") that only matter
             next to a group. Hate is quoted to condemn it across commas, so a
             `report` phrase anywhere in the sentence suppresses a hostile hit ("wer
             sagt, dass Muslime Terroristen sind, ist rassistisch"), and so does a
             negation that closes the clause right after it ("ik haat immigranten niet";
             not "parasites who can't even read"). A hostile phrase that says "not"
             itself ("are not capable", "ne sont pas capables") is negated only by the
             word right before it. An `aimed` insult said of a group is hostile too
             (derogation): a group earlier in its clause joined to it by a few words, one
             of them a `link` ("women are too dumb", "die Frauen ... sind alle dumm"), a
             group in the clause before when this one starts with a `refer` word
             ("immigrants, they are liars"), or the group noun right after it ("dirty
             immigrants"); "migrants took away the garbage" has no link and stays civil.
  data       someone else's personal data: "his home address", "your technician's
             phone number", "where your agent lives", "l'école de ses enfants" (a
             customer's own "my address" is no rule).
  spread     spreading something to the public: "post it on Facebook", "everyone on
             Twitter will have it", "toute la ville saura", "in all the local groups".
             `data` and `spread` score nothing alone; both in one text (each not
             negated or reported) make doxxing told as a story: threat = the smaller
             of their weights ("I've got your technician's home address and his wife's
             number, everyone on Twitter will have them tonight").
Context roles (no weights), looked up in a window of words around the hit that
never crosses a clause boundary (, . ! ? ; or a line break):
  target     a person: "you", "voi", "вы", "jullie", "your technician"...
             An insult needs one before it (6 words) bound to it by nothing but
             `link` words (copulas, articles, intensifiers: "you are all a bunch
             of garbage"); so "you sold me garbage" is not an insult. A person that
             closes the clause after the insult, with only links around it, binds it
             too ("what scammers you are", "che ladri che siete"), and so does a person
             noun (five letters or more, not a pronoun) right after it, which the
             insult qualifies ("stupid people", "useless technicians"). Third persons
             are targets of insults too ("he is a moron", "your director is a crook"). A threat
             (a rule whose threat weight beats its insult weight) only needs a
             target near it, 4 words before or 2 after ("я вас засужу и
             уничтожу", "убью тебя"), or inside its `..` gap.
  object     a third person ("him", "lui", "ему", "他", "your driver"): the target of a
             threat only, 2 words after it or inside its `..` gap ("i'll kill him",
             "gli spacco la faccia"), never of an insult ("told him I'd sue" stays civil).
  report     the customer quotes an insult to report it ("your technician called
             me an idiot", "mi ha dato dell'idiota", "... genoemd"): a report
             phrase 6 words before or 3 after suppresses the hit.
  negation   "not", "non", "не" up to 4 words before an insult suppresses it
             ("I'm not calling you idiots"); a threat is negated only by the word
             right before it or inside it, so "if you don't refund me I'll
             destroy you" still counts; a threat whose own words say "not" ("you
             won't be safe") only by the word before it.
  self       the speaker about themselves, bound by links ("I feel like an
             idiot", "mi prendete per un idiota"): suppresses insults.
  condition  "unless", "altrimenti", "иначе", "or your": a threat of harm made
             conditional on a demand is blackmail, so when a text already
             threatens with more than LAWFUL, a condition adds CONDITION_WEIGHT
             (0.4) to `threat`. "I will leak your internal emails" (0.5) passes;
             "...unless you refund me" (0.7) is held; "I will write a bad review
             unless you refund me" (0.4, lawful) passes.
  refer      "they", "sono", "они", "他们": a clause starting with it after a comma
             refers back to a group in the clause before, so a hostile hit there
             reaches it ("stop hiring immigrants, they are parasites"); a clause
             starting with a `target` after a comma reaches a group in it from
             the clause before ("go back to your country, you filthy foreigners"),
             and so does an `apposition`, a demonstrative naming the group ("send
             them back, those asylum seekers", "schickt sie zurück, diese Asylanten").
  condemn    counter-speech: "shameful", "remove those comments", "is not an opinion",
             "hate against", "someone writes": anywhere in the sentence it suppresses a
             hostile hit (and an insult said of a group), as a `report` phrase does, but
             it never touches insults and threats aimed at a person ("delete my account,
             you idiots" stays held).
  complement "dass", "that", "что": a clause starting with it carries the report
             or negation that ends the clause before ("ich sage nicht, dass Ihre
             Mitarbeiter dumm sind", "er schrieb, dass ...").
A suppressed hit scores SUPPRESSED (0.25) times its weight. Per label, the direct
hits combine as a noisy-or, 1 - prod(1 - w), each rule (data line) counted once,
with the strongest ambient or suppressed hit added the same way; `toxicity` is
at least the highest other label.

Data files, `moderation/lexicon/<lang>.tsv`, one rule per line: a pattern, then
its kind, then (scoring kinds only) `label=weight,label=weight`, separated by
whitespace; `#` starts a comment. In a pattern, words are separated by spaces
(any run of spaces or punctuation within a clause matches), `word*` matches any
ending (Russian and Italian morphology), `..` skips up to three words (six
characters in Chinese; scanning goes on inside the gap, so a group there is
found: "send all the refugees back"), and `@name` expands a macro defined in the same file as
`@name = a | b c | d`. Patterns are folded through `normalize` like the texts,
and each letter of a pattern matches once or twice (`stuupid` is `stupid`) while
a doubled consonant must stay double (`ass` is not `as`); a word written `=word`
matches its letters exactly, for a word whose stretched reading is another language's
ordinary word (German `=neger`, not Dutch "negeer" = ignore). Alphabetic patterns
match whole words; Chinese patterns match anywhere. The same word in several
languages is one rule of the strongest weights.

Masked words: `f*ck`, `a**hole`, `sh_t` hide letters that no rewriting can guess, so
the lexicon reads a text through `Lexicon.read`: the normalizer's `fold`, then its
`Unmasker` over the words of this lexicon's own patterns (normalize.py says how).

Why a text was held: `LexiconClassifier.reasons(text)` gives one line per rule that
counted ("en: i know where you live [person threat=0.85] (direct)"), for the console;
`explain` gives the hits themselves.

Speed: all patterns are compiled once into a few trie-shaped regexes, so a
clean text costs one scan; only texts with hits pay for the context rules.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from importlib import resources
from typing import NamedTuple

from bot.contract.ports import LABELS, Scores
from moderation import wordlists
from moderation.normalize import DEFAULT_WINDOW, Unmasker, fold, normalize

AMBIENT = 0.5  # an aimed word with no person to aim at
SUPPRESSED = 0.25  # a reported, negated or self-directed insult
GROUP_REACH = 60  # characters between a group and a hostile hit
CONDITION_WEIGHT = 0.4  # what "unless", "altrimenti" add to a threat
LAWFUL = 0.4  # a threat weighing this or less is lawful recourse: no condition makes it blackmail
MAX_HITS = 64  # hits judged per text
_REACH = 200  # characters around a hit that a context window may read
_FACTOR = {"ambient": AMBIENT, "reported": SUPPRESSED, "negated": SUPPRESSED, "self": SUPPRESSED}

_BEFORE_TARGET, _BEFORE_THREAT_TARGET, _AFTER_THREAT_TARGET = 6, 4, 2
_BEFORE_REPORT, _AFTER_REPORT = 6, 3
_BEFORE_NEGATION, _BEFORE_SELF, _AFTER_HOSTILE_NEGATION = 4, 3, 2
_PREDICATE_WORDS = 6  # words between a group and an insult said of it
_NOUN_TARGET = 5  # letters of a person noun that an insult before it qualifies ("stupid staff")
_PRONOUNS = frozenset(("ustedes", "vosotros", "vosotras", "yourself", "yourselves", "contigo"))

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_VOWELS = frozenset("aeiouyаеиоуыэюяєіїαεηιουω")
_CLAUSE_END = ",.!?;\n，。！？；…"
_CLAUSE_END_RE = re.compile(f"[{re.escape(_CLAUSE_END)}]")
_COMMA_RE = re.compile("[,，]")
_SENTENCE_END_RE = re.compile("[.!?;\n。！？；]")
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
    DATA = "data"
    SPREAD = "spread"
    CONDITION = "condition"
    TARGET = "target"
    NEGATION = "negation"
    REPORT = "report"
    SELF = "self"
    LINK = "link"
    OBJECT = "object"
    REFER = "refer"
    APPOSITION = "apposition"
    COMPLEMENT = "complement"
    CONDEMN = "condemn"


_ROLES = (
    Kind.TARGET,
    Kind.OBJECT,
    Kind.REFER,
    Kind.APPOSITION,
    Kind.COMPLEMENT,
    Kind.CONDEMN,
    Kind.NEGATION,
    Kind.REPORT,
    Kind.SELF,
    Kind.LINK,
    Kind.CONDITION,
)
_DOXXING = (Kind.DATA, Kind.SPREAD)
_COUNTED_ELSEWHERE = (Kind.GROUP, Kind.HOSTILE, Kind.CONDITION, *_DOXXING)  # see score_hits


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
    rule: tuple[str, str] = field(init=False)  # the line it comes from: counted once
    gapped: bool = field(init=False)  # has a ".." gap, so its target may sit inside it
    threatens: bool = field(init=False)  # a threat more than an insult
    hostility: float = field(init=False)  # how hostile it is next to a protected group

    def __post_init__(self) -> None:
        weights = self.weights
        object.__setattr__(self, "rule", (self.lang, self.source))
        object.__setattr__(self, "gapped", ".." in self.pattern.split())
        object.__setattr__(
            self, "threatens", weights.get("threat", 0.0) > weights.get("insult", 0.0)
        )
        object.__setattr__(
            self,
            "hostility",
            max(weights.get(k, 0.0) for k in ("insult", "threat", "obscene", "identity_attack")),
        )


class Hit(NamedTuple):
    """A match and how its context judged it: direct, ambient, reported, negated, self, inert."""

    entry: Entry
    start: int
    end: int
    effect: str

    def reason(self) -> str:
        """One line a moderator can read: which rule of which list, how context judged it."""
        entry = self.entry
        weights = ",".join(f"{label}={w:g}" for label, w in sorted(entry.weights.items()))
        return f"{entry.lang}: {entry.source} [{entry.kind.value} {weights}] ({self.effect})"


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
    plain = _CJK_CHAR.search(pattern) is None  # alphabetic: whole words only
    out: list[str] = []
    previous = ""
    for index, word in enumerate(words):
        if word == "..":
            continue
        exact = word.startswith("=")
        folded = normalize(word.removeprefix("=").rstrip("*")).text
        if not folded:
            raise LexiconError(f"empty word in {pattern!r}")
        if previous:
            out += filter(None, [_joint(previous, folded, gap=words[index - 1] == "..")])
        elif plain and _is_word_edge(folded[0]):
            out.append(r"\b")
        out += [re.escape(char) for char in folded] if exact else _letter_atoms(folded)
        if word.endswith("*"):
            out.append(r"\w*")
        previous = folded
    if not previous:
        raise LexiconError(f"empty pattern {pattern!r}")
    if plain and not words[-1].endswith("*") and _is_word_edge(previous[-1]):
        out.append(r"\b")
    return out


def _joint(previous: str, word: str, gap: bool) -> str:
    """What may stand between two words of a pattern (Chinese words touch)."""
    chinese = bool(_CJK_CHAR.match(previous[-1]) and _CJK_CHAR.match(word[0]))
    if gap:
        return _CJK_GAP if chinese else _GAP
    return "" if chinese else _SEP


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
            if entry.kind in _ROLES:
                roles[entry.kind]["\x00".join(path)] = path
            else:
                scoring.setdefault("\x00".join(path), (path, []))[1].append(entry)
        self._index(list(scoring.values()))
        links = trie_regex(roles[Kind.LINK].values())
        self._links = re.compile(rf"(?:\W*(?:{links}))*\W*")
        targets = trie_regex(roles[Kind.TARGET].values())
        # "what scammers you are", "che ladri che siete": the person closes the clause.
        self._target_closes = re.compile(
            rf"(?:\W*(?:{links}))*\W*(?:{targets})(?:\W*(?:{links}))*\W*"
        )
        self.unmask = Unmasker(_masked_vocabulary(scoring.values()))
        self._roles = {kind: _Role(list(paths.values()), links) for kind, paths in roles.items()}
        # "you won't be safe" is a threat that says "not" itself: only a word before negates it.
        negation = self._roles[Kind.NEGATION]
        self._says_not = {
            entry
            for merged in self._entries.values()
            for entry in merged
            if negation.found(normalize(entry.pattern.replace("..", " ")).text)
        }

    def _index(self, scoring: list[tuple[list[str], list[Entry]]]) -> None:
        """Word patterns are scanned by one regex that consumes the non-word character before
        the word (texts get a space in front): the engine then skips straight to the next
        non-word character instead of testing a word boundary at every position. Scanning
        regexes have no groups (a match object costs a slot per group); the entries behind a
        match are named by a small regex per first letter, compiled on first use."""
        self._entries: dict[str, tuple[Entry, ...]] = {}
        self._buckets: dict[tuple[bool, str], list[tuple[list[str], str]]] = {}
        self._named: dict[tuple[bool, str], re.Pattern[str]] = {}
        scanned: dict[str, list[list[str]]] = {"ascii": [], "words": [], "others": []}
        for number, (atoms_, found) in enumerate(scoring):
            group, word = f"e{number}", atoms_[0] == r"\b"
            self._entries[group] = _merge(found)
            path = atoms_[1:] if word else atoms_
            first = normalize(found[0].pattern.split()[0].removeprefix("=").rstrip("*")).text[0]
            scanned["others" if not word else "ascii" if first.isascii() else "words"].append(path)
            self._buckets.setdefault((word, first), []).append((path, group))
        # Most folded texts are plain ASCII (accents are gone): they need only the trie of
        # patterns that start with an ASCII letter, half the size of the whole.
        self._ascii_words = re.compile(rf"\W(?:{trie_regex(scanned['ascii'])})")
        self._words = re.compile(rf"\W(?:{trie_regex(scanned['words'])})")
        self._others = re.compile(trie_regex(scanned["others"]))
        self._others_ascii = any(path[0].isascii() for path in scanned["others"])

    def read(self, text: str, window: int = DEFAULT_WINDOW) -> tuple[str, bool]:
        """`fold`, then words masked with symbols read as this lexicon's own words."""
        folded, truncated = fold(text, window)
        return self.unmask(folded), truncated

    def hits(self, text: str) -> list[Hit]:
        """Every entry found in `text` (already normalized), with its effect in context.

        A text with more than MAX_HITS hits is judged on its first MAX_HITS: it is
        flagged many times over by then, and the cost of a flood of abuse stays bounded.
        """
        found = self._find(text)[:MAX_HITS]
        if not found:
            return []
        groups = [(start, end) for entry, start, end in found if entry.kind is Kind.GROUP]
        clauses: _Clauses | None = None
        judged = []
        for entry, start, end in found:
            if entry.kind is Kind.GROUP:
                effect = "inert"  # decided once the whole text is judged
            else:
                clauses = clauses or _Clauses(text)
                effect = self._judge(clauses.window(start, end), entry, groups)
            judged.append(Hit(entry, start, end, effect))
        if any(  # data and spread threaten only together (score_hits): alone, no condition
            hit.effect == "direct"
            and hit.entry.threatens
            and hit.entry.weights["threat"] > LAWFUL
            and hit.entry.kind not in _DOXXING
            for hit in judged
        ):
            judged += self._conditions(text)
        return _with_groups(text, judged, self.bridges(text, judged))

    def bridges(self, text: str, hits: Sequence[Hit]) -> dict[int, bool]:
        """Commas a group and a hostile hit may reach across, by position: True when the
        clause after the comma refers back to a group before it ("stop hiring immigrants,
        they are parasites"), False when it addresses a group after it ("go back to your
        country, you filthy foreigners"). Only texts with a group pay for this."""
        if not any(hit.entry.kind is Kind.GROUP for hit in hits):
            return {}
        bridges: dict[int, bool] = {}
        for match in _COMMA_RE.finditer(text):
            rest = text[match.end() : match.end() + 40]
            if self._roles[Kind.REFER].starts(rest):
                bridges[match.start()] = True
            elif self._roles[Kind.TARGET].starts(rest) or self._roles[Kind.APPOSITION].starts(rest):
                bridges[match.start()] = False
        return bridges

    def _conditions(self, text: str) -> list[Hit]:
        """Conditions are not scanned with the other patterns: "or i will" must not hide
        the "i will destroy" that follows it."""
        return [
            Hit(
                Entry(
                    "*", "condition", text[start:end], Kind.CONDITION, {"threat": CONDITION_WEIGHT}
                ),
                start,
                end,
                "direct",
            )
            for start, end in self._roles[Kind.CONDITION].spans(text)
        ]

    def _find(self, text: str) -> list[tuple[Entry, int, int]]:
        found: list[tuple[Entry, int, int]] = []
        padded = f" {text}"
        ascii_only = text.isascii()
        for words in (self._ascii_words,) if ascii_only else (self._ascii_words, self._words):
            at = 0
            while match := words.search(padded, at):  # offsets: +1 padding, -1 separator
                start = match.start()
                named = self._name(True, padded, start + 1)
                found += [(e, start, match.end() - 1) for e in named]
                if len(found) >= MAX_HITS:
                    return found
                at = _next_scan(named, start, match.end())
        if self._others_ascii or not ascii_only:
            at = 0
            while match := self._others.search(text, at):
                named = self._name(False, text, match.start())
                found += [(e, match.start(), match.end()) for e in named]
                if len(found) >= MAX_HITS:
                    break
                at = _next_scan(named, match.start(), match.end())
        if not ascii_only:
            found.sort(key=lambda hit: hit[1])
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
        return self._roles[kind].found(text)

    def _judge(self, window: _Window, entry: Entry, groups: list[tuple[int, int]]) -> str:
        if entry.kind is Kind.AIMED and not self._targeted(window, entry, groups):
            return self._judge_untargeted(window, entry, groups)
        carried = self._carried(window)
        if self._role(
            Kind.REPORT,
            f"{carried} {window.before(_BEFORE_REPORT)} {window.after(_AFTER_REPORT)}",
        ):
            return "reported"
        if self._negated(window, entry) or (
            carried and not entry.threatens and self._role(Kind.NEGATION, carried)
        ):
            return "negated"
        if not entry.threatens and self._bound(Kind.SELF, window, _BEFORE_SELF, []):
            return "self"
        if entry.kind is Kind.HOSTILE:
            return self._judge_hostile(window)
        return "direct"

    def _judge_untargeted(
        self, window: _Window, entry: Entry, groups: list[tuple[int, int]]
    ) -> str:
        """An aimed word with no person to aim at: ambient, nothing else can raise it,
        unless a group is what it is said of ("women are too dumb for this")."""
        if groups and not entry.threatens and self._said_of_group(window, groups):
            return self._judge_hostile(window)
        return "ambient"

    def _judge_hostile(self, window: _Window) -> str:
        """Hate is quoted to condemn it across commas ("wer sagt, dass Muslime Terroristen
        sind, ist rassistisch"), so a report phrase anywhere in the sentence counts; and
        Dutch and German negate after the verb ("ik haat immigranten niet")."""
        sentence = window.sentence()
        if self._role(Kind.REPORT, sentence) or self._role(Kind.CONDEMN, sentence):
            return "reported"
        # Only a negation that closes the clause: "parasites who can't even read" stays.
        if len(window.tail.split()) <= _AFTER_HOSTILE_NEGATION + 1 and self._role(
            Kind.NEGATION, window.after(_AFTER_HOSTILE_NEGATION)
        ):
            return "negated"
        return "inert"

    def _said_of_group(self, window: _Window, groups: list[tuple[int, int]]) -> bool:
        """An insult aimed at nobody is a derogation when a group is its subject: a group
        earlier in its clause ("women are too dumb"), in the clause before when this one
        starts with a `refer` word ("immigrants, they are lazy"), or right after it as
        its noun ("dirty immigrants")."""
        start, clause_lo = window.start, window.clause_lo
        refers = self._roles[Kind.REFER].starts(window.clause_head())
        for g_start, g_end in groups:
            if g_end <= start and start - g_end <= GROUP_REACH:
                if g_start >= clause_lo:
                    between = window.text[g_end:start]
                elif refers and not _CLAUSE_END_RE.search(window.text, g_end, clause_lo - 1):
                    between = window.clause_head()
                else:
                    continue
                if self._predicate(between):
                    return True
            elif 0 <= g_start - window.end <= 1:
                return True
        return False

    def _predicate(self, between: str) -> bool:
        """What joins a group to an insult said of it: a few words, one of them a link
        (a copula: "are", "sind", "sont"); "migrants took away the garbage" has none."""
        words = between.split()
        return len(words) <= _PREDICATE_WORDS and (
            not words or any(self._links.fullmatch(word) for word in words)
        )

    def _carried(self, window: _Window) -> str:
        """The end of the previous clause when the hit's clause is its `complement` ("ich
        sage nicht, dass ...", "he wrote, that ..."): its report or negation reaches on."""
        if not self._roles[Kind.COMPLEMENT].starts(window.clause_head()):
            return ""
        return window.previous_clause(_BEFORE_REPORT)

    def _negated(self, window: _Window, entry: Entry) -> bool:
        if entry in self._says_not and not entry.threatens:
            # "women are not capable": only the word right before negates it ("ne sont pas").
            return self._role(Kind.NEGATION, window.before(1))
        if entry.threatens:
            inside = "" if entry in self._says_not else window.hit
            return self._role(Kind.NEGATION, window.before(1) + " " + inside)
        return self._role(Kind.NEGATION, window.before(_BEFORE_NEGATION))

    def _targeted(self, window: _Window, entry: Entry, groups: list[tuple[int, int]]) -> bool:
        """A threat needs a person near it; an insult needs one bound to it by links only."""
        if entry.gapped and self._role(Kind.TARGET, window.hit):
            return True
        if entry.threatens:
            lo, hi = window.span(_BEFORE_THREAT_TARGET, _AFTER_THREAT_TARGET)
            if self._role(Kind.TARGET, window.text[lo:hi]) or any(
                lo <= g_start and g_end <= hi for g_start, g_end in groups
            ):
                return True
            # A third person is the object of a threat, never of an insult: "i'll kill him".
            after = window.after(_AFTER_THREAT_TARGET)
            return self._role(Kind.OBJECT, (window.hit if entry.gapped else "") + " " + after)
        if self._bound(Kind.TARGET, window, _BEFORE_TARGET, groups):
            return True
        # An insult before the person noun it qualifies: "stupid people", "useless staff".
        after = window.after(1).strip()
        if len(after) >= _NOUN_TARGET and after not in _PRONOUNS:
            return self._roles[Kind.TARGET].starts(after) or (
                self._target_closes.fullmatch(window.tail) is not None
            )
        return self._target_closes.fullmatch(window.tail) is not None

    def _bound(self, kind: Kind, window: _Window, words: int, extra: list[tuple[int, int]]) -> bool:
        """A `kind` phrase (or an extra span) before the hit, with only links in between."""
        lo, start = window.span(words, 0)[0], window.start
        if self._roles[kind].bound(window.text[lo:start]):
            return True
        return any(
            self._links.fullmatch(window.text, e_end, start)
            for e_start, e_end in extra
            if lo <= e_start and e_end <= start
        )


def _next_scan(named: tuple[Entry, ...], start: int, end: int) -> int:
    """Where scanning goes on: past the match, or inside a `..` gap, which may hold a hit of
    its own ("send all the refugees back")."""
    return start + 1 if any(entry.gapped for entry in named) else end


class _Role:
    """The phrases of one context role, looked up in the short window around a hit."""

    def __init__(self, paths: list[list[str]], links: str) -> None:
        words = trie_regex([path[1:] for path in paths if path[0] == r"\b"])
        others = trie_regex([path for path in paths if path[0] != r"\b"])
        self._words = re.compile(rf"\W(?:{words})")  # see Lexicon._index
        self._others = re.compile(others)
        self._has_others = any(path[0] != r"\b" for path in paths)
        # The phrase, then nothing but links up to the end of the window.
        self._bound = re.compile(rf"(?:\W(?:{words})|{others})(?:\W*(?:{links}))*\W*\Z")

    def found(self, text: str) -> bool:
        if self._words.search(f" {text}"):
            return True
        return self._has_others and not text.isascii() and bool(self._others.search(text))

    def starts(self, text: str) -> bool:
        """Whether `text`, spaces aside, begins with one of this role's phrases."""
        text = text.lstrip()
        if self._words.match(f" {text}"):
            return True
        return self._has_others and bool(self._others.match(text))

    def bound(self, text: str) -> bool:
        """Whether the window ends with this role's phrase followed only by link words."""
        return self._bound.search(f" {text}") is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where each phrase found in `text` starts and ends."""
        spans = [(m.start(), m.end() - 1) for m in self._words.finditer(f" {text}")]
        if self._has_others and not text.isascii():
            spans += [m.span() for m in self._others.finditer(text)]
        return spans


def _merge(entries: list[Entry]) -> tuple[Entry, ...]:
    """Lists of several languages share words ("idiot"): one entry per kind, strongest weights."""
    by_kind: dict[Kind, Entry] = {}
    for entry in entries:
        seen = by_kind.get(entry.kind)
        if seen is None:
            by_kind[entry.kind] = entry
            continue
        weights = {
            label: max(seen.weights.get(label, 0.0), entry.weights.get(label, 0.0))
            for label in {*seen.weights, *entry.weights}
        }
        by_kind[entry.kind] = Entry(seen.lang, seen.source, seen.pattern, seen.kind, weights)
    return tuple(by_kind.values())


class _Clauses:
    """Clause boundaries of one text, found once for all its hits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.bounds = [m.start() for m in _CLAUSE_END_RE.finditer(text)]
        self.cjk = _CJK_CHAR.search(text) is not None
        self._sentences: list[int] | None = None

    def sentence(self, start: int, end: int) -> str:
        if self._sentences is None:
            self._sentences = [m.start() for m in _SENTENCE_END_RE.finditer(self.text)]
        cut = bisect_left(self._sentences, start)
        lo = self._sentences[cut - 1] + 1 if cut else 0
        cut = bisect_left(self._sentences, end)
        return self.text[lo : self._sentences[cut] if cut < len(self._sentences) else None]

    def clause_end(self, end: int) -> int:
        cut = bisect_left(self.bounds, end)
        return self.bounds[cut] if cut < len(self.bounds) else len(self.text)

    def window(self, start: int, end: int) -> _Window:
        cut = bisect_left(self.bounds, start)
        clause_lo = self.bounds[cut - 1] + 1 if cut else 0
        cut = bisect_left(self.bounds, end)
        clause_hi = self.bounds[cut] if cut < len(self.bounds) else len(self.text)
        lo, hi = max(clause_lo, start - _REACH), min(clause_hi, end + _REACH)
        return _Window(self, start, end, lo, hi, clause_lo)

    def previous_clause(self, clause_lo: int, words: int) -> str:
        """The last `words` words of the clause before the one starting at `clause_lo`,
        if a comma (not a sentence end) separates them."""
        if not clause_lo or self.text[clause_lo - 1] not in ",，":
            return ""
        cut = bisect_left(self.bounds, clause_lo - 1)
        lo = self.bounds[cut - 1] + 1 if cut else 0
        head = self.text[lo : clause_lo - 1]
        if self.cjk and _CJK_CHAR.search(head):
            return head[-2 * words :]
        return " ".join(head.split()[-words:])


class _Window:
    """The words around a hit, never crossing a clause boundary.

    Words are runs between spaces (`str.split` is far cheaper than a token regex); in
    Chinese, which has no spaces, a word counts as two characters.
    """

    def __init__(
        self, clauses: _Clauses, start: int, end: int, lo: int, hi: int, clause_lo: int
    ) -> None:
        self.text, self.start, self.end = clauses.text, start, end
        self.clause_lo = self._clause_lo = clause_lo
        self.hit = self.text[start:end]
        self._head = self.text[lo:start]
        self._tail = self.text[end:hi]
        self.tail = self._tail if hi == clauses.clause_end(end) else ""  # all the clause's rest
        self._cjk = clauses.cjk
        self._clauses = clauses

    def sentence(self) -> str:
        return self._clauses.sentence(self.start, self.end)

    def clause_head(self) -> str:
        """The hit's clause up to the hit."""
        return self.text[self._clause_lo : self.start]

    def previous_clause(self, words: int) -> str:
        return self._clauses.previous_clause(self._clause_lo, words)

    def _lo(self, words: int) -> int:
        head = self._head
        parts = head.rsplit(None, words) if words else [head]
        cut = len(parts[0]) if len(parts) > words else 0
        if self._cjk and _CJK_CHAR.search(head, cut):
            cut = max(cut, len(head) - 2 * words)
        return self.start - len(head) + cut

    def _hi(self, words: int) -> int:
        tail = self._tail
        parts = tail.split(None, words) if words else [tail]
        cut = len(tail) - len(parts[-1]) if len(parts) > words else len(tail)
        if self._cjk and _CJK_CHAR.search(tail, 0, cut):
            cut = min(cut, 2 * words)
        return self.end + cut

    def before(self, words: int) -> str:
        return self.text[self._lo(words) : self.start]

    def after(self, words: int) -> str:
        return self.text[self.end : self._hi(words)]

    def span(self, before: int, after: int) -> tuple[int, int]:
        return self._lo(before), self._hi(after)


def _with_groups(text: str, hits: list[Hit], bridges: dict[int, bool]) -> list[Hit]:
    """A group hit becomes direct when a hostile hit stands near it in the same clause
    (or across a bridged comma, see `Lexicon.bridges`)."""
    hostile = _hostile(hits)
    return [
        hit._replace(effect="direct")
        if hit.entry.kind is Kind.GROUP and any(_near(text, hit, h, bridges) for h in hostile)
        else hit
        for hit in hits
    ]


def _hostile(hits: Sequence[Hit]) -> list[Hit]:
    """Hits that make a nearby group an identity attack: any hostile word not suppressed by
    its context, and a threat even when no person is near it ("i will kill all muslims")."""
    return [
        h
        for h in hits
        if h.entry.kind is not Kind.GROUP
        and h.entry.kind not in _DOXXING
        and h.entry.hostility > 0
        and (h.effect in ("direct", "inert") or (h.effect == "ambient" and h.entry.threatens))
    ]


def _near(text: str, a: Hit, b: Hit, bridges: dict[int, bool]) -> bool:
    """A group and a hostile hit within GROUP_REACH characters of one clause, or of two
    clauses joined by a bridged comma whose direction matches: a group before a comma
    that refers back to it, or after a comma that addresses it."""
    first, second = (a, b) if a.start <= b.start else (b, a)
    between = text[first.end : second.start]
    if len(between) > GROUP_REACH:
        return False
    ends = [m.start() for m in _CLAUSE_END_RE.finditer(between)]
    if not ends:
        return True
    if len(ends) > 1:
        return False
    back = bridges.get(first.end + ends[0])
    group_first = first.entry.kind is Kind.GROUP
    return back is not None and back == group_first


def _noisy_or(values: Iterable[float]) -> float:
    miss = 1.0
    for value in values:
        miss *= 1.0 - value
    return 1.0 - miss


def score_hits(
    text: str, hits: Sequence[Hit], bridges: dict[int, bool] | None = None
) -> dict[str, float]:
    """Per label: direct rules combine (noisy-or), plus the strongest ambient one.
    `bridges`: commas a group may reach across (`Lexicon.bridges`)."""
    direct: dict[str, dict[object, float]] = {}
    ambient: dict[str, float] = {}
    for entry, _start, _end, effect in hits:
        if entry.kind in _COUNTED_ELSEWHERE:
            continue
        if effect == "direct":
            for label, weight in entry.weights.items():
                rules = direct.setdefault(label, {})
                rules[entry.rule] = max(rules.get(entry.rule, 0.0), weight)
        else:
            factor = _FACTOR.get(effect, 0.0)
            for label, weight in entry.weights.items():
                ambient[label] = max(ambient.get(label, 0.0), weight * factor)
    if any(hit.entry.kind is Kind.GROUP for hit in hits):
        _add_identity(text, hits, direct.setdefault("identity_attack", {}), bridges or {})
    if any(hit.entry.kind is Kind.SPREAD for hit in hits):
        _add_doxxing(hits, direct.setdefault("threat", {}))
    if direct.get("threat"):
        _add_conditions(hits, direct["threat"])
    values = dict.fromkeys(LABELS, 0.0)
    for label in direct.keys() | ambient.keys():
        weights = [*direct.get(label, {}).values(), ambient.get(label, 0.0)]
        values[label] = round(_noisy_or(weights), 4)
    values["toxicity"] = max(values.values())
    return values


def _add_identity(
    text: str, hits: Sequence[Hit], into: dict[object, float], bridges: dict[int, bool]
) -> None:
    groups = [h for h in hits if h.entry.kind is Kind.GROUP and h.effect == "direct"]
    hostile = _hostile(hits)
    for group in groups:
        for other in hostile:
            if _near(text, group, other, bridges):
                weight = group.entry.weights["identity_attack"] * other.entry.hostility
                key = (group.entry.rule, other.entry.rule)
                into[key] = max(into.get(key, 0.0), weight)


def _add_doxxing(hits: Sequence[Hit], into: dict[object, float]) -> None:
    """Someone else's personal data (`data`) and spreading something to the public
    (`spread`) anywhere in one text: doxxing told as a story ("I've got your technician's
    home address ... everyone on Twitter will have it tonight"). Each alone is nothing."""
    direct = [hit for hit in hits if hit.effect == "direct"]
    for data in (hit for hit in direct if hit.entry.kind is Kind.DATA):
        for spread in (hit for hit in direct if hit.entry.kind is Kind.SPREAD):
            weight = min(data.entry.weights["threat"], spread.entry.weights["threat"])
            key = (data.entry.rule, spread.entry.rule)
            into[key] = max(into.get(key, 0.0), weight)


def _add_conditions(hits: Sequence[Hit], into: dict[object, float]) -> None:
    for hit in hits:
        if hit.entry.kind is Kind.CONDITION:
            into[hit.entry.rule] = max(into.get(hit.entry.rule, 0.0), hit.entry.weights["threat"])


def _masked_vocabulary(scoring: Iterable[tuple[list[str], list[Entry]]]) -> list[str]:
    """The words of abusive patterns, folded, that a masked word (`f*ck`) may stand for; the
    words in most patterns first, so an ambiguous mask reads as the commonest abuse."""
    words: Counter[str] = Counter()
    for _path, entries in scoring:
        entry = entries[0]
        if entry.kind in (Kind.PERSON, Kind.AIMED, Kind.HOSTILE):
            for word in entry.pattern.split():
                folded = normalize(word.removeprefix("=").rstrip("*")).text
                words[folded + "*" if word.endswith("*") else folded] += 1
    return [word for word, _count in words.most_common()]


# --- the backend ----------------------------------------------------------------------------


@cache
def default_lexicon() -> Lexicon:
    """The packaged lists and the maintained dictionary, compiled once per process."""
    own = read_data()
    return Lexicon(own + maintained_entries(known=own_words(own)))


def own_words(entries: Iterable[Entry]) -> set[str]:
    """Every word our own patterns use, folded, stems as `stem*`: a dictionary entry that
    starts with one would shadow our longer rule ("fuck" before "fuck you"), be shadowed
    by our stem ("klere*" before "klerebeer"), or count twice."""
    return {
        plain(word.rstrip("*")) + ("*" if word.endswith("*") else "")
        for entry in entries
        for word in entry.pattern.split()
    }


def maintained_entries(known: set[str] | frozenset[str] = frozenset()) -> list[Entry]:
    """glin-profanity's usable words (moderation.wordlists) as `aimed` insults, but for
    those whose first word is `known` (own_words): our rule stands, counted once. Their
    letters match exactly (`=word`): stretched, a list's word is too often another
    language's ordinary one (French "bite" read as German "bitte", "neger" as Dutch
    "negeer")."""
    weights = {"insult": wordlists.AIMED_WEIGHT}
    stems = tuple(word[:-1] for word in known if word.endswith("*"))
    return [
        Entry(
            lang,
            f"{wordlists.SOURCE}: {word}",
            " ".join(f"={part}" for part in word.split()),
            Kind.PERSON if wordlists.addressed(lang, word) else Kind.AIMED,
            weights,
        )
        for lang, word in wordlists.maintained()
        if not _covered(plain(word.split()[0]), known, stems)
    ]


def _covered(word: str, known: set[str] | frozenset[str], stems: tuple[str, ...]) -> bool:
    return word in known or word.startswith(stems)


def plain(pattern: str) -> str:
    """What a pattern names: its words folded, without the exact-match marks."""
    return fold(" ".join(part.removeprefix("=") for part in pattern.split()))[0]


class LexiconClassifier:
    """The `Classifier` backed by the packaged word lists; see the module docstring."""

    name = "lexicon"

    def __init__(
        self,
        reason: str = "built-in word lists",
        lexicon: Lexicon | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        """The packaged lists are compiled on first use in the process (a few seconds),
        not here: a command that never scores (`intake-bot channels list`) never pays for
        them. Scoring compiles them in its worker thread; the console warms them up."""
        self.reason = reason
        self._given = lexicon
        self._window = window

    @property
    def _lexicon(self) -> Lexicon:
        return self._given or default_lexicon()

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        """The whole batch in one worker thread, so the event loop never waits on regexes."""
        return await asyncio.to_thread(self.score_sync, list(texts))

    def score_sync(self, texts: Sequence[str]) -> list[Scores]:
        """The same, on the calling thread: for benchmarks and the CLI."""
        return [self._score_one(text) for text in texts]

    def explain(self, text: str) -> list[Hit]:
        """The hits behind a score, for moderators tuning thresholds."""
        return self._lexicon.hits(self._lexicon.read(text, self._window)[0])

    def reasons(self, text: str) -> list[str]:
        """Why a text scored as it did, one line per rule that counted, for the console:
        a moderator who sees the rule can release a false hold knowing what to fix.
        Hits that counted for nothing (a group term alone, a hostile word far from any
        group) are left out."""
        return list(dict.fromkeys(h.reason() for h in self.explain(text) if h.effect != "inert"))

    def _score_one(self, text: str) -> Scores:
        folded, truncated = self._lexicon.read(text, self._window)
        hits = self._lexicon.hits(folded)
        if not hits:
            return Scores(dict.fromkeys(LABELS, 0.0), truncated)
        bridges = self._lexicon.bridges(folded, hits)
        return Scores(score_hits(folded, hits, bridges), truncated)
