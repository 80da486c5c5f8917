"""Customer-facing reply texts, in the customer's language.

The wording lives in gettext catalogs, `bot/text/locales/<language>/LC_MESSAGES/core.po`
(compiled to `.mo`, see bot.contract.catalogs), so translators edit data, not code; the
msgids are dotted keys ('ack.subject'). Only our own values (reference, dates, labels, a
staff note) are put into a template, in one pass, so text written by a customer or a
staff member is never read as a template itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.lists import format_list

from bot.contract import catalogs

SUPPORTED: tuple[str, ...] = ("en", "it", "nl", "ru", "zh", "de", "fr", "es")
FALLBACK = catalogs.FALLBACK
DOMAIN = "core"
DEFAULT_TZ = "Europe/Rome"

STATUSES: tuple[str, ...] = (
    "new",
    "awaiting_details",
    "investigating",
    "waiting_customer",
    "escalated",
    "resolved",
    "rejected",
    "closed",
)
DETAILS: tuple[str, ...] = (
    "order_number",
    "product_model",
    "serial_number",
    "description",
    "desired_solution",
    "contact",
    "name",
)

# A placeholder and the period right after it: a Russian long date ends in the
# abbreviation for "year", whose own period already ends the sentence.
_PLACEHOLDER = re.compile(r"\{(\w+)\}(\.?)")
_PARAGRAPH = "\n\n"


def pick_language(candidate: str | None, default: str = FALLBACK) -> str:
    """Map whatever a channel tells us ('it-IT', 'IT', 'zh_Hans', an
    Accept-Language header) to a language we can answer in."""
    if default not in SUPPORTED:
        raise ValueError(f"default language {default!r} is not supported")
    for tag in (candidate or "").split(","):
        primary = tag.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if primary in SUPPORTED:
            return primary
    return default


def format_due(moment: datetime, language: str, tz: str = DEFAULT_TZ) -> str:
    """A due date is the end of a business day in `tz`: show that day, not UTC's."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be an aware datetime")
    return _format_day(moment.astimezone(ZoneInfo(tz)).date(), pick_language(language))


def status_label(status: str, language: str) -> str:
    return _text(language, f"status.{status}")


def detail_question(detail: str, language: str) -> str:
    return _text(language, f"detail_question.{detail}")


def detail_label(detail: str, language: str) -> str:
    return _text(language, f"detail_label.{detail}")


def acknowledgment(
    ref: str,
    language: str,
    *,
    ack_due: datetime,
    resolve_due: datetime,
    next_detail: str | None,
    tz: str = DEFAULT_TZ,
) -> tuple[str, str]:
    lang = pick_language(language)
    dates = _fill(
        _text(lang, "ack.dates"),
        ack_due=format_due(ack_due, lang, tz),
        resolve_due=format_due(resolve_due, lang, tz),
    )
    paragraphs = [_fill(_text(lang, "ack.registered"), ref=ref), dates]
    if next_detail is not None:
        paragraphs.append(_ask(lang, "ack.need_detail", next_detail))
    return _fill(_text(lang, "ack.subject"), ref=ref), _PARAGRAPH.join(paragraphs)


def detail_received(
    ref: str,
    language: str,
    *,
    received: list[str],
    next_detail: str | None,
    resolve_due: datetime,
    tz: str = DEFAULT_TZ,
) -> tuple[str, str]:
    lang = pick_language(language)
    paragraphs = [
        _received_line(ref, lang, received),
        _fill(_text(lang, "details.due"), resolve_due=format_due(resolve_due, lang, tz)),
        _text(lang, "details.complete")
        if next_detail is None
        else _ask(lang, "details.need_more", next_detail),
    ]
    return _fill(_text(lang, "details.subject"), ref=ref), _PARAGRAPH.join(paragraphs)


def status_changed(
    ref: str,
    language: str,
    *,
    status: str,
    note: str,
    next_due: datetime | None,
    new_resolve_due: datetime | None = None,
    appeal_until: datetime | None = None,
    appeal_link: str = "",
    rating_link: str = "",
    tz: str = DEFAULT_TZ,
) -> tuple[str, str]:
    """`new_resolve_due`: staff moved the resolve date; `appeal_until`: a decision the
    customer may appeal until then, by replying or by `appeal_link`; `rating_link`: the
    satisfaction question sent with a resolution (bot.tickets.ratings)."""
    lang = pick_language(language)
    label = status_label(status, lang)
    paragraphs = [_fill(_text(lang, "status_changed.status"), ref=ref, status=label)]
    paragraphs += _note(lang, note)
    if new_resolve_due is not None:
        due = format_due(new_resolve_due, lang, tz)
        paragraphs.append(_fill(_text(lang, "new_resolve_date.line"), due=due))
    paragraphs += _next_due(lang, next_due, tz)
    if appeal_until is not None:
        due = format_due(appeal_until, lang, tz)
        paragraphs.append(_fill(_text(lang, "appeal.hint"), due=due))
        if appeal_link:
            paragraphs.append(_fill(_text(lang, "appeal.link"), link=appeal_link))
    if rating_link:
        paragraphs.append(_fill(_text(lang, "rating.link"), link=rating_link))
    subject = _fill(_text(lang, "status_changed.subject"), ref=ref, status=label)
    return subject, _PARAGRAPH.join(paragraphs)


def progress_update(
    ref: str, language: str, *, status: str, next_due: datetime | None, tz: str = DEFAULT_TZ
) -> tuple[str, str]:
    """The word owed when the progress clock runs out without any other."""
    lang = pick_language(language)
    label = status_label(status, lang)
    paragraphs = [_fill(_text(lang, "progress.body"), ref=ref, status=label)]
    paragraphs += _next_due(lang, next_due, tz)
    return _fill(_text(lang, "progress.subject"), ref=ref), _PARAGRAPH.join(paragraphs)


def target_missed(
    ref: str,
    language: str,
    *,
    missed_due: datetime,
    note: str,
    new_due: datetime,
    tz: str = DEFAULT_TZ,
) -> tuple[str, str]:
    """The resolve date passed: an apology, why (staff's words, else a neutral text) and
    the new date."""
    lang = pick_language(language)
    paragraphs = [_fill(_text(lang, "missed.body"), ref=ref, due=format_due(missed_due, lang, tz))]
    paragraphs += _note(lang, note) or [_text(lang, "missed.neutral")]
    paragraphs.append(_fill(_text(lang, "missed.new_date"), due=format_due(new_due, lang, tz)))
    return _fill(_text(lang, "missed.subject"), ref=ref), _PARAGRAPH.join(paragraphs)


def status_answer(
    ref: str, language: str, *, status: str, next_due: datetime | None, tz: str = DEFAULT_TZ
) -> tuple[str, str]:
    """The answer to "what is the status of my complaint?"."""
    lang = pick_language(language)
    label = status_label(status, lang)
    paragraphs = [_fill(_text(lang, "status_answer.body"), ref=ref, status=label)]
    paragraphs += _next_due(lang, next_due, tz)
    subject = _fill(_text(lang, "status_answer.subject"), ref=ref, status=label)
    return subject, _PARAGRAPH.join(paragraphs)


def status_unverified(language: str) -> tuple[str, str]:
    """The one answer to a status question from a sender no complaint is known by: the same
    whether or not the complaint they mean exists, and naming none."""
    lang = pick_language(language)
    return _text(lang, "unverified.subject"), _text(lang, "unverified.body")


def answer_received(
    ref: str, language: str, *, status: str, next_due: datetime | None, tz: str = DEFAULT_TZ
) -> tuple[str, str]:
    """The receipt for an answer to our question (the ticket waited on the customer)."""
    lang = pick_language(language)
    label = status_label(status, lang)
    paragraphs = [_fill(_text(lang, "answer_received.body"), ref=ref, status=label)]
    paragraphs += _next_due(lang, next_due, tz)
    return _fill(_text(lang, "answer_received.subject"), ref=ref), _PARAGRAPH.join(paragraphs)


def appeal_reopened(
    ref: str, language: str, *, next_due: datetime | None, tz: str = DEFAULT_TZ
) -> tuple[str, str]:
    lang = pick_language(language)
    paragraphs = [_fill(_text(lang, "appeal.body"), ref=ref), *_next_due(lang, next_due, tz)]
    return _fill(_text(lang, "appeal.subject"), ref=ref), _PARAGRAPH.join(paragraphs)


def _note(lang: str, note: str) -> list[str]:
    return [_fill(_text(lang, "status_changed.note"), note=note.strip())] if note.strip() else []


def _next_due(lang: str, next_due: datetime | None, tz: str) -> list[str]:
    if next_due is None:
        return []
    return [_fill(_text(lang, "status_changed.next_due"), due=format_due(next_due, lang, tz))]


def view_link(ref: str, language: str, link: str) -> tuple[str, str]:
    """The mail that lets whoever reads the address on a ticket see that ticket."""
    lang = pick_language(language)
    return (
        _fill(_text(lang, "view_link.subject"), ref=ref),
        _fill(_text(lang, "view_link.body"), ref=ref, link=link),
    )


def claim_link(channel: str, language: str, link: str) -> tuple[str, str]:
    """The mail that lets whoever reads an address typed into a chat or form prove it."""
    lang = pick_language(language)
    name = _text(lang, f"claim_link.channel.{channel}")
    return (
        _text(lang, "claim_link.subject"),
        _fill(_text(lang, "claim_link.body"), channel=name, link=link),
    )


def _received_line(ref: str, lang: str, received: list[str]) -> str:
    if not received:
        return _fill(_text(lang, "details.added_nothing"), ref=ref)
    labels = format_list([detail_label(name, lang) for name in received], locale=lang)
    return _fill(_text(lang, "details.added"), ref=ref, details=labels)


def _ask(lang: str, lead_key: str, detail: str) -> str:
    """A question goes last, so the customer's reply is the answer to it."""
    return f"{_text(lang, lead_key)}\n{detail_question(detail, lang)}"


def _fill(template: str, **values: str) -> str:
    # One pass over the template only: a value containing "{ref}" or "%s" is
    # inserted as it is and never scanned again.
    def value_of(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        period = match.group(2)
        return value if period and value.endswith(".") else value + period

    return _PLACEHOLDER.sub(value_of, template)


def _text(language: str, key: str) -> str:
    """A KeyError for a key that no catalog has: a bug, never a text a customer reads."""
    return _translations(pick_language(language)).gettext(key)


def catalog(language: str) -> Mapping[str, str]:
    """The texts translated in one language itself, by dotted key ('status.new')."""
    if language not in SUPPORTED:
        raise KeyError(language)
    return _translations(language).messages


def _translations(language: str) -> catalogs.Catalog:
    return catalogs.translations(__package__ or "bot.text", DOMAIN, language)


@functools.lru_cache(maxsize=4096)
def _format_day(day: date, language: str) -> str:
    return format_date(day, format="long", locale=language)
