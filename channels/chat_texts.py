"""The chat's own words (questions, widget labels), in the customer's browser language.

Replies about tickets come from the core in the ticket's language; these texts are
the chat's intake flow and its interface: the `chat.*` msgids of the channels' gettext
catalogs (channels/locales/<language>/LC_MESSAGES/channels.po), English where a language
lacks one. Values are filled in by `say`, in one pass, so text a customer typed is never
read as a template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.contract import catalogs
from channels.chat_sessions import Entry

FALLBACK = catalogs.FALLBACK
LANGUAGES: tuple[str, ...] = ("en", "it", "nl", "ru", "zh", "de", "es", "fr")
_PREFIX = "chat."


def _catalog(language: str) -> catalogs.Catalog:
    return catalogs.translations("channels", "channels", language)


def _own(language: str) -> Mapping[str, str]:
    return MappingProxyType(
        {
            msgid.removeprefix(_PREFIX): text
            for msgid, text in _catalog(language).messages.items()
            if msgid.startswith(_PREFIX)
        }
    )


# The texts translated in each language the chat speaks (a test checks they are complete).
TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType({lang: _own(lang) for lang in LANGUAGES})

# What the widget shows: the dialog's own questions stay on the server.
WIDGET_KEYS: tuple[str, ...] = (
    "title",
    "open",
    "close",
    "input_label",
    "placeholder",
    "send",
    "sending",
    "sent",
    "delivered",
    "failed",
    "typing",
    "reconnecting",
    "unavailable",
    "too_long",
    "rate_limited",
    "store_unavailable",
    "you",
    "bot",
    "offline",
    "open_offline",
    "choices",
    "transcript",
    "attach",
    "attach_type",
    "attach_size",
    "attach_added",
    "privacy_link",
)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def pick(candidates: Iterable[str], default: str = FALLBACK) -> str:
    """The first of the browser's languages ('it-IT', 'zh-Hans-CN') that the chat speaks."""
    for tag in candidates:
        primary = str(tag).strip().replace("_", "-").split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return default if default in LANGUAGES else FALLBACK


def say(key: str, language: str, **values: str) -> str:
    """The text for `key`, with our values put in; the customer's text is never a template."""
    template = _catalog(language if language in LANGUAGES else FALLBACK).gettext(_PREFIX + key)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def words(key: str, language: str) -> frozenset[str]:
    """A word list (skip, product, service) in the language, plus the English one."""
    listed = say(key, language).split("|") + say(key, FALLBACK).split("|")
    return frozenset(w.strip().casefold() for w in listed if w.strip())


def choice(key: str, language: str) -> str:
    """A button's label ("product", "service", "skip"): the first of the language's words
    for it, so the label sent back as text is understood as that answer."""
    first = say(f"{key}_words", language).split("|")[0].strip()
    return first[:1].upper() + first[1:]


def transcript(entries: Iterable[Entry], language: str) -> str:
    """The conversation as plain text for the emailed copy, oldest first."""
    you, bot = say("you", language), say("bot", language)
    lines = [say("transcript_intro", language), ""]
    for entry in entries:
        when = entry.at[:16].replace("T", " ")
        lines.append(f"[{when} UTC] {you if entry.sender == 'customer' else bot}: {entry.text}")
    return "\n".join(lines)


def widget_texts(language: str) -> dict[str, str]:
    return {key: say(key, language) for key in WIDGET_KEYS}


def channel_names(channels: Iterable[str], language: str) -> list[str]:
    return [say(f"ch_{name}", language) for name in sorted(channels)]


def status_text(ref: str, label: str, due: datetime | None, language: str, timezone: str) -> str:
    """A ticket's status in a sentence; `label` is the status already named in `language`
    (the core's words, injected as WebchatConfig.status_label); the due date is a business
    day in `timezone`."""
    if due is None:
        return say("status", language, ref=ref, status=label)
    day = due.astimezone(ZoneInfo(timezone)).date()
    return say(
        "status_due",
        language,
        ref=ref,
        status=label,
        date=format_date(day, format="long", locale=language),
    )
