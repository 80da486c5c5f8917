"""The status page: a reference and an email address -> a one-time link mailed there.

A reference and a contact typed into a page prove nothing (references are
sequential, anyone can type an address), so the page never shows a ticket for
them. It asks the core (TicketLookup.request_link) to count the look-up and mail a
link to the address when it is the ticket's own; the page then says the same
words whether or not anything matched. The link (GET /status/view?token=...)
shows a button, and the ticket is shown once by the POST it sends: a mail
scanner that fetches links spends nothing.

The look-up is a POST (the contact never lands in a URL, a log or a Referer); GET
/status?ref=... only fills the reference in.

A decision's appeal link (GET /appeal?token=...) works the same way: a button, and the
POST it sends files the appeal once (TicketLookup.appeal).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.contract.clock import Now
from bot.contract.domain import TicketView
from bot.contract.ports import StatusLabel, TicketLookup
from channels import page_texts
from channels.page_render import Pages, page_language, translated

log = logging.getLogger(__name__)

MAX_REF = 40
MAX_CONTACT = 320
MAX_TOKEN = 64


class StatusPage:
    def __init__(
        self,
        lookup: TicketLookup,
        pages: Pages,
        now: Now,
        default_language: str,
        status_label: StatusLabel,
    ) -> None:
        self.lookup = lookup
        self.status_label = status_label  # the core's status names (bot.text.i18n.status_label)
        self.pages = pages
        self.now = now
        self.default_language = default_language

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/status", self.show),
            web.post("/status", self.check),
            web.get("/status/view", self.confirm),
            web.post("/status/view", self.view),
            web.get("/verify", self.confirm_proof),
            web.post("/verify", self.prove),
            web.get("/appeal", self.confirm_appeal),
            web.post("/appeal", self.appeal),
        ]

    async def show(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        values = {"ref": request.query.get("ref", "")[:MAX_REF], "contact": ""}
        return self._page(request, lang, values)

    def _page(
        self,
        request: web.Request,
        lang: str,
        values: Mapping[str, str],
        *,
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        return self.pages.render(
            request,
            "status.html",
            lang,
            status=status,
            values=values,
            can_mail=self.lookup.can_mail,
            **context,
        )

    async def check(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return self._refused(request, lang, 413, "too_large_title", "too_large_title")
        lang = page_language(request, self.default_language, _field(form, "lang", 16))
        values = {
            "ref": _field(form, "ref", MAX_REF),
            "contact": _field(form, "contact", MAX_CONTACT),
        }
        if not (values["ref"] and values["contact"]):
            return self._page(request, lang, values, status=422, missing=True)
        allowance = await self.lookup.request_link(
            values["ref"], values["contact"], self.pages.client_ip(request)
        )
        if not allowance.allowed:
            again = self.pages.moment(self.now() + timedelta(seconds=allowance.retry_after_s), lang)
            texts = page_texts.texts(lang)
            response = self.pages.problem(
                request,
                lang,
                429,
                texts["too_many_title"],
                translated(texts, "too_many_status", time=again),
            )
            response.headers["Retry-After"] = str(allowance.retry_after_s)
            return response
        return self._page(request, lang, {"ref": values["ref"], "contact": ""}, sent=True)

    async def confirm(self, request: web.Request) -> web.Response:
        """The mailed link: a button, so that only a person's click spends it."""
        return self._link_page(request, "/status/view", "link_open_title", "link_open")

    async def confirm_proof(self, request: web.Request) -> web.Response:
        """The link mailed to an address typed into the chat or the form (bot.tickets.claims)."""
        return self._link_page(request, "/verify", "verify_title", "verify_open")

    async def confirm_appeal(self, request: web.Request) -> web.Response:
        """The link sent with a decision (resolved, rejected): the appeal is one click away."""
        return self._link_page(request, "/appeal", "appeal_title", "appeal_open")

    def _link_page(
        self, request: web.Request, action: str, title: str, button: str
    ) -> web.Response:
        lang = page_language(request, self.default_language)
        texts = page_texts.texts(lang)
        return self.pages.render(
            request,
            "link_open.html",
            lang,
            action=action,
            title=texts[title],
            button=texts[button],
            token=request.query.get("token", "")[:MAX_TOKEN],
        )

    async def prove(self, request: web.Request) -> web.Response:
        form = await request.post()
        proven = await self.lookup.prove(_field(form, "token", MAX_TOKEN))
        return self._link_done(request, form, proven, "verify")

    async def appeal(self, request: web.Request) -> web.Response:
        form = await request.post()
        filed = await self.lookup.appeal(_field(form, "token", MAX_TOKEN))
        return self._link_done(request, form, filed, "appeal")

    def _link_done(
        self, request: web.Request, form: Mapping[str, Any], done: bool, kind: str
    ) -> web.Response:
        lang = page_language(request, self.default_language, _field(form, "lang", 16))
        texts = page_texts.texts(lang)
        return self.pages.render(
            request,
            "link_open.html",
            lang,
            status=200 if done else 410,
            title=texts[f"{kind}_title"],
            message=texts[f"{kind}_done" if done else f"{kind}_used"],
        )

    async def view(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        form = await request.post()
        lang = page_language(request, self.default_language, _field(form, "lang", 16))
        shown = await self.lookup.redeem(_field(form, "token", MAX_TOKEN))
        if shown is None:
            return self._page(request, lang, {"ref": "", "contact": ""}, status=410, used=True)
        return self._page(
            request, lang, {"ref": shown.ref, "contact": ""}, view=self._shown(shown, lang)
        )

    def _refused(
        self, request: web.Request, lang: str, status: int, heading: str, message: str
    ) -> web.Response:
        texts = page_texts.texts(lang)
        return self.pages.problem(request, lang, status, texts[heading], texts[message])

    def _shown(self, view: TicketView, lang: str) -> dict[str, Any]:
        """What the template shows: translated statuses, dates in the company's time zone."""
        return {
            "ref": view.ref,
            "status": self.status_label(view.status.value, lang),
            "opened": self.pages.day(view.opened_at, lang),
            "next_due": self.pages.day(view.next_due, lang) if view.next_due else "",
            "history": [
                {
                    "at": self.pages.moment(change.at, lang),
                    "status": self.status_label(change.status.value, lang),
                    "note": change.note,
                }
                for change in view.history
            ],
        }


def _field(form: Mapping[str, Any], name: str, limit: int) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""
