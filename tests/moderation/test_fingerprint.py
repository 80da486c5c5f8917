"""The SimHash that lets the throttle see a repeat without keeping the text."""

from __future__ import annotations

import hashlib

import pytest

from moderation.fingerprint import simhash, words

NEAR = 6  # the throttle's default near_duplicate_bits


def _textbook(text: str) -> int | None:
    """SimHash spelled out bit by bit: what the lane arithmetic must equal."""
    trigrams = [f" {w} "[i : i + 3] for w in words(text) for i in range(len(w))]
    if len(trigrams) < 3:
        return None
    digests = [
        int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big") for t in trigrams
    ]
    result = 0
    for bit in range(64):
        if 2 * sum(d >> bit & 1 for d in digests) > len(digests):
            result |= 1 << bit
    return result


def _apart(a: str, b: str) -> int:
    x, y = simhash(a), simhash(b)
    assert x is not None
    assert y is not None
    return (x ^ y).bit_count()


@pytest.mark.parametrize(
    "text",
    [
        "Where is my refund??",
        "abc",
        "Il pacco non è mai arrivato, voglio un rimborso entro venerdì",
        "Заказ 4411 так и не пришёл, верните деньги",
        "注文した商品が届きません。返金してください。",
        "refund " * 400,
        "x" * 20_000,  # one word longer than the 8 K characters read
        "a b c d e f g h i j k l m n o p",  # one-letter words: one trigram each
    ],
)
def test_lane_arithmetic_equals_the_bit_by_bit_majority(text: str) -> None:
    assert simhash(text) == _textbook(text)


def test_case_punctuation_width_accents_and_emoji_do_not_make_a_new_message() -> None:
    assert _apart("Where is my refund??", "where is my refund!!! 😡") == 0
    assert _apart("Il pacco non è mai arrivato", "il pacco non e mai arrivato") == 0
    assert _apart("ORDER \uff14\uff14\uff11\uff11 LOST", "order 4411 lost") == 0  # fullwidth digits


def test_a_typo_stays_near_and_another_complaint_is_far() -> None:
    complaint = "My parcel 4411 never arrived and nobody answers the phone"
    assert _apart(complaint, "My parcel 4411 never arived and nobody answers the phone") <= NEAR
    assert _apart(complaint, "I want to cancel my subscription before the next bill") > NEAR


def test_too_little_text_has_no_fingerprint() -> None:
    assert simhash("?!") is None
    assert simhash("ok") is None
    assert simhash("😡😡😡") is None
    assert simhash("") is None


def test_hostile_text_gets_a_fingerprint_without_trouble() -> None:
    for text in ("\ufffd" * 50 + " refund", "a\u0301" * 5_000, "ﷺ" * 3_000, "İstanbul " * 50):
        assert isinstance(simhash(text), int)
        assert simhash(text) == _textbook(text)
