"""The texts of the Telegram commands /start and /status, per language (the core's reply
texts never pass through here: they come with each OutboundReply).

They are the `telegram.*` msgids of the channels' gettext catalogs
(channels/locales/<language>/LC_MESSAGES/channels.po), English where a language lacks one.
"""

from __future__ import annotations

from bot.contract import catalogs

LANGUAGES: tuple[str, ...] = ("en", "it", "nl", "ru", "zh", "de", "fr", "es")


def _in_every_language(key: str) -> dict[str, str]:
    return {
        language: catalogs.translations("channels", "channels", language).gettext(f"telegram.{key}")
        for language in LANGUAGES
    }


GREETING = _in_every_language("greeting")
STATUS = _in_every_language("status")  # str.format: {ref}, {status}
NO_TICKET = _in_every_language("no_ticket")
