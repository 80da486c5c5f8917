"""Which of our reply languages a customer's message is written in.

The detector knows only the languages we can answer in: a wider set would be
slower and its answer useless to us. Tiny or ambiguous texts ("ok", "123")
give None, so the caller keeps the language it already knew.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from itertools import islice

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from bot.text.i18n import SUPPORTED

# Below this many letters a guess is noise, whatever the detector's confidence.
MIN_LETTERS = 3
# How far the best language must lead the runner-up (lingua's 0..1 scale).
MIN_RELATIVE_DISTANCE = 0.2
# From this many characters on, the faster low accuracy mode answers as well.
LONG_TEXT = 120

# URLs, email addresses and digits are the same in every language and would
# only dilute the evidence.
_NOISE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+|\d+", re.IGNORECASE)


def detect(text: str) -> str | None:
    [found] = detect_many([text])
    return found


def detect_many(texts: Sequence[str]) -> list[str | None]:
    """A whole batch in one call: lingua spreads it over the cores outside the GIL."""
    cleaned = [_NOISE.sub(" ", text) for text in texts]
    telling = [
        i
        for i, text in enumerate(cleaned)  # counting stops at MIN_LETTERS
        if len(list(islice(filter(str.isalpha, text), MIN_LETTERS))) == MIN_LETTERS
    ]
    found: list[str | None] = [None] * len(texts)
    for accurate in (True, False):
        chosen = [i for i in telling if (len(cleaned[i]) < LONG_TEXT) == accurate]
        if not chosen:
            continue
        detector = _detector(accurate=accurate)
        if len(chosen) == 1:  # not worth the threads
            detected = [detector.detect_language_of(cleaned[chosen[0]])]
        else:
            detected = detector.detect_languages_in_parallel_of([cleaned[i] for i in chosen])
        for i, language in zip(chosen, detected, strict=True):
            found[i] = None if language is None else language.iso_code_639_1.name.lower()
    return found


def preload() -> None:
    """Load the language models now (about a second), so a worker pays at
    startup rather than on its first message."""
    _detector()
    _detector(accurate=False)


@functools.cache
def _detector(*, accurate: bool = True) -> LanguageDetector:
    # High accuracy mode for short texts: chat messages are short, and on short sentences
    # low accuracy mode answers wrongly ("where is my order" -> German), which means a
    # reply the customer cannot read. From LONG_TEXT characters on both agree (lingua's
    # own advice, and so they do on bench/corpus.py), and low accuracy mode takes 40 us a
    # text instead of 90. The two share the loaded models.
    languages = [Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in SUPPORTED]
    builder = (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_minimum_relative_distance(MIN_RELATIVE_DISTANCE)
        .with_preloaded_language_models()
    )
    return (builder if accurate else builder.with_low_accuracy_mode()).build()
