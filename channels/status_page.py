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

The ticket shown by a link comes with a grant (TicketLookup.show): for an hour the viewer
may add a message and files (POST /status/add), which enter the stream like any message,
as from the ticket's own first address. The page carries the grant signed with the form
secret, so a post without a grant this site handed out writes no file; the files pass the
form's checks (channels.form_uploads: size, magic bytes, stored privately).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.contract.clock import Now
from bot.contract.domain import TicketView
from bot.contract.limits import Limiter
from bot.contract.ports import ShownTicket, StatusLabel, TicketLookup, ViewerNote
from channels import page_texts
from channels.form_uploads import (
    CONTROL,
    MIB,
    BadToken,
    FileTexts,
    Posted,
    PostReader,
    TooLarge,
    UploadRules,
)
from channels.page_render import Pages, page_language, translated

log = logging.getLogger(__name__)

MAX_REF = 40
MAX_CONTACT = 320
MAX_TOKEN = 64
MAX_MESSAGE = 4000
ADD_FIELDS: Mapping[str, int] = {"csrf": 200, "lang": 16, "nonce": 64, "message": MAX_MESSAGE}
_SIGNED_GRANT = re.compile(r"(?P<grant>[A-Za-z0-9_-]{16,64})\.(?P<sig>[0-9a-f]{64})")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Adding:
    """What adding to a shown ticket needs: the form secret (signs the grant on the page),
    the form's upload rules, and a limit per grant."""

    secret: str
    uploads: UploadRules
    limit: Limiter

    def sign(self, grant: str) -> str:
        return f"{grant}.{self._mac(grant)}"

    def unsigned(self, signed: str) -> str | None:
        """The grant in a post, if this site signed it; None for a missing or forged one."""
        match = _SIGNED_GRANT.fullmatch(signed.strip())
        if match is None or not hmac.compare_digest(self._mac(match["grant"]), match["sig"]):
            return None
        return match["grant"]

    def _mac(self, grant: str) -> str:
        return hmac.new(
            self.secret.encode(), f"status-grant.{grant}".encode(), hashlib.sha256
        ).hexdigest()


class StatusPage:
    def __init__(
        self,
        lookup: TicketLookup,
        pages: Pages,
        now: Now,
        default_language: str,
        status_label: StatusLabel,
        adding: Adding | None = None,
    ) -> None:
        self.lookup = lookup
        self.adding = adding  # None: the page shows the ticket without the add form
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
            web.post("/status/add", self.add),
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
            return self._limited(request, lang, allowance.retry_after_s)
        return self._page(request, lang, {"ref": values["ref"], "contact": ""}, sent=True)

    def _limited(self, request: web.Request, lang: str, retry_after_s: int) -> web.Response:
        """When the limiter's window ends (a time with its zone), and another way to us."""
        texts = page_texts.texts(lang)
        again = self.pages.moment(self.now() + timedelta(seconds=retry_after_s), lang)
        minutes = max(1, -(-retry_after_s // 60))
        response = self.pages.problem(
            request,
            lang,
            429,
            texts["too_many_title"],
            translated(texts, "too_many_status", time=again),
            detail=translated(texts, "too_many_minutes", minutes=minutes),
            alternative=True,
        )
        response.headers["Retry-After"] = str(retry_after_s)
        return response

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
        shown = await self.lookup.show(_field(form, "token", MAX_TOKEN))
        if shown is None:
            return self._page(request, lang, {"ref": "", "contact": ""}, status=410, used=True)
        return self._viewed(request, lang, shown)

    def _viewed(
        self,
        request: web.Request,
        lang: str,
        shown: ShownTicket,
        *,
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        """The ticket, and the form that adds to it (a fresh post id each time)."""
        view = {
            **self._shown(shown.view, lang),
            "excerpt": shown.excerpt,
            "category": _category(shown.view.category, page_texts.texts(lang)),
        }
        add = None
        if self.adding is not None:
            add = {
                "grant": self.adding.sign(shown.grant),
                "nonce": secrets.token_urlsafe(16),
                "limits": {"message": MAX_MESSAGE, "files": self.adding.uploads.max_files},
                "accept": ",".join(sorted(self.adding.uploads.allowed_types)),
                "hint_files": self._files_hint(lang),
            }
        return self._page(
            request,
            lang,
            {"ref": shown.view.ref, "contact": ""},
            status=status,
            view=view,
            add=add,
            **context,
        )

    def _files_hint(self, lang: str) -> str:
        rules = self.adding.uploads if self.adding else None
        if rules is None:
            return ""
        return translated(
            page_texts.texts(lang),
            "attachments_hint",
            max_files=rules.max_files,
            max_mb=rules.max_file_bytes // MIB,
        )

    # POST /status/add ----------------------------------------------------------------

    async def add(self, request: web.Request) -> web.Response:
        """A shown ticket's viewer adds a message and files; refused without this site's
        grant (403, nothing written) or once the grant expired (410, nothing stored)."""
        lang = page_language(request, self.default_language)
        adding = self.adding
        if adding is None:
            return self._refused(request, lang, 404, "not_found_title", "not_found_text")
        if (request.content_length or 0) > adding.uploads.max_post_bytes:
            return self._too_large(request, lang)
        reader = PostReader(
            adding.uploads,
            self._file_texts(lang),
            lambda signed: adding.unsigned(signed) is not None,
        )
        try:
            posted = await self._read_add(request, reader)
        except TooLarge:
            await reader.posted.discard_files()
            return self._too_large(request, lang)
        except BadToken:
            await reader.posted.discard_files()
            return self._refused(request, lang, 403, "forbidden_title", "forbidden_text")
        lang = page_language(request, self.default_language, posted.fields.get("lang"))
        try:
            return await self._decide_add(request, lang, adding, posted)
        finally:
            await posted.discard_files()  # kept only when the message was stored (cleared)

    async def _read_add(self, request: web.Request, reader: PostReader) -> Posted:
        if request.content_type == "multipart/form-data":
            return await reader.read(request)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise TooLarge from None
        posted = reader.posted
        for name, value in form.items():
            if isinstance(value, str) and name in ADD_FIELDS:
                posted.fields[name] = value
                if len(value) > ADD_FIELDS[name]:
                    posted.too_long.add(name)
        return posted

    async def _decide_add(
        self, request: web.Request, lang: str, adding: Adding, posted: Posted
    ) -> web.Response:
        grant = adding.unsigned(posted.fields.get("csrf", ""))
        nonce = posted.fields.get("nonce", "")
        if grant is None or not _NONCE.fullmatch(nonce) or not self._same_site(request):
            return self._refused(request, lang, 403, "forbidden_title", "forbidden_text")
        allowance = await adding.limit.hit(hashlib.sha256(grant.encode()).hexdigest(), self.now())
        if not allowance.allowed:
            return self._limited(request, lang, allowance.retry_after_s)
        text = CONTROL.sub("", posted.fields.get("message", "")).replace("\r\n", "\n").strip()
        error = self._add_error(text, posted, lang)
        if error:
            shown = await self.lookup.reshow(grant)
            if shown is None:
                return self._expired(request, lang)
            return self._viewed(request, lang, shown, status=422, add_error=error, add_text=text)
        note = ViewerNote(nonce, text, [f.attachment for f in posted.files], lang)
        shown = await self.lookup.add_to_ticket(grant, note)
        if shown is None:
            return self._expired(request, lang)
        if not shown.duplicate:
            posted.files.clear()  # the stored message refers to them now
        texts = page_texts.texts(lang)
        return self._viewed(
            request, lang, shown, added=translated(texts, "add_done", ref=shown.view.ref)
        )

    def _add_error(self, text: str, posted: Posted, lang: str) -> str:
        texts = page_texts.texts(lang)
        if posted.file_errors:
            return " ".join(posted.file_errors)
        if "message" in posted.too_long or len(text) > MAX_MESSAGE:
            return translated(texts, "err_too_long", max=MAX_MESSAGE)
        if not text and not posted.files:
            return texts["add_empty"]
        return ""

    def _same_site(self, request: web.Request) -> bool:
        """A browser's post from another site is refused (the grant is a secret anyway)."""
        origin = request.headers.get("Origin", "")
        return not origin or origin == "null" or origin.split("://", 1)[-1] == request.host

    def _expired(self, request: web.Request, lang: str) -> web.Response:
        return self._page(request, lang, {"ref": "", "contact": ""}, status=410, used=True)

    def _too_large(self, request: web.Request, lang: str) -> web.Response:
        texts = page_texts.texts(lang)
        limit = self.adding.uploads.max_post_bytes // MIB if self.adding else 0
        message = translated(texts, "too_large_text", max_mb=limit)
        return self.pages.problem(request, lang, 413, texts["too_large_title"], message)

    def _file_texts(self, lang: str) -> FileTexts:
        texts = page_texts.texts(lang)
        rules = self.adding.uploads if self.adding else None
        max_mb = rules.max_file_bytes // MIB if rules else 0
        max_files = rules.max_files if rules else 0
        return FileTexts(
            wrong_type=lambda name: translated(texts, "err_file_type", name=name),
            too_big=lambda name: translated(texts, "err_file_size", name=name, max_mb=max_mb),
            too_many=lambda: translated(texts, "err_file_count", max_files=max_files),
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


def _category(category: str, texts: Mapping[str, str]) -> str:
    return texts[f"type_{category}"] if category in ("product", "service") else ""


def _field(form: Mapping[str, Any], name: str, limit: int) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""
