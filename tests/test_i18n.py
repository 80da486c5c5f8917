from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.contract.domain import TicketStatus
from bot.text import i18n
from bot.text.i18n import (
    DETAILS,
    STATUSES,
    SUPPORTED,
    acknowledgment,
    catalog,
    detail_label,
    detail_question,
    detail_received,
    format_due,
    pick_language,
    status_changed,
    status_label,
)

REF = "C-2026-000123"
ACK_DUE = datetime(2026, 12, 30, 22, 59, 59, tzinfo=UTC)
PROGRESS_DUE = datetime(2027, 1, 21, 22, 59, 59, tzinfo=UTC)
RESOLVE_DUE = datetime(2027, 2, 3, 22, 59, 59, tzinfo=UTC)
PLACEHOLDER = re.compile(r"\{\w+\}")
# Babel ends a Russian long date with a narrow no-break space and the
# abbreviation for "year" (Cyrillic g and a period).
RU_YEAR = "\u202f\u0433."


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("it-IT", "it"),
        ("IT", "it"),
        ("zh-Hans", "zh"),
        ("zh_Hant_TW", "zh"),
        (" nl-BE ", "nl"),
        ("ru", "ru"),
        ("pt-BR", "en"),
        ("", "en"),
        (None, "en"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("pt-BR,de;q=0.8", "de"),
    ],
)
def test_pick_language_normalizes_tags(candidate: str | None, expected: str) -> None:
    assert pick_language(candidate) == expected


def test_pick_language_uses_the_given_default() -> None:
    assert pick_language("pt", default="it") == "it"


def test_pick_language_rejects_unsupported_default() -> None:
    with pytest.raises(ValueError, match="not supported"):
        pick_language("it", default="pt")


def test_known_statuses_are_the_ticket_statuses() -> None:
    assert set(STATUSES) == {status.value for status in TicketStatus}


@pytest.mark.parametrize("language", SUPPORTED)
def test_every_language_has_every_text_with_the_same_placeholders(language: str) -> None:
    english, other = catalog("en"), catalog(language)
    assert other.keys() == english.keys()
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(text)), key
        assert other[key].strip(), key


@pytest.mark.parametrize("language", SUPPORTED)
def test_every_status_and_detail_is_translated(language: str) -> None:
    for status in STATUSES:
        assert status_label(status, language)
    for detail in DETAILS:
        assert detail_label(detail, language)
        assert detail_question(detail, language)
    if language != "en":
        assert status_label("investigating", language) != status_label("investigating", "en")


def test_unknown_status_or_detail_is_a_bug() -> None:
    with pytest.raises(KeyError):
        status_label("lost", "it")
    with pytest.raises(KeyError):
        detail_question("shoe_size", "it")
    with pytest.raises(KeyError):
        acknowledgment(REF, "en", ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail="shoe_size")


def test_unknown_language_falls_back_to_english() -> None:
    assert status_label("resolved", "pt") == status_label("resolved", "en")
    assert acknowledgment(
        REF, "xx", ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail=None
    ) == acknowledgment(REF, "en", ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail=None)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "December 30, 2026"),
        ("it", "30 dicembre 2026"),
        ("nl", "30 december 2026"),
        ("ru", f"30 декабря 2026{RU_YEAR}"),
        ("zh", "2026年12月30日"),
        ("de", "30. Dezember 2026"),
        ("fr", "30 décembre 2026"),
        ("es", "30 de diciembre de 2026"),
    ],
)
def test_format_due_is_a_long_localized_date(language: str, expected: str) -> None:
    assert format_due(ACK_DUE, language) == expected


def test_format_due_shows_the_day_in_the_given_zone() -> None:
    assert format_due(ACK_DUE, "en", tz="Asia/Shanghai") == "December 31, 2026"


def test_format_due_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_due(datetime(2026, 12, 30, 12, 0), "en")


@pytest.mark.parametrize("language", SUPPORTED)
def test_acknowledgment_has_ref_dates_and_ends_with_question(language: str) -> None:
    subject, text = acknowledgment(
        REF, language, ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail="serial_number"
    )
    assert f"[{REF}]" in subject
    assert REF in text
    assert format_due(ACK_DUE, language) in text
    assert format_due(RESOLVE_DUE, language) in text
    assert text.endswith(detail_question("serial_number", language))
    assert_clean(subject, text)


@pytest.mark.parametrize("language", SUPPORTED)
def test_acknowledgment_without_missing_detail_asks_nothing(language: str) -> None:
    _, text = acknowledgment(
        REF, language, ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail=None
    )
    assert all(detail_question(detail, language) not in text for detail in DETAILS)
    assert catalog(language)["ack.need_detail"] not in text


@pytest.mark.parametrize("language", SUPPORTED)
def test_detail_received_lists_labels_and_asks_next(language: str) -> None:
    subject, text = detail_received(
        REF,
        language,
        received=["order_number", "product_model"],
        next_detail="contact",
        resolve_due=RESOLVE_DUE,
    )
    assert f"[{REF}]" in subject
    assert REF in text
    assert detail_label("order_number", language) in text
    assert detail_label("product_model", language) in text
    assert format_due(RESOLVE_DUE, language) in text
    assert text.endswith(detail_question("contact", language))
    assert_clean(subject, text)


@pytest.mark.parametrize("language", SUPPORTED)
def test_detail_received_when_complete_says_so(language: str) -> None:
    _, text = detail_received(REF, language, received=[], next_detail=None, resolve_due=RESOLVE_DUE)
    assert REF in text
    assert text.endswith(catalog(language)["details.complete"])
    assert_clean(text)


@pytest.mark.parametrize("language", SUPPORTED)
def test_status_changed_has_label_note_and_next_date(language: str) -> None:
    subject, text = status_changed(
        REF, language, status="investigating", note="Spare part ordered.", next_due=PROGRESS_DUE
    )
    label = status_label("investigating", language)
    assert f"[{REF}]" in subject
    assert label in subject
    assert label in text
    assert REF in text
    assert "Spare part ordered." in text
    assert format_due(PROGRESS_DUE, language) in text
    assert_clean(subject, text)


@pytest.mark.parametrize("note", ["{ref}", "%s", "{x}", "{due}.", "{0}", "%(ref)s {note}"])
def test_note_is_inserted_literally(note: str) -> None:
    _, text = status_changed(
        REF, "en", status="escalated", note=f"See {note} here", next_due=PROGRESS_DUE
    )
    assert f"See {note} here" in text
    assert text.count(REF) == 1


@pytest.mark.parametrize("note", ["", "   \n"])
def test_empty_note_is_left_out(note: str) -> None:
    _, text = status_changed(REF, "it", status="resolved", note=note, next_due=None)
    assert text == catalog("it")["status_changed.status"].replace("{ref}", REF).replace(
        "{status}", status_label("resolved", "it")
    )


def test_english_acknowledgment_reads_naturally() -> None:
    subject, text = acknowledgment(
        REF, "en", ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail="order_number"
    )
    assert subject == f"[{REF}] We have received your complaint"
    assert "February 3, 2027" in text
    assert text.endswith(
        "Could you please send us your order number? You will find it in your order confirmation."
    )


def test_date_ending_in_a_period_does_not_double_it() -> None:
    _, text = detail_received(REF, "ru", received=[], next_detail=None, resolve_due=RESOLVE_DUE)
    assert f"не позднее 3 февраля 2027{RU_YEAR}\n" in text


def test_status_accepts_the_domain_enum() -> None:
    assert status_label(TicketStatus.ESCALATED, "de") == status_label("escalated", "de")


def test_catalog_of_unsupported_language_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        i18n.catalog("pt")


def assert_clean(*texts: str) -> None:
    """No placeholder left unfilled and no doubled period from a date."""
    for text in texts:
        assert not PLACEHOLDER.search(text), text
        assert ".." not in text, text


# --- the lifecycle's own replies: every language, every placeholder filled --------------------


@pytest.mark.parametrize("language", SUPPORTED)
def test_a_decision_tells_how_to_appeal_and_a_new_date_is_said(language: str) -> None:
    subject, text = status_changed(
        REF,
        language,
        status="rejected",
        note="Out of warranty.",
        next_due=None,
        appeal_until=RESOLVE_DUE,
    )
    assert "Out of warranty." in text
    assert format_due(RESOLVE_DUE, language) in text
    assert_clean(subject, text)
    _, moved = status_changed(
        REF,
        language,
        status="investigating",
        note="Late part.",
        next_due=PROGRESS_DUE,
        new_resolve_due=RESOLVE_DUE,
    )
    assert format_due(RESOLVE_DUE, language) in moved
    assert format_due(PROGRESS_DUE, language) in moved


@pytest.mark.parametrize("language", SUPPORTED)
def test_the_clocks_replies_name_status_and_dates(language: str) -> None:
    label = status_label("investigating", language)
    for subject, text in (
        i18n.progress_update(REF, language, status="investigating", next_due=PROGRESS_DUE),
        i18n.status_answer(REF, language, status="investigating", next_due=PROGRESS_DUE),
        i18n.answer_received(REF, language, status="investigating", next_due=PROGRESS_DUE),
    ):
        assert REF in subject
        assert REF in text
        assert label in text
        assert format_due(PROGRESS_DUE, language) in text
        assert_clean(subject, text)
    subject, text = i18n.appeal_reopened(REF, language, next_due=None)
    assert REF in subject
    assert REF in text
    assert_clean(subject, text)


@pytest.mark.parametrize("language", SUPPORTED)
@pytest.mark.parametrize("note", ["The supplier is late.", ""])
def test_a_missed_date_apologises_explains_and_gives_the_new_one(language: str, note: str) -> None:
    subject, text = i18n.target_missed(
        REF, language, missed_due=ACK_DUE, note=note, new_due=RESOLVE_DUE
    )
    assert format_due(ACK_DUE, language) in text
    assert format_due(RESOLVE_DUE, language) in text
    neutral = catalog(language)["missed.neutral"]
    assert (note in text and neutral not in text) if note else neutral in text
    assert_clean(subject, text)
