"""The maintained dictionary (glin-profanity) inside the lexicon: its words hold a person
insulted with them, never a civil text, and our exclusions stay true to the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.corpus import COMPLAINTS
from bot.rules.policy import Thresholds
from moderation import wordlists
from moderation.lexicon import (
    LexiconClassifier,
    default_lexicon,
    maintained_entries,
    own_words,
    plain,
    read_data,
)
from tests.moderation import test_lexicon_dev, test_lexicon_masking

THRESHOLDS = Thresholds()
# A sentence per language in which the word names the person written to.
FRAMES = {
    "en": "you are a {}",
    "it": "sei un {}",
    "de": "du bist ein {}",
    "fr": "tu es un {}",
    "es": "eres un {}",
    "nl": "jij bent een {}",
    "ru": "ты {}",
    "zh": "你是{}",
}
CUSTOMER_TEXTS = Path(__file__).resolve().parents[1] / "data" / "customer_texts.json"


@pytest.fixture(scope="module")
def classifier() -> LexiconClassifier:
    return LexiconClassifier()


def from_dictionary(classifier: LexiconClassifier, text: str) -> list[str]:
    return [line for line in classifier.reasons(text) if wordlists.SOURCE in line]


def civil_texts() -> list[str]:
    """Civil text we already have: the bot's own replies and pages in every language,
    the bench's complaints, and the civil examples of the lexicon's tests."""
    texts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, str):
            texts.append(node)

    walk(json.loads(CUSTOMER_TEXTS.read_text(encoding="utf-8")))
    texts += [text for group in COMPLAINTS.values() for text in group]
    texts += [text for group in test_lexicon_dev.CIVIL.values() for text in group]
    texts += list(test_lexicon_masking.CIVIL)
    return texts


@pytest.mark.parametrize("lang", sorted(FRAMES))
def test_every_taken_word_insulting_a_person_is_held(
    classifier: LexiconClassifier, lang: str
) -> None:
    """The words our own files do not list (those keep our rules: test_lexicon*)."""
    known = own_words(read_data())
    added = [plain(entry.pattern) for entry in maintained_entries(known) if entry.lang == lang]
    assert len(added) >= 20
    missed = []
    for word in added:
        text = FRAMES[lang].format(word)
        if not THRESHOLDS.fired(classifier.score_sync([text])[0]):
            missed.append(text)
    assert not missed, missed


def test_a_dictionary_word_said_of_a_thing_is_not_held(classifier: LexiconClassifier) -> None:
    text = "the update is a shitshow and the display is shitty"
    assert from_dictionary(classifier, text), "the words are the dictionary's"
    assert not THRESHOLDS.fired(classifier.score_sync([text])[0])


def test_no_civil_text_fires_a_dictionary_word(classifier: LexiconClassifier) -> None:
    texts = civil_texts()
    assert len(texts) > 500
    fired = {
        text: from_dictionary(classifier, text)
        for text, scores in zip(texts, classifier.score_sync(texts), strict=True)
        if THRESHOLDS.fired(scores)
    }
    assert not {text: why for text, why in fired.items() if why}, fired


def test_no_civil_text_we_have_is_held_at_all(classifier: LexiconClassifier) -> None:
    """The whole lexicon, not only the dictionary: a rule of one language must not hold
    another's ordinary words (Dutch "beesten" read as German "am besten" did)."""
    texts = civil_texts()
    held = [
        (text, classifier.reasons(text))
        for text, scores in zip(texts, classifier.score_sync(texts), strict=True)
        if THRESHOLDS.fired(scores)
    ]
    assert held == []


def test_excluded_and_short_entries_stay_out() -> None:
    taken = {word for _, word in wordlists.maintained()}
    assert "cappella" in wordlists.words("it")
    assert "cappella" not in taken  # a chapel, a glans: not ours to judge
    assert "con" in wordlists.words("fr")
    assert "con" not in taken  # too short: it is Spanish "with"
    assert "刚度" in wordlists.words("zh")
    assert "刚度" not in taken  # stiffness


def test_every_exclusion_names_a_dictionary_entry() -> None:
    """An exclusion the package no longer ships is stale: the list must follow it."""
    shipped = {
        " ".join(word.lower().split())
        for lang in wordlists.DICTIONARIES
        for word in wordlists.words(lang)
    }
    assert wordlists.excluded() - shipped == set()


def test_our_own_rule_wins_over_the_dictionary() -> None:
    """A word in both counts once, with our weights (no double noisy-or)."""
    sources = {hit.entry.source for hit in default_lexicon().hits("sei un leccaculo")}
    assert sources == {"leccaculo"}
