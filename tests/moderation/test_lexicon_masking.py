# ruff: noqa: RUF001 -- look-alike letters are what these properties generate
"""Properties of masking: any disguise of a listed insult is still caught, and civil text
with prices, codes and abbreviations stays civil.

Examples are generated, not listed, so the normalizer is tested on disguises nobody thought
to write down. Runs are derandomized (the same examples in CI every time) and kept to a
few hundred examples, so the file costs a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.rules.policy import Thresholds
from moderation.lexicon import LexiconClassifier

THRESHOLDS = Thresholds()
PROPERTY = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# (template, insults): each insult, written plainly into its template, is held.
INSULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": ("you are {}", ("idiots", "morons", "scammers", "assholes", "imbeciles", "bastards")),
    "it": ("siete dei {}", ("idioti", "coglioni", "ladri", "imbecilli", "deficienti")),
    "nl": ("jullie zijn {}", ("idioten", "oplichters", "klootzakken", "debielen")),
    "ru": ("вы {}", ("идиоты", "дебилы", "мошенники", "уроды")),
    "de": ("ihr seid {}", ("idioten", "vollidioten", "schweine", "wichser")),
    "fr": ("vous etes des {}", ("idiots", "connards", "escrocs", "abrutis")),
    "es": ("sois unos {}", ("idiotas", "imbeciles", "estafadores", "gilipollas")),
}
LATIN_WORDS = [
    (lang, word) for lang, (_, words) in INSULTS.items() if lang != "ru" for word in words
]
ALL_WORDS = [(lang, word) for lang, (_, words) in INSULTS.items() for word in words]

LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "$5", "t": "7"}
LATIN_TO_CYRILLIC = {"a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у"}
CYRILLIC_TO_LATIN = {"а": "a", "е": "e", "о": "o", "с": "c", "р": "p", "х": "x", "у": "y"}

CIVIL = [
    "the inverter stopped working after three days, please send a technician",
    "I paid $300 for the battery and it still doesn't charge",
    "my order number is A-1234 and the serial is HV2150047812",
    "the panel gives 3.5 kW at noon, e.g. yesterday it was 3.2",
    "invoice from Solar S.p.A., shipped from the U.S.A. on 2024-11-02",
    "write to john.doe@example.com or call +44 7700 900123",
    "Ho pagato 300€ e l'inverter SUN2000-5KTL non si accende",
    "Mijn bestelling #4411 is nog niet geleverd, graag een update",
    "Заказ № 77812, инвертор не включается, прошу вернуть деньги",
    "我的订单号是A-1234，逆变器不工作了",
    "Bestellung 2024/5531, der Wechselrichter zeigt Fehler E-13",
    "Commande n° 4521, l'onduleur affiche l'erreur 0x1F",
    "Pedido 9921, el inversor da error F-07 desde el lunes",
    "*urgent* the unit is dead, my order_id is 5531",
    "it's sooo slow, I waited 2 hrs on the phone",
    "the technician was very kind, thanks a lot!!!",
]
BENIGN_TOKENS = [
    "$300",
    "€1.200,50",
    "A-1234",
    "3.5",
    "e.g.",
    "i.e.",
    "S.p.A.",
    "U.S.A.",
    "GmbH",
    "SUN2000-5KTL-M1",
    "a1b2c3",
    "5kW",
    "230V",
    "10kWh",
    "#4411",
    "john.doe@example.com",
    "www.example.com",
    "2024-11-02",
    "14:30",
    "+44 7700 900123",
    "x2",
    "3rd",
    "100%",
    "*",
    "***",
    "order_id",
    "n°",
    "p.s.",
    "etc.",
    "Mr.",
    "1st",
    "4x4",
    "ok!!",
]


@cache
def classifier() -> LexiconClassifier:
    return LexiconClassifier()


def assert_held(text: str, expected: bool) -> None:
    scores = classifier().score_sync([text])[0]
    assert bool(THRESHOLDS.fired(scores)) is expected, (text, classifier().reasons(text))


def sentence(lang: str, word: str) -> str:
    return INSULTS[lang][0].format(word)


@st.composite
def inserted(draw: st.DrawFn, word: str, symbol: str) -> str:
    """One to three symbols pushed between letters: `id*iots`, `st_upid`."""
    cuts = draw(st.sets(st.integers(1, len(word) - 1), min_size=1, max_size=3))
    return "".join(symbol + char if index in cuts else char for index, char in enumerate(word))


@st.composite
def starred(draw: st.DrawFn, word: str) -> str:
    """One inner letter replaced by a star: `f*ck`, `idi*ts`."""
    index = draw(st.integers(1, len(word) - 2))
    return word[:index] + "*" + word[index + 1 :]


@st.composite
def spelled_out(draw: st.DrawFn, word: str) -> str:
    """Every letter apart: `s.c.a.m.m.e.r.s`, `s c a m m e r s`, `s_c_a_m`."""
    return draw(st.sampled_from([".", " ", "_", "-", " . "])).join(word)


@st.composite
def leet(draw: st.DrawFn, word: str) -> str:
    """Letters swapped for digits and symbols, as far as a word stays a word (no run of
    three digits, which reads as a code, and no `!` closing it, which reads as punctuation)."""
    out = list(word)
    for index, char in enumerate(word):
        if char in LEET and draw(st.booleans()):
            out[index] = draw(st.sampled_from(LEET[char]))
    text = "".join(out)
    if any(text[i : i + 3].isdigit() for i in range(len(text))) or text[-1] in "!":
        return word
    return text


@st.composite
def stretched(draw: st.DrawFn, word: str) -> str:
    """Letters repeated: `idiooooots`, `sccammers`."""
    index = draw(st.integers(0, len(word) - 1))
    times = draw(st.integers(2, 6))
    return word[:index] + word[index] * times + word[index + 1 :]


@st.composite
def homoglyphs(draw: st.DrawFn, word: str) -> str:
    """Look-alike letters of the other script: Cyrillic in Latin words, Latin in Russian."""
    table = (
        CYRILLIC_TO_LATIN if word[0] in "абвгдеёжзийклмнопрстуфхцчшщъыьэюя" else LATIN_TO_CYRILLIC
    )
    swappable = [i for i, char in enumerate(word) if char in table]
    if not swappable:
        return word
    chosen = draw(st.sets(st.sampled_from(swappable), min_size=1))
    return "".join(table[c] if i in chosen else c for i, c in enumerate(word))


MASKINGS: dict[str, Callable[[str], st.SearchStrategy[str]]] = {
    "star inserted": lambda w: inserted(w, "*"),
    "underscore inserted": lambda w: inserted(w, "_"),
    "star for a letter": starred,
    "spelled out": spelled_out,
    "stretched": stretched,
    "homoglyphs": homoglyphs,
}


@pytest.mark.parametrize("masking", sorted(MASKINGS))
def test_a_masked_insult_is_still_held(masking: str) -> None:
    disguise = MASKINGS[masking]

    @PROPERTY
    @given(
        st.sampled_from(ALL_WORDS).flatmap(lambda lw: st.tuples(st.just(lw[0]), disguise(lw[1])))
    )
    def check(case: tuple[str, str]) -> None:
        assert_held(sentence(*case), expected=True)

    check()


@PROPERTY
@given(st.sampled_from(LATIN_WORDS).flatmap(lambda lw: st.tuples(st.just(lw[0]), leet(lw[1]))))
def test_a_leetspeak_insult_is_still_held(case: tuple[str, str]) -> None:
    assert_held(sentence(*case), expected=True)


@PROPERTY
@given(
    st.sampled_from(CIVIL),
    st.lists(st.sampled_from(BENIGN_TOKENS), max_size=4),
    st.randoms(use_true_random=False),
)
def test_civil_text_with_numbers_codes_and_abbreviations_stays_civil(
    text: str, tokens: list[str], random: Random
) -> None:
    words = text.split()
    for token in tokens:
        words.insert(random.randrange(len(words) + 1), token)
    assert_held(" ".join(words), expected=False)


@PROPERTY
@given(st.sampled_from(CIVIL).flatmap(lambda text: st.tuples(st.just(text), stretched(text))))
def test_stretched_civil_text_stays_civil(case: tuple[str, str]) -> None:
    assert_held(case[1], expected=False)
