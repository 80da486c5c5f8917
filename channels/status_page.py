"""The status page: a ticket reference and the contact used -> status, history, next date.

A wrong pair gets one answer whichever half was wrong, so the page cannot be used to
learn which references exist. Wrong attempts are counted per client IP and hour;
past the limit every look-up from that IP is refused for the rest of the hour, right
pairs included, so guessing is slower than asking us.

The look-up is a POST (the contact never lands in a URL, a log or a Referer); GET
/status?ref=... only fills the reference in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.domain import TicketView
from bot.ports import TicketLookup
from channels import page_texts
from channels.page_render import HourlyLimit, Pages, page_language

log = logging.getLogger(__name__)

MAX_REF = 40
MAX_CONTACT = 320


class StatusPage:
    def __init__(self, lookup: TicketLookup, wrong_attempts: HourlyLimit, pages: Pages,
                 now: Callable[[], datetime], default_language: str,
                 status_label: Callable[[str, str], str]) -> None:
        self.lookup = lookup
        self.status_label = status_label  # the core's status names (bot.i18n.status_label)
        self.wrong_attempts = wrong_attempts
        self.pages = pages
        self.now = now
        self.default_language = default_language

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/status", self.show), web.post("/status", self.check)]

    async def show(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        values = {"ref": request.query.get("ref", "")[:MAX_REF], "contact": ""}
        return self.pages.render(request, "status.html", lang, values=values)

    async def check(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return self._refused(request, lang, 413, "too_large_title", "too_large_title")
        lang = page_language(request, self.default_language, _field(form, "lang", 16))
        ip = self.pages.client_ip(request)
        if await self.wrong_attempts.exhausted(ip, self.now()):
            return self._refused(request, lang, 429, "too_many_title", "too_many_status")
        values = {"ref": _field(form, "ref", MAX_REF), "contact": _field(form, "contact",
                                                                       MAX_CONTACT)}
        view = None
        if values["ref"] and values["contact"]:
            view = await self.lookup.by_reference(values["ref"], values["contact"])
            if view is None:
                await self.wrong_attempts.hit(ip, self.now())
        if view is None:
            return self.pages.render(request, "status.html", lang, status=404, values=values,
                                     no_match=True)
        return self.pages.render(request, "status.html", lang, values=values,
                                 view=self._shown(view, lang))

    def _refused(self, request: web.Request, lang: str, status: int, heading: str,
                 message: str) -> web.Response:
        texts = page_texts.texts(lang)
        return self.pages.problem(request, lang, status, texts[heading], texts[message])

    def _shown(self, view: TicketView, lang: str) -> dict[str, Any]:
        """What the template shows: translated statuses, dates in the company's time zone."""
        return {
            "ref": view.ref,
            "status": self.status_label(view.status.value, lang),
            "opened": self.pages.day(view.opened_at, lang),
            "next_due": self.pages.day(view.next_due, lang) if view.next_due else "",
            "history": [{"at": self.pages.moment(change.at, lang),
                         "status": self.status_label(change.status.value, lang),
                         "note": change.note} for change in view.history],
        }


def _field(form: Mapping[str, Any], name: str, limit: int) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""

