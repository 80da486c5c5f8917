"""The words of the contact form and the status page, per language.

Customers write in Italian, Dutch, Russian, Chinese and English; the page speaks
the language they ask for (?lang=) or their browser prefers (Accept-Language).
The words are the `page.*` msgids of the channels' gettext catalogs
(channels/locales/<language>/LC_MESSAGES/channels.po). A key missing in one language
falls back to English rather than failing a page. {placeholders} are filled in one pass
(page_render.translated), so a value such as a customer's filename is never read as a
template itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from bot.contract import catalogs

LANGUAGES: tuple[str, ...] = ("en", "it", "nl", "ru", "zh", "de", "es", "fr")
FALLBACK = catalogs.FALLBACK
_PREFIX = "page."

NATIVE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "en": "English",
        "it": "Italiano",
        "nl": "Nederlands",
        "ru": "Русский",
        "zh": "中文",
        "de": "Deutsch",
        "es": "Español",
        "fr": "Français",
    }
)


def texts(language: str) -> Mapping[str, str]:
    """Every key in `language`, English where a translation is missing."""
    return _table(language if language in LANGUAGES else FALLBACK)


def own_keys(language: str) -> frozenset[str]:
    """The keys translated for `language` itself (a test checks they cover the pages)."""
    if language not in LANGUAGES:
        raise KeyError(language)
    return frozenset(_own(language))


@functools.cache
def _table(language: str) -> Mapping[str, str]:
    catalog = _catalog(language)
    return MappingProxyType({key: catalog.gettext(_PREFIX + key) for key in _own(FALLBACK)})


def _own(language: str) -> list[str]:
    return [
        msgid.removeprefix(_PREFIX)
        for msgid in _catalog(language).messages
        if msgid.startswith(_PREFIX)
    ]


def _catalog(language: str) -> catalogs.Catalog:
    return catalogs.translations("channels", "channels", language)


def _primary(tag: str) -> str:
    return tag.strip().replace("_", "-").split("-")[0].lower()


def _preferences(header: str) -> list[str]:
    """Accept-Language tags by the weight the browser gave them (RFC 9110 12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:1000].split(",")[:50]):
        tag, _, params = item.partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag.strip() and weight > 0:
            weighted.append((-weight, index, _primary(tag)))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(chosen: str | None, accept_language: str | None, default: str) -> str:
    """The page's language: the one chosen on the page, else the browser's best match."""
    if chosen and _primary(chosen) in LANGUAGES:
        return _primary(chosen)
    for tag in _preferences(accept_language or ""):
        if tag in LANGUAGES:
            return tag
    return default if default in LANGUAGES else FALLBACK
