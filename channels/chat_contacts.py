"""Where else a customer reaches us when the chat is closed: links, not channel names.

The public addresses are settings (INTAKE_PUBLIC_EMAIL, _TELEGRAM, _FACEBOOK, _INSTAGRAM,
_WHATSAPP); the web form is always ours. Only channels that are both configured and
accepted are listed, each as a link a customer can follow (mailto:, t.me, m.me, ig.me,
wa.me, or the form's URL on the bot's own origin).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from channels import chat_texts

FORM_PATH = "/form"  # relative: the widget puts the bot's origin in front
_HANDLE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9.\-]{1,255}\.[A-Za-z]{2,24}")
_BASES = {
    "telegram": "https://t.me/",
    "facebook": "https://m.me/",
    "instagram": "https://ig.me/m/",
}
ORDER = ("webform", "email", "facebook", "instagram", "telegram", "whatsapp")


def href(channel: str, value: str) -> str:
    """A link for a public address: a URL as it is (https only), else built from a handle;
    "" for a value that makes no link."""
    value = value.strip()
    if channel == "webform":
        return FORM_PATH
    if value.startswith("https://") and not any(c.isspace() or c in "<>\"'" for c in value):
        return value
    if channel == "email":
        return "mailto:" + value if _EMAIL.fullmatch(value) else ""
    if channel == "whatsapp":
        digits = re.sub(r"\D", "", value)
        return f"https://wa.me/{digits}" if 6 <= len(digits) <= 15 else ""
    handle = value.removeprefix("@")
    if channel in _BASES and _HANDLE.fullmatch(handle):
        return _BASES[channel] + quote(handle)
    return ""


def shown(channel: str, value: str) -> str:
    """What the link reads: the address itself where one is known (the form: its name)."""
    return value.strip() if channel != "webform" else ""


def listed(
    accepted: Iterable[str], contacts: Mapping[str, str], language: str
) -> list[dict[str, str]]:
    """The configured and accepted channels, in a fixed order, each with its link."""
    allowed = set(accepted)
    found = []
    for channel in ORDER:
        value = "" if channel == "webform" else contacts.get(channel, "")
        link = href(channel, value) if channel == "webform" or value else ""
        if channel in allowed and link:
            found.append(
                {
                    "channel": channel,
                    "name": chat_texts.say(f"ch_{channel}", language),
                    "href": link,
                    "address": shown(channel, value),
                }
            )
    return found
